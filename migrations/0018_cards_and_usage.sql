-- Issue 14, cards: the card view (each card as of any log position), package quotas, and the
-- usage store (decision 0030).

-- View "cards": one row per event about a card, the whole card as it stood after it, so "as of
-- position P" is the greatest position <= P per card.
CREATE TABLE card_history (
    iccid text NOT NULL,
    position bigint NOT NULL,
    recorded_at timestamptz NOT NULL,
    effective_at timestamptz NOT NULL,
    event text NOT NULL,
    agent_code text NOT NULL,
    package_code text,
    enterprise_code text,
    state text NOT NULL,
    real_name_verified boolean NOT NULL,
    activated_at timestamptz,
    carrier text,
    carrier_state text,
    carrier_state_name text,
    mapping_version text,
    state_reported_at timestamptz,
    arrears boolean NOT NULL,
    complaint boolean NOT NULL,
    periods_used integer NOT NULL,
    period_end timestamptz,
    total_recharge_fen bigint NOT NULL,
    first_recharge_fen bigint,
    last_command text,
    last_command_id text,
    last_command_cause text,
    actor text NOT NULL,
    reason text NOT NULL,
    PRIMARY KEY (iccid, position)
);
CREATE INDEX card_history_agent_idx ON card_history (agent_code, iccid, position);

-- The newest row per card: what the quota rules look through to find work (the decisions are
-- then made on the aggregates).
CREATE TABLE cards_now (
    iccid text PRIMARY KEY,
    agent_code text NOT NULL,
    package_code text,
    enterprise_code text,
    state text NOT NULL,
    last_command text,
    position bigint NOT NULL
);
CREATE INDEX cards_now_enterprise_idx ON cards_now (enterprise_code) WHERE enterprise_code IS NOT NULL;

CREATE TABLE package_quotas (
    package_code text PRIMARY KEY,
    quota_mb bigint NOT NULL,
    position bigint NOT NULL
);

CREATE TABLE enterprise_history (
    code text NOT NULL,
    position bigint NOT NULL,
    name text NOT NULL,
    pool_quota_mb bigint NOT NULL,
    card_limit_mb bigint,
    stop_mode text NOT NULL,
    cards integer NOT NULL,
    stopped integer NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (code, position)
);

INSERT INTO projection_versions (name, version, schema_name) VALUES ('cards', 1, 'public')
    ON CONFLICT (name) DO NOTHING;

-- Usage: rows, not events. Each table is partitioned by month (RANGE on the day or month), one
-- partition per calendar month, created ahead of the rows by fenrun_usage_partitions() (the
-- service calls it for the months of each batch, once per month per process) and dropped whole
-- by fenrun_usage_drop_before(): pruning a month is dropping a table, never a DELETE.
CREATE TABLE usage_reports (
    day date NOT NULL,
    report_id text NOT NULL,
    iccid text NOT NULL,
    period_start timestamptz NOT NULL,
    period_end timestamptz NOT NULL,
    bytes bigint NOT NULL,
    reported_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (day, report_id)
) PARTITION BY RANGE (day);
CREATE INDEX usage_reports_card_idx ON usage_reports (iccid, day, period_start, period_end);

CREATE TABLE usage_daily (
    day date NOT NULL,
    iccid text NOT NULL,
    bytes bigint NOT NULL,
    reports integer NOT NULL,
    last_reported_at timestamptz NOT NULL,
    PRIMARY KEY (day, iccid)
) PARTITION BY RANGE (day);

CREATE TABLE usage_monthly (
    month date NOT NULL,
    iccid text NOT NULL,
    bytes bigint NOT NULL,
    PRIMARY KEY (month, iccid)
) PARTITION BY RANGE (month);

CREATE FUNCTION fenrun_usage_partitions(wanted date) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    first date := date_trunc('month', wanted)::date;
    suffix text := to_char(first, 'YYYYMM');
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['usage_reports', 'usage_daily', 'usage_monthly'] LOOP
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
            t || '_' || suffix, t, first, (first + interval '1 month')::date
        );
    END LOOP;
END
$$;

-- Drops every month of `table_name` before `keep_from` (a month's first day); returns how many.
CREATE FUNCTION fenrun_usage_drop_before(table_name text, keep_from date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    part record;
    dropped integer := 0;
BEGIN
    IF table_name NOT IN ('usage_reports', 'usage_daily', 'usage_monthly') THEN
        RAISE EXCEPTION 'not a usage table: %', table_name;
    END IF;
    FOR part IN
        SELECT c.relname FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = table_name AND c.relname ~ '_[0-9]{6}$'
          AND to_date(right(c.relname, 6), 'YYYYMM') < date_trunc('month', keep_from)
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END
$$;
