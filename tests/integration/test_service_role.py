"""Least privilege: the service's own role appends to the event log and can do nothing else to
it; migrations, run by the owner, still run, and chain the events stored before them."""

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from api.bootstrap import bootstrap
from api.db_roles import SERVICE_ROLE, as_role
from api.migrate import MIGRATIONS, migrate
from application.settings import Settings
from domain.common import Audit
from projections.chain import ChainVerifier
from tests.conftest import create_database, drop_database
from tests.integration.test_chain import T0, history

REFUSED = psycopg.errors.InsufficientPrivilege


@pytest.fixture
def service_dsn(dsn: str) -> str:
    """The test database with the service role set up, as every migration run does it."""
    service = as_role(dsn, SERVICE_ROLE)
    migrate(dsn, service_dsn=service)
    return service


def test_the_service_role_cannot_rewrite_history(fenrun, service_dsn: str) -> None:
    history(fenrun, orders=1)
    with psycopg.connect(service_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (SERVICE_ROLE,)
        for statement, message in (
            ("UPDATE ledger_events SET recorded_at = now()", "append-only"),
            ("DELETE FROM ledger_events", "permission denied"),
            ("TRUNCATE ledger_events", "permission denied"),
            ("ALTER TABLE ledger_events DISABLE TRIGGER ledger_events_append_only", "owner"),
            ("DROP TRIGGER ledger_events_append_only ON ledger_events", "owner"),
            ("SET session_replication_role = replica", "permission denied"),
            ("UPDATE schema_migrations SET version = version", "permission denied"),
        ):
            with pytest.raises(REFUSED, match=message):
                conn.execute(statement)
        # The migrations' setting can be set by anyone, but only the owner's side passes.
        conn.execute("SET fenrun.migration = 'on'")
        with pytest.raises(REFUSED, match="append-only"):
            conn.execute("UPDATE ledger_events SET state = state")
    assert ChainVerifier(fenrun.pool).verify().first_break is None


def test_the_service_role_runs_the_ledger(dsn: str, service_dsn: str) -> None:
    app = bootstrap(Settings(database_url=service_dsn, migration_database_url=dsn))
    try:
        history(app, orders=2)  # commands, the commission policy and every view
        assert app.read.wallet("C", app.read.caught_up())["frozen"] == 2 * (2000 + 400)
        report = ChainVerifier(app.pool).verify()
        assert report.first_break is None
        assert report.checked == app.read.log_head()
    finally:
        app.close()


@pytest.fixture
def empty_db(server_url: str) -> Iterator[str]:
    name = f"fenrun_t_{uuid.uuid4().hex[:12]}"
    url = create_database(server_url, name)
    yield url
    drop_database(server_url, name)


def test_migrations_chain_the_events_stored_before_them(empty_db: str, tmp_path: Path) -> None:
    # Every migration but the chain's (0009): the service's catch-up needs the tables of its
    # views and policies (failures, decision 0019; withdrawals, payouts, statements, cards ...).
    before = sorted(p for p in MIGRATIONS.glob("*.sql") if not p.name.startswith("0009_"))
    for path in before:
        shutil.copy(path, tmp_path)
    migrate(empty_db, tmp_path)
    app = bootstrap(Settings(database_url=empty_db), run_migrations=False)
    try:
        history(app, orders=1)
        stored = app.read.log_head()
        for path in MIGRATIONS.glob("*.sql"):
            shutil.copy(path, tmp_path)
        # A later migration may still edit the log (it runs as the owner, flagged).
        (tmp_path / "9999_edit_the_log.sql").write_text(
            "UPDATE ledger_events SET recorded_at = recorded_at + interval '1 second';"
        )
        applied = migrate(empty_db, tmp_path)
        later = sorted(
            p.stem for p in MIGRATIONS.glob("*.sql") if p.name not in {b.name for b in before}
        )
        assert applied == [*later, "9999_edit_the_log"]
        assert later[0] == "0009_tamper_evident_log"
        app.ledger.register_agent("D", "D", "C", True, Audit("ops", T0))
        report = ChainVerifier(app.pool).verify()
        assert report.first_break is None
        assert report.checked == app.read.log_head() > stored
    finally:
        app.close()
