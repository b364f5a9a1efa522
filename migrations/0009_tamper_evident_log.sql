-- Tamper evidence (issue 10, decision 0017): a hash chain over the event log, and a log the
-- database itself keeps append-only.
--
-- The chain lives beside the log, one row per event keyed by its position, so ledger_events
-- keeps the library's layout: its `SELECT *` reads carry no extra bytes, and processes still
-- running while this migration runs keep their prepared statements. For each event:
--   previous = the position of the event before it (0 for the first)
--   hash     = sha256(previous hash || int8(position) || uuid(originator_id)
--                     || int8(originator_version) || int8(len) || topic as UTF-8
--                     || int8(len) || state)
-- with big-endian integers, a length of -1 (and no bytes) for NULL, and 32 zero bytes as the
-- hash before the first event. projections/chain.py recomputes exactly this, independently.
-- recorded_at is not covered (the issue binds the fields above); it is append-only all the same.
CREATE TABLE ledger_chain (
    position bigint PRIMARY KEY,
    previous bigint NOT NULL,
    hash bytea NOT NULL
);

-- The running hash over events in log order, starting from `seed` (the hash of the event
-- before the first one): one set-based pass, for a save of many events as for the backfill.
-- The encoding lives here only. PL/pgSQL because an aggregate calls its step once per event:
-- measured, a SQL-language step cost twice as much per event.
CREATE FUNCTION ledger_chain_step(
    running bytea, seed bytea, log_position bigint, originator uuid, version bigint,
    event_topic text, event_state bytea
) RETURNS bytea LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN pg_catalog.sha256(
        coalesce(running, seed)
        || pg_catalog.int8send(log_position)
        || pg_catalog.uuid_send(originator)
        || pg_catalog.int8send(version)
        || pg_catalog.int8send(
            coalesce(pg_catalog.octet_length(pg_catalog.convert_to(event_topic, 'UTF8')), -1)
        )
        || coalesce(pg_catalog.convert_to(event_topic, 'UTF8'), '\x'::bytea)
        || pg_catalog.int8send(coalesce(pg_catalog.octet_length(event_state), -1))
        || coalesce(event_state, '\x'::bytea)
    );
END
$$;
CREATE AGGREGATE ledger_chain_running(bytea, bigint, uuid, bigint, text, bytea) (
    SFUNC = ledger_chain_step, STYPE = bytea
);
-- One event's hash, for people and tests: ledger_chain_link(previous hash, position, ...).
CREATE FUNCTION ledger_chain_link(
    previous_hash bytea, log_position bigint, originator uuid, version bigint,
    event_topic text, event_state bytea
) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT public.ledger_chain_step(
        previous_hash, NULL, log_position, originator, version, event_topic, event_state
    )
$$;

-- Chain the events written before this migration, in log order, once.
INSERT INTO ledger_chain (position, previous, hash)
SELECT notification_id, coalesce(lag(notification_id) OVER w, 0),
    ledger_chain_running(
        '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea,
        notification_id, originator_id, originator_version, topic, state
    ) OVER w
FROM ledger_events WINDOW w AS (ORDER BY notification_id);

-- Writers are serialised (the library takes this lock before it inserts; anyone else who
-- inserts gets it here), so every save links to the committed head and the chain never forks.
-- Taking a lock the transaction already holds costs nothing.
CREATE FUNCTION ledger_events_serialise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE public.ledger_events IN EXCLUSIVE MODE;
    RETURN NULL;
END
$$;

-- Links a statement's new events to the head of the chain, in the inserting transaction, once
-- per statement (the library inserts a save's events with one INSERT ... SELECT FROM unnest).
-- It runs as the owner: the service's role may read the chain but never write it directly.
CREATE FUNCTION ledger_events_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    head_position bigint;
    head_hash bytea;
    first_new bigint;
BEGIN
    SELECT position, hash INTO head_position, head_hash
        FROM public.ledger_chain ORDER BY position DESC LIMIT 1;
    SELECT min(notification_id) INTO first_new FROM new_events;
    IF first_new <= head_position THEN
        RAISE EXCEPTION 'the event log only grows at its end: position % is not after the head %',
            first_new, head_position USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO public.ledger_chain (position, previous, hash)
    SELECT notification_id, coalesce(lag(notification_id) OVER w, head_position, 0),
        public.ledger_chain_running(
            coalesce(head_hash,
                '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea),
            notification_id, originator_id, originator_version, topic, state
        ) OVER w
    FROM new_events WINDOW w AS (ORDER BY notification_id);
    RETURN NULL;
END
$$;

-- History is never edited: UPDATE, DELETE and TRUNCATE of the log or its chain are refused,
-- except inside a migration (api/migrate.py sets fenrun.migration = 'on' in each migration's
-- transaction) run by a role that has the table owner's privileges. Any role can set the
-- setting; only the owner's side passes the second test. The service's role holds UPDATE on
-- ledger_events only because PostgreSQL demands UPDATE, DELETE or TRUNCATE for the library's
-- LOCK ... IN EXCLUSIVE MODE; this trigger refuses every UPDATE it tries.
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('fenrun.migration', true), '') = 'on' AND pg_catalog.pg_has_role(
        current_user, (SELECT relowner FROM pg_catalog.pg_class WHERE oid = TG_RELID), 'USAGE'
    ) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the event log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
        HINT = 'history is corrected by new events; see docs/audit.md';
END
$$;

CREATE TRIGGER ledger_events_serialise BEFORE INSERT ON ledger_events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_serialise();
CREATE TRIGGER ledger_events_chain AFTER INSERT ON ledger_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_chain();
CREATE TRIGGER ledger_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_chain_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_chain
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
