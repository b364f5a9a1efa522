"""Applies migrations/NNNN-*.sql in order, once each, under an advisory lock."""

from pathlib import Path

import psycopg

from api.db_roles import grant_service_role, service_role_of

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_KEY = 0x46454E52  # "FENR": one migrator at a time, across processes


def migrate(dsn: str, folder: Path = MIGRATIONS, *, service_dsn: str | None = None) -> list[str]:
    """Returns the versions applied now. Each file runs in its own transaction.

    `dsn` connects as the owner of the tables. With a `service_dsn` for another role, that role
    is then created if missing and given least privilege (api/db_roles.py), under the same lock.
    """
    if not any(folder.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        # e.g. the package installed without its checkout: applying nothing would look like
        # success and leave the database without tables.
        raise FileNotFoundError(f"no migrations in {folder}")
    applied_now = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for path in sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.sql")):
                if path.stem in done:
                    continue
                with conn.transaction():
                    # Lets this transaction (and only its owner role) edit the append-only
                    # event log: see migrations/0009_tamper_evident_log.sql.
                    conn.execute("SELECT set_config('fenrun.migration', 'on', true)")
                    conn.execute(path.read_text())
                    conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES (%s)", (path.stem,)
                    )
                applied_now.append(path.stem)
            service = service_role_of(dsn, service_dsn) if service_dsn else None
            if service is not None:
                grant_service_role(conn, service)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
