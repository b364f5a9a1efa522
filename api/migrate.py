"""Applies migrations/NNNN-*.sql in order, once each, under an advisory lock."""

from pathlib import Path

import psycopg

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_KEY = 0x46454E52  # "FENR": one migrator at a time, across processes


def migrate(dsn: str, folder: Path = MIGRATIONS) -> list[str]:
    """Returns the versions applied now. Each file runs in its own transaction."""
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
                    conn.execute(path.read_text())
                    conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES (%s)", (path.stem,)
                    )
                applied_now.append(path.stem)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
