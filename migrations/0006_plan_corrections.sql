-- Plan corrections: a version may be in force over a period only, and says why it was recorded.
-- The directory view may have been rebuilt into a schema of its own: alter it wherever it lives.
DO $$
DECLARE
    live text;
BEGIN
    FOR live IN
        SELECT table_schema FROM information_schema.tables WHERE table_name = 'commission_plans'
    LOOP
        EXECUTE format(
            'ALTER TABLE %I.commission_plans'
            ' ADD COLUMN IF NOT EXISTS effective_to timestamptz,'
            ' ADD COLUMN IF NOT EXISTS correction_reason text',
            live
        );
    END LOOP;
END
$$;
