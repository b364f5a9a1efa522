-- Ancestry as a closure table with its own history: a row per (agent, ancestor) from the log
-- position it became known and the business time it took effect. Uplines are only ever added,
-- so "ancestors of X at position P, effective at E" is an index range read.
CREATE TABLE agent_ancestry (
    agent_code text NOT NULL,
    ancestor_code text NOT NULL,
    depth integer NOT NULL,
    position bigint NOT NULL,
    effective_from timestamptz NOT NULL,
    PRIMARY KEY (agent_code, ancestor_code)
);
CREATE INDEX agent_ancestry_descendants_idx ON agent_ancestry (ancestor_code, depth);

-- Cumulative performance of an agent in a business month (by the sale's effective month),
-- one row per change: as of position P is the greatest position <= P.
CREATE TABLE performance_history (
    agent_code text NOT NULL,
    month date NOT NULL,
    position bigint NOT NULL,
    personal_fen bigint NOT NULL,
    personal_orders integer NOT NULL,
    team_fen bigint NOT NULL,
    team_orders integer NOT NULL,
    activations integer NOT NULL,
    PRIMARY KEY (agent_code, month, position)
);
CREATE INDEX performance_history_month_idx ON performance_history (month, position);

-- Activations, each with the month it is reported in: its effective month when it was recorded
-- by that month's end, else the month it was recorded in (SPEC §3: reported figures stay fixed).
CREATE TABLE activations (
    iccid text NOT NULL,
    agent_code text NOT NULL,
    effective_month date NOT NULL,
    reporting_month date NOT NULL,
    position bigint NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (iccid, position)
);
CREATE INDEX activations_report_idx ON activations (agent_code, reporting_month, position);

CREATE TABLE activation_cards (
    iccid text PRIMARY KEY,
    agent_code text NOT NULL
);

-- What the performance view remembers of orders and cards (each view keeps its own, so any
-- view can be rebuilt alone).
CREATE TABLE performance_orders (
    order_id text PRIMARY KEY,
    agent_code text NOT NULL,
    paid_fen bigint NOT NULL,
    completed_month date,
    completed_at timestamptz,
    completed_position bigint
);
CREATE TABLE performance_cards (
    iccid text PRIMARY KEY,
    agent_code text NOT NULL
);

-- Platform figures per business month (of the fact's effective time), cumulative per change.
CREATE TABLE platform_month_history (
    month date NOT NULL,
    position bigint NOT NULL,
    income_fen bigint NOT NULL,
    refunded_fen bigint NOT NULL,
    price_difference_fen bigint NOT NULL,
    frozen_fen bigint NOT NULL,
    unfreezing_fen bigint NOT NULL,
    approved_fen bigint NOT NULL,
    voided_fen bigint NOT NULL,
    clawed_back_fen bigint NOT NULL,
    PRIMARY KEY (month, position)
);

-- Which commission lines belong to which month and kind, for the monthly platform figures.
CREATE TABLE platform_month_lines (
    commission_id text PRIMARY KEY,
    month date NOT NULL,
    kind text NOT NULL
);
CREATE TABLE platform_month_orders (
    order_id text PRIMARY KEY,
    paid_fen bigint NOT NULL,
    completed_month date
);
