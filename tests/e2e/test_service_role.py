"""The service running as its own database role (least privilege), end to end over HTTP: a
commission's lifecycle, the audit head it serves, and a view rebuilt by the tables' owner while
the service keeps writing and serving. Connects as that role without a password (trust, as in
CI and the embedded server)."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg_pool import ConnectionPool

from api.app import create_app
from api.bootstrap import bootstrap, build_views
from api.db_roles import SERVICE_ROLE, as_role
from application.settings import Settings
from projections.chain import ChainVerifier, chain_head
from projections.rebuild import rebuild
from tests.e2e.conftest import GraphQLClient, running
from tests.e2e.test_lifecycle import DAY20, sell, wallet
from tests.e2e.test_lifecycle import test_hold_release_approve as hold_release_approve

HEAD = "{ auditHead { position hash recordedAt } }"


def _service(dsn: str, data_dir: Path, clock: Any = None, **settings: Any) -> Any:
    """Migrations as the owner, the service as its own role."""
    return bootstrap(
        Settings(
            database_url=as_role(dsn, SERVICE_ROLE),
            migration_database_url=dsn,
            data_dir=data_dir,
            **settings,
        ),
        clock=clock,
    )


@pytest.fixture
def fenrun(dsn: str, tmp_path: Path, clock) -> Iterator:
    """Overrides the suite's `fenrun`: the service as its own role."""
    app = _service(dsn, tmp_path, clock)
    yield app
    app.close()


def test_an_empty_log_serves_a_zero_head(dsn: str, tmp_path: Path) -> None:
    """Before any event (users are events too, so without authentication on loopback)."""
    app = _service(dsn, tmp_path, auth="off")
    try:
        with running(create_app(fenrun=app)) as url:
            answer = httpx.post(url + "/graphql", json={"query": HEAD}).json()
        assert answer["data"]["auditHead"] == {
            "position": "0",
            "hash": "0" * 64,
            "recordedAt": None,
        }
    finally:
        app.close()


def test_the_ledger_runs_as_the_service_role(gql: GraphQLClient, fenrun) -> None:
    with fenrun.pool.connection() as conn:
        assert conn.execute("SELECT current_user").fetchone() == (SERVICE_ROLE,)
    hold_release_approve(gql)

    head = gql(HEAD)["data"]["auditHead"]
    stored = chain_head(fenrun.pool)
    assert head == {
        "position": str(fenrun.read.log_head()),
        "hash": stored.hash.hex(),
        "recordedAt": stored.recorded_at.isoformat(),
    }
    assert ChainVerifier(fenrun.pool).verify().verified.hash.hex() == head["hash"]

    # The owner rebuilds a view into a schema of its own; the service then writes there.
    view = next(v for v in build_views(fenrun.settings.zone) if v.name == "wallet_balances")
    with ConnectionPool(fenrun.owner_dsn, min_size=1, max_size=2) as owner:
        assert rebuild(owner, fenrun.ledger.mapper.to_domain_event, view) == 2
    sell(gql, "O-9", "customer", DAY20)
    assert wallet(gql) == {
        "frozen": "8.00",
        "unfreezing": "0.00",
        "available": "8.00",
        "debt": "0.00",
    }
