-- Withdrawals under review, approved, rejected, paid or failed (issue 11, decision 0025): one row
-- per change, keyed by log position, so a withdrawal's state as of any position is the latest row
-- at or before it. The view "withdrawals" writes it (projections/withdrawals.py).
CREATE TABLE withdrawal_history (
    agent_code text NOT NULL,
    withdrawal_id text NOT NULL,
    position bigint NOT NULL,
    recorded_at timestamptz NOT NULL,
    effective_at timestamptz NOT NULL,
    requested_position bigint NOT NULL,
    requested_at timestamptz NOT NULL,
    status text NOT NULL,
    amount_fen bigint NOT NULL,
    fee_fen bigint,
    tax_fen bigint,
    net_fen bigint,
    large boolean NOT NULL,
    approvers text[] NOT NULL,
    actor text NOT NULL,
    reason text NOT NULL,
    PRIMARY KEY (agent_code, withdrawal_id, position)
);
CREATE INDEX withdrawal_history_position_idx ON withdrawal_history (position);
CREATE INDEX withdrawal_history_requested_idx
    ON withdrawal_history (requested_position, agent_code, withdrawal_id);

INSERT INTO projection_versions (name, version, schema_name) VALUES ('withdrawals', 1, 'public');
