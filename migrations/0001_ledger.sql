-- The event store, in eventsourcing 9.5's layout for application "Ledger", plus recorded_at:
-- the library keeps no commit time, and "as of T" needs one. Inserts are serialised by the
-- library's EXCLUSIVE table lock, so clock_timestamp() at insert grows with notification_id.
-- The composite type the library inserts through (INSERT ... SELECT FROM unnest(%s)).
CREATE TYPE stored_event_uuid AS (
    originator_id uuid, originator_version bigint, topic text, state bytea
);
CREATE TABLE ledger_events (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    notification_id bigserial,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (originator_id, originator_version)
);
CREATE UNIQUE INDEX ledger_events_notification_id_idx ON ledger_events (notification_id);
CREATE INDEX ledger_events_recorded_at_idx ON ledger_events (recorded_at);

-- Snapshots of busy aggregates (wallets), so loading one does not replay its whole history.
CREATE TABLE ledger_snapshots (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    PRIMARY KEY (originator_id, originator_version)
);

-- Single-row tracking of the process applications (the commission policy) that write events.
CREATE TABLE ledger_tracking (
    application_name text PRIMARY KEY,
    notification_id bigint
);

-- Read models. Each projection commits its rows and its position in one transaction.
CREATE TABLE projection_tracking (
    name text PRIMARY KEY,
    position bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    last_error text
);

-- One row per balance change: as of position P is the row with the greatest position <= P,
-- an index lookup whose cost does not grow with the wallet's history.
CREATE TABLE wallet_balance_history (
    agent_code text NOT NULL,
    position bigint NOT NULL,
    recorded_at timestamptz NOT NULL,
    effective_at timestamptz NOT NULL,
    frozen bigint NOT NULL,
    unfreezing bigint NOT NULL,
    available bigint NOT NULL,
    withdrawing bigint NOT NULL,
    debt bigint NOT NULL,
    deposit bigint NOT NULL,
    PRIMARY KEY (agent_code, position)
);

CREATE TABLE commission_lines (
    id text PRIMARY KEY,
    agent_code text NOT NULL,
    kind text NOT NULL,
    original_fen bigint NOT NULL,
    base_fen bigint NOT NULL,
    rate text,
    order_id text,
    iccid text,
    source text NOT NULL,
    plan_code text NOT NULL,
    plan_version integer NOT NULL,
    rule_code text NOT NULL,
    hold_days integer NOT NULL,
    facts jsonb NOT NULL,
    effective_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    position bigint NOT NULL,
    -- The latest state, for "now" work such as finding commissions due for release.
    current_status text NOT NULL,
    current_fen bigint NOT NULL,
    releasable_at timestamptz NOT NULL
);
CREATE INDEX commission_lines_agent_idx ON commission_lines (agent_code, position, id);
CREATE INDEX commission_lines_order_idx ON commission_lines (order_id, position);
CREATE INDEX commission_lines_due_idx ON commission_lines (releasable_at)
    WHERE current_status = 'FROZEN';

CREATE TABLE commission_status_history (
    commission_id text NOT NULL,
    position bigint NOT NULL,
    status text NOT NULL,
    amount_fen bigint NOT NULL,
    event text NOT NULL,
    recorded_at timestamptz NOT NULL,
    effective_at timestamptz NOT NULL,
    actor text NOT NULL,
    reason text NOT NULL,
    PRIMARY KEY (commission_id, position)
);

CREATE TABLE unfreeze_requests (
    id text PRIMARY KEY,
    commission_id text NOT NULL,
    agent_code text NOT NULL,
    amount_fen bigint NOT NULL,
    requested_position bigint NOT NULL,
    requested_at timestamptz NOT NULL,
    decided_position bigint,
    decision text,
    decided_at timestamptz,
    decided_by text,
    reason text
);
CREATE INDEX unfreeze_requests_position_idx ON unfreeze_requests (requested_position, id);
CREATE INDEX unfreeze_requests_commission_idx ON unfreeze_requests (commission_id);

CREATE TABLE orders (
    order_id text PRIMARY KEY,
    agent_code text NOT NULL,
    flow text NOT NULL,
    paid_fen bigint NOT NULL,
    position bigint NOT NULL
);

-- Cumulative platform figures after each change (SPEC §2: platform net = income - agent credits).
CREATE TABLE platform_totals_history (
    position bigint PRIMARY KEY,
    recorded_at timestamptz NOT NULL,
    income_fen bigint NOT NULL,
    refunded_fen bigint NOT NULL,
    credits_fen bigint NOT NULL,
    paid_out_fen bigint NOT NULL
);

CREATE TABLE commission_plans (
    code text NOT NULL,
    version integer NOT NULL,
    effective_from timestamptz NOT NULL,
    rules jsonb NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (code, version)
);

CREATE TABLE agents (
    code text PRIMARY KEY,
    name text NOT NULL,
    real_name_verified boolean NOT NULL,
    registered_position bigint NOT NULL,
    registered_at timestamptz NOT NULL,
    -- An upline is bound once and never changes, so one row answers "as of" by position.
    parent_code text,
    parent_position bigint
);
CREATE INDEX agents_parent_idx ON agents (parent_code, parent_position, code);

-- Aggregate id -> business code, so views can name the owner of any event.
CREATE TABLE aggregate_codes (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    code text NOT NULL
);
