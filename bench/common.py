"""Shared plumbing for the benchmarks: the server, one database per benchmark, timing, stats."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_DIR = Path(".fenrun/bench-server")

# Tables updated in place (one row per consumer), and tables that hold copies of state rather
# than facts or read-model rows: their writes are reported, but not credited as "rows written".
TRACKING_TABLES = ("ledger_tracking", "projection_tracking")
# ledger_chain: one hash-chain link per event, written by the database itself (migration 0009).
NOT_CREDITED = (*TRACKING_TABLES, "ledger_snapshots", "ledger_chain")
IGNORED = ("schema_migrations", "bench_raw")


class BenchError(RuntimeError):
    """A benchmark's own check failed: its figures would not mean what they claim."""


def check(condition: object, message: object) -> None:
    """Like assert, but not stripped by python -O."""
    if not condition:
        raise BenchError(str(message))


def progress(*parts: object) -> None:
    print("[bench]", *parts, file=sys.stderr, flush=True)


@dataclass
class Server:
    url: str
    kind: str  # "env" | "embedded" | "option"
    version: str = ""


@contextlib.contextmanager
def server(explicit_url: str | None) -> Iterator[Server]:
    """The PostgreSQL server to create benchmark databases on.

    --server-url, else FENRUN_DATABASE_URL / DATABASE_URL, else the embedded server under
    .fenrun/bench-server (started here, stopped at the end).
    """
    url = explicit_url or os.environ.get("FENRUN_DATABASE_URL") or os.environ.get("DATABASE_URL")
    embedded = None
    if url:
        found = Server(url, "option" if explicit_url else "env")
    else:
        from api.embedded_db import start_embedded_postgres

        progress("no FENRUN_DATABASE_URL/DATABASE_URL: starting the embedded server")
        embedded = start_embedded_postgres((ROOT / EMBEDDED_DIR).resolve())
        found = Server(embedded.url, "embedded")
    try:
        with psycopg.connect(found.url, autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            found.version = row[0] if row else ""
        yield found
    finally:
        if embedded is not None:
            embedded.stop()


def with_dbname(url: str, dbname: str) -> str:
    """The same server, another database, as a postgresql:// URL (what Settings accepts)."""
    info = conninfo_to_dict(url)
    user = quote(str(info.get("user", "postgres")), safe="")
    password = info.get("password")
    auth = f"{user}:{quote(str(password), safe='')}" if password else user
    host = info.get("host", "127.0.0.1")
    port = info.get("port", "5432")
    return f"postgresql://{auth}@{host}:{port}/{quote(dbname, safe='')}"


@contextlib.contextmanager
def database(server_url: str, label: str) -> Iterator[str]:
    """A fresh database migrated to the current schema; dropped afterwards, whatever happens."""
    from api.migrate import migrate

    name = f"fenrun_bench_{label}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = with_dbname(server_url, name)
        migrate(dsn)
        yield dsn
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def table_stats(dsn: str) -> dict[str, dict[str, int]]:
    """Row count and total row bytes (pg_column_size of the whole row) of every table.

    Tables are found in the catalog (every schema but the system ones), so a new read model, or
    one written into another schema, is counted without editing this list.
    """
    out = {}
    with psycopg.connect(dsn) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
            " AND table_schema NOT LIKE 'pg_%%' AND table_name <> ALL(%s)"
            " ORDER BY table_schema, table_name",
            (list(IGNORED),),
        ).fetchall()
        for schema, table in tables:
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), coalesce(sum(pg_column_size(t.*)), 0) FROM {}.{} t"
                ).format(sql.Identifier(schema), sql.Identifier(table))
            ).fetchone()
            assert row is not None
            key = table if schema == "public" else f"{schema}.{table}"
            out[key] = {"rows": int(row[0]), "bytes": int(row[1])}
    return out


def diff_stats(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    empty = {"rows": 0, "bytes": 0}
    return {
        t: {k: after[t][k] - before.get(t, empty)[k] for k in ("rows", "bytes")}
        for t in after
        if after[t]["rows"] != before.get(t, empty)["rows"]
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and whether product files differed from it (bench/ excluded)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.rstrip() if done.returncode == 0 else ""

    changed = [
        line[3:]
        for line in git("status", "--porcelain", "--untracked-files=no").splitlines()
        if not line[3:].startswith("bench/")
    ]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "uncommitted_changes": changed}


def quantile(values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile (q in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def rnd(value: float, digits: int = 4) -> float:
    return float(f"{value:.{digits}g}") if abs(value) < 1 else round(value, 2)


def audit_time() -> datetime:
    return datetime(2026, 1, 5, tzinfo=UTC)


def plan_start() -> datetime:
    return audit_time() - timedelta(days=1)


def summarize(runs: list[dict[str, Any]], keys: Sequence[str]) -> dict[str, float]:
    """Median over runs of each numeric key (dotted paths allowed)."""

    def get(run: dict[str, Any], path: str) -> float:
        value: Any = run
        for part in path.split("."):
            value = value[part]
        return float(value)

    return {k: rnd(median([get(r, k) for r in runs])) for k in keys}
