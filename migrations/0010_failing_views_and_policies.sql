-- Issue 9: a view or policy that fails on an event stops alone, just before that event, with the
-- error and the position recorded where readiness, metrics and reads see them (decision 0019).

-- A view's failure, on its tracking row (per version: a rebuilt version starts without one).
-- position stays just before failed_position; live runs skip the view until retry_at.
ALTER TABLE projection_tracking
    ADD COLUMN failed_position bigint,
    ADD COLUMN failed_at timestamptz,
    ADD COLUMN failures integer NOT NULL DEFAULT 0,
    ADD COLUMN retry_at timestamptz;

-- A policy's failure (the commission and level policies track themselves in ledger_tracking,
-- the library's table). A row is current while the policy's position is before failed_position:
-- a policy that got past it is no longer failing, whoever recorded the row.
CREATE TABLE policy_failures (
    name text PRIMARY KEY,
    failed_position bigint NOT NULL,
    last_error text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now(),
    failures integer NOT NULL DEFAULT 1,
    retry_at timestamptz NOT NULL
);
