-- Wallets' commission books gained an index of the lines each card paid (and the rule that paid
-- each line), so a carrier's failed conditions can void a card's lines (decision 0029). Snapshots
-- taken before cannot hold it; they are only a cache of the events: dropping them makes every
-- aggregate load from its events once and snapshot afresh.
DELETE FROM ledger_snapshots;
