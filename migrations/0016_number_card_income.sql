-- Issue 13, the platform's books: a number card's settlement total is income, and counts in the
-- agent's (and its team's) figures as card income, beside sales. Columns of the team
-- performance view, which may have been rebuilt into a schema of its own: add them wherever
-- its history lives. Views that already processed settlement rows answer without them until
-- rebuilt (`fenrun projections rebuild platform_totals|platform_months|team_performance`).
DO $$
DECLARE
    live text;
BEGIN
    FOR live IN
        SELECT table_schema FROM information_schema.tables WHERE table_name = 'performance_history'
    LOOP
        EXECUTE format(
            'ALTER TABLE %I.performance_history'
            ' ADD COLUMN IF NOT EXISTS card_income_fen bigint NOT NULL DEFAULT 0,'
            ' ADD COLUMN IF NOT EXISTS team_card_income_fen bigint NOT NULL DEFAULT 0',
            live
        );
    END LOOP;
END $$;
