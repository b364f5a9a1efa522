-- Issue 11: the wallet movement ledger and settlement statements (decision 0027).

-- Every money movement of a wallet (one row per balance event that moves a bucket), with how it
-- moved each bucket and each bucket's running balance after it, in log order. As of position P:
-- the rows with position <= P.
CREATE TABLE wallet_movements (
    agent_code text NOT NULL,
    position bigint NOT NULL,
    movement text NOT NULL,
    amount_fen bigint NOT NULL,
    reference text,
    recorded_at timestamptz NOT NULL,
    effective_at timestamptz NOT NULL,
    actor text NOT NULL,
    reason text NOT NULL,
    d_frozen bigint NOT NULL, d_unfreezing bigint NOT NULL, d_available bigint NOT NULL,
    d_withdrawing bigint NOT NULL, d_debt bigint NOT NULL, d_deposit bigint NOT NULL,
    frozen bigint NOT NULL, unfreezing bigint NOT NULL, available bigint NOT NULL,
    withdrawing bigint NOT NULL, debt bigint NOT NULL, deposit bigint NOT NULL,
    PRIMARY KEY (agent_code, position)
);
CREATE INDEX wallet_movements_effective_idx ON wallet_movements (agent_code, effective_at, position);

-- Statements as generated (their figures never change), and their statuses by position.
CREATE TABLE statements (
    id text PRIMARY KEY,
    agent_code text NOT NULL,
    cycle text NOT NULL,
    sequence integer NOT NULL,
    supplementary boolean NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    through bigint NOT NULL,
    previous_id text,
    opening jsonb NOT NULL,
    closing jsonb NOT NULL,
    lines jsonb NOT NULL,
    position bigint NOT NULL,
    recorded_at timestamptz NOT NULL,
    generated_by text NOT NULL
);
CREATE INDEX statements_agent_idx ON statements (agent_code, cycle, sequence);
CREATE INDEX statements_cycle_idx ON statements (cycle, agent_code);

CREATE TABLE statement_status_history (
    statement_id text NOT NULL,
    position bigint NOT NULL,
    status text NOT NULL,
    actor text NOT NULL,
    reason text NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (statement_id, position)
);

INSERT INTO projection_versions (name, version, schema_name) VALUES
    ('wallet_movements', 1, 'public'), ('statements', 1, 'public');
