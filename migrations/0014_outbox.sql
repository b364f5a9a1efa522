-- The outbox (issue 11, decision 0026): commands for other systems (the payment channel, later
-- the carriers), written in the same transaction as the event that decided them and sent
-- afterwards by a dispatcher, at least once.
--
-- A row is the state of a delivery, not a business fact: it is updated (attempts, answer). The
-- business outcome of a delivery is recorded as an event by the sender's use case.
CREATE TABLE outbox_commands (
    id bigserial PRIMARY KEY,
    command_id text NOT NULL UNIQUE,    -- the same on every attempt: receivers deduplicate by it
    kind text NOT NULL,                 -- which sender delivers it (payout.submit, ...)
    key text NOT NULL,                  -- what it is about: a newer command supersedes older ones
    payload text NOT NULL,              -- JSON text (jsonb cannot hold every character)
    position bigint,                    -- the log position of the deciding event
    status text NOT NULL DEFAULT 'PENDING'
        CHECK (status IN ('PENDING', 'DELIVERED', 'SUPERSEDED', 'GAVE_UP')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_until timestamptz,           -- a dispatcher is sending it until then
    last_error text,
    answer text,                        -- the receiver's answer, as JSON text
    superseded_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);

CREATE INDEX outbox_due ON outbox_commands (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX outbox_by_key ON outbox_commands (kind, key) WHERE status = 'PENDING';
CREATE INDEX outbox_by_kind ON outbox_commands (kind, status, id);
