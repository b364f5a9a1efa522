-- A wallet keeps its open commission lines in a typed book now: snapshots taken before hold them
-- in another shape. Snapshots are only a cache of the events: dropping them makes every
-- aggregate load from its events once and snapshot afresh.
DELETE FROM ledger_snapshots;
-- Completions and refunds carry their sale (decision 0013). The platform views need no memory
-- of orders any more, and team performance remembers an order from its completion on (not from
-- its placement): rows of orders placed but not yet completed go, their completion writes them.
-- Views may have been rebuilt into schemas of their own: act wherever the tables live.
DO $$
DECLARE
    found record;
BEGIN
    FOR found IN
        SELECT table_schema, table_name FROM information_schema.tables
        WHERE table_name IN ('platform_totals_orders', 'platform_month_orders')
    LOOP
        EXECUTE format('DROP TABLE %I.%I', found.table_schema, found.table_name);
    END LOOP;
    FOR found IN
        SELECT table_schema FROM information_schema.tables WHERE table_name = 'performance_orders'
    LOOP
        EXECUTE format(
            'DELETE FROM %I.performance_orders WHERE completed_position IS NULL',
            found.table_schema
        );
    END LOOP;
END
$$;
