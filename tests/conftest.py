"""Test databases: each test gets a fresh database cloned from a migrated template, dropped after.

The server is the one in DATABASE_URL / FENRUN_DATABASE_URL (CI: the machine's PostgreSQL), or
else an embedded server started for the session.
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from api.migrate import migrate
from api.observability.logs import configure_logging

ROOT = Path(__file__).resolve().parent.parent

# CI replays the same examples every run, so a red build always means a change broke something;
# runs elsewhere keep exploring new examples (and print how to reproduce what they find).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "explore")

# The service logs a line per request: in tests, only warnings and errors (CLI commands run
# in-process read the level from the environment). Tests of the logs configure their own.
QUIET_LOGS = "warning"
os.environ.setdefault("FENRUN_LOG_LEVEL", QUIET_LOGS)
configure_logging("auto", QUIET_LOGS)


def _server_url() -> Iterator[str]:
    url = os.environ.get("FENRUN_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    from api.embedded_db import start_embedded_postgres

    server = start_embedded_postgres(ROOT / ".fenrun" / "test-server")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    yield from _server_url()


def with_dbname(url: str, dbname: str) -> str:
    info = conninfo_to_dict(url)
    info["dbname"] = dbname
    return make_conninfo(**info)


def create_database(server: str, name: str, template: str | None = None) -> str:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        suffix = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{suffix}')
    return with_dbname(server, name)


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def template_db(server_url: str) -> Iterator[str]:
    name = f"fenrun_tpl_{os.getpid()}"
    migrate(create_database(server_url, name))
    yield name
    drop_database(server_url, name)


@pytest.fixture
def dsn(server_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database of this test's own, dropped afterwards."""
    name = f"fenrun_t_{uuid.uuid4().hex[:12]}"
    url = create_database(server_url, name, template=template_db)
    yield url
    drop_database(server_url, name)


@pytest.fixture
def clock():
    """The test's server clock: the system's time until the test sets it (effective times
    later than it are refused, decision 0018)."""
    from application.clock import SetClock

    return SetClock()


@pytest.fixture
def fenrun(dsn: str, clock):
    from api.bootstrap import bootstrap
    from application.settings import Settings

    app = bootstrap(Settings(database_url=dsn), run_migrations=False, clock=clock)
    yield app
    app.close()
