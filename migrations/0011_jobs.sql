-- Background jobs (issue 9, decision 0020): plan simulations run in processes of their own,
-- outside the API's request threads; a request starts one and later reads its progress and
-- result. The API may run as several processes, so a job's state lives here: any process can
-- run a queued job, and any can answer about it.
--
-- A job is not a business fact (it changes nothing in the ledger), so it is a row that is
-- updated, not an event. input and result are JSON text, not jsonb: jsonb cannot hold the NUL
-- character, and a refused input must be answered as a userError, not fail here.
CREATE TABLE jobs (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    status text NOT NULL DEFAULT 'QUEUED'
        CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED')),
    input text NOT NULL,
    digest text NOT NULL,               -- of kind and input: a reused key must ask the same
    position bigint NOT NULL,           -- the log position the job reads up to
    started_by text NOT NULL,
    idempotency_key text,
    progress double precision NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    result text,
    error text,                         -- {code, field, message} as JSON
    attempts integer NOT NULL DEFAULT 0,
    queued_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    heartbeat_at timestamptz,           -- the running process's last sign of life
    finished_at timestamptz,
    UNIQUE (started_by, idempotency_key)
);

CREATE INDEX jobs_queued ON jobs (queued_at) WHERE status = 'QUEUED';
CREATE INDEX jobs_running ON jobs (heartbeat_at) WHERE status = 'RUNNING';
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
