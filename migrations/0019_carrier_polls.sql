-- Issue 14, carriers (decision 0031): the cards polled at carriers that do not push their
-- reports. A carrier's card list (from its portal's export) is loaded with
-- `fenrun carriers watch`; the worker's carrier_poll job asks the carrier for each card's state
-- and month-to-date usage and records them as reports. Delivery state, not business facts: the
-- reports themselves are recorded by the cards' use cases.
CREATE TABLE carrier_poll_cards (
    carrier text NOT NULL,
    iccid text NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    polled_at timestamptz,           -- the last poll that got an answer
    last_error text,                 -- the last poll that did not, and why
    PRIMARY KEY (carrier, iccid)
);
-- The least recently polled first: a poll cut short (the carrier slow) resumes where it stopped.
CREATE INDEX carrier_poll_cards_due ON carrier_poll_cards (carrier, polled_at NULLS FIRST, iccid);
