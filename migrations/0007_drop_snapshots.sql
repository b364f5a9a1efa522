-- Wallets and monthly volumes gained state (an order index, adjustments, lines finance rejected,
-- net sales per order) that snapshots taken before cannot hold. Snapshots are only a cache of the
-- events: dropping them makes every aggregate load from its events once and snapshot afresh.
DELETE FROM ledger_snapshots;
