"""The embedded default sets least privilege up by itself: the superuser migrates, the service
connects as its own role, which cannot edit the event log."""

import pathlib
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from api.bootstrap import bootstrap
from api.db_roles import SERVICE_ROLE
from application.settings import Settings
from domain.common import Audit
from projections.chain import ChainVerifier

pytestmark = pytest.mark.embedded


def test_the_embedded_service_runs_as_its_own_role(tmp_path: pathlib.Path) -> None:
    app = bootstrap(Settings(database_url=None, data_dir=tmp_path / "fenrun-data"))
    try:
        assert conninfo_to_dict(app.owner_dsn)["user"] == "postgres"
        assert conninfo_to_dict(app.dsn)["user"] == SERVICE_ROLE
        app.ledger.register_agent(
            "A", "A", None, True, Audit("ops", datetime(2026, 1, 1, tzinfo=UTC))
        )
        app.catch_up()
        assert app.read.agent("A", app.read.caught_up()) is not None
        with psycopg.connect(app.dsn) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (SERVICE_ROLE,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute("UPDATE ledger_events SET state = state")
        assert ChainVerifier(app.pool).verify().checked == app.read.log_head() > 0
    finally:
        app.close()
