"""Reads from a streaming replica (decision 0023), against a real primary and replica.

The module starts a PostgreSQL primary of its own (the embedded server's binaries, as the
project runs them) and a hot standby made from it with `pg_basebackup -R` on another port, and
stops both and removes their folders afterwards, whatever happens; each test gets a database of
its own on them. Writes go to the primary through the API; the replica is held behind with
`pg_wal_replay_pause()` to prove which server answers: a read pinned beyond the replica's views
is answered by the primary, and by the replica once it has caught up. About 10 s in all.
"""

import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from api.bootstrap import Fenrun, bootstrap
from api.db_roles import SERVICE_ROLE, as_role
from api.embedded_db import EmbeddedPostgres, start_embedded_postgres
from api.embedded_install import run
from api.migrate import migrate
from application.settings import Settings
from tests.conftest import create_database, drop_database, with_dbname
from tests.e2e.conftest import GraphQLClient

pytestmark = pytest.mark.replica

WALLET = 'query($p: String) { wallet(agentCode: "A", position: $p) { deposit } }'


@dataclass
class Servers:
    root: Path
    primary: EmbeddedPostgres
    replica: EmbeddedPostgres

    def on_replica(self, sql: str) -> Any:
        with psycopg.connect(self.replica.url, autocommit=True) as conn:
            return conn.execute(sql).fetchone()

    def start_replica(self) -> None:
        self.replica = start_embedded_postgres(self.root / "replica")  # standby.signal: a standby


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def answers(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    with ExitStack() as cleanup:
        root = Path(tempfile.mkdtemp(prefix="fenrun-replica-"))
        cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        root.chmod(0o755)  # as root, the servers run as an unprivileged user who must get in
        primary = start_embedded_postgres(root / "primary")
        cleanup.callback(primary.stop)
        (root / "replica").mkdir(mode=0o755)
        backup = [str(primary.bindir / "pg_basebackup"), "-h", "127.0.0.1", "-p"]
        backup += [str(primary.port), "-U", "postgres", "-D", str(root / "replica" / "pgdata")]
        run([*backup, "--write-recovery-conf", "--checkpoint=fast", "--no-sync"], None)
        found = Servers(root, primary, start_embedded_postgres(root / "replica"))
        cleanup.callback(lambda: found.replica.stop())
        yield found


@pytest.fixture
def fenrun(servers: Servers) -> Iterator[Fenrun]:
    """The app over a fresh database on the primary and its replica (the e2e `server` and `gql`
    fixtures serve it over HTTP)."""
    name = f"fenrun_r_{uuid.uuid4().hex[:12]}"
    owner = create_database(servers.primary.url, name)
    # The tables' owner migrates; the service (and so the replica's reader) is fenrun_app.
    migrate(owner, service_dsn=as_role(owner, SERVICE_ROLE))
    replica = as_role(with_dbname(servers.replica.url, name), SERVICE_ROLE)
    wait_until(lambda: answers(replica), "the database on the replica")
    settings = Settings(
        database_url=as_role(owner, SERVICE_ROLE),
        migration_database_url=owner,
        replica_database_url=replica,
    )
    app = bootstrap(settings, run_migrations=False)
    yield app
    app.close()
    drop_database(servers.primary.url, name)


def top_up(gql: GraphQLClient, amount: str) -> str:
    payload = gql.ok("topUpDeposit", {"agentCode": "A", "amount": amount}, "wallet { deposit }")
    return payload["wallet"]["deposit"]


def replica_caught_up(app: Fenrun) -> Callable[[], bool]:
    replica = app.replica
    assert replica is not None
    return lambda: replica.caught_up() >= app.read.caught_up()


@pytest.fixture
def answered(fenrun: Fenrun, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The server whose views answered each agent or wallet read since the list was cleared:
    the proof that `extensions.readFrom` tells the truth."""
    calls: list[str] = []
    for model, server in ((fenrun.read, "primary"), (fenrun.replica, "replica")):
        for name in ("agent", "wallet"):
            read = getattr(model, name)
            monkeypatch.setattr(
                model, name, lambda *a, _r=read, _s=server: calls.append(_s) or _r(*a)
            )
    return calls


def read_from(gql: GraphQLClient, answered: list[str], query: str, position: str | None = None):
    """The query's answer, after checking that the server it names answered all of it."""
    answered.clear()
    body = gql(query, {"p": position})
    assert set(answered) == {body["extensions"]["readFrom"]}, answered
    return body


def metrics(gql: GraphQLClient) -> str:
    return gql.http.get("/metrics").text


def metric(page: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = rf"^{name}{{{wanted}}} (\S+)$" if labels else rf"^{name} (\S+)$"
    found = re.search(pattern, page, re.MULTILINE)
    assert found, f"{name} {labels} not in the metrics"
    return float(found.group(1))


def test_the_replica_answers_once_it_has_replayed_the_pinned_position(
    servers: Servers,
    fenrun: Fenrun,
    gql: GraphQLClient,
    answered: list[str],
    request: pytest.FixtureRequest,
) -> None:
    gql.ok("registerAgent", {"code": "A", "name": "A"})
    assert top_up(gql, "60") == "60.00"
    wait_until(replica_caught_up(fenrun), "the replica's views")
    first = read_from(gql, answered, WALLET)
    assert first["data"]["wallet"] == {"deposit": "60.00"}
    assert first["extensions"]["readFrom"] == "replica"
    before = first["extensions"]["position"]

    # Hold the replica at 60.00: it still receives the primary's log but replays none of it.
    servers.on_replica("SELECT pg_wal_replay_pause()")
    request.addfinalizer(lambda: servers.on_replica("SELECT pg_wal_replay_resume()"))
    wait_until(
        lambda: servers.on_replica("SELECT pg_get_wal_replay_pause_state()")[0] == "paused",
        "replay to pause",
    )
    answered.clear()
    assert top_up(gql, "15") == "75.00"  # the payload reads its write on the primary
    assert set(answered) == {"primary"}

    # Read-your-writes: the newest position is the primary's; the replica has not replayed it.
    after = read_from(gql, answered, WALLET)
    assert after["data"]["wallet"] == {"deposit": "75.00"}
    assert after["extensions"]["readFrom"] == "primary"
    assert int(after["extensions"]["position"]) > int(before)
    assert fenrun.replica.caught_up() == int(before)  # type: ignore[union-attr]
    # A read pinned where the replica has been answers there, nested fields too.
    nested = 'query($p: String) { agent(code: "A", position: $p) { wallet { deposit } } }'
    again = read_from(gql, answered, nested, before)
    assert again["data"]["agent"]["wallet"] == {"deposit": "60.00"}
    assert (again["extensions"]["readFrom"], again["extensions"]["position"]) == ("replica", before)
    held = metrics(gql)
    assert metric(held, "fenrun_replica_up") == 1
    assert metric(held, "fenrun_replica_lag_events") >= 1
    assert metric(held, "fenrun_pinned_reads_total", server="primary", reason="replica_behind") >= 1

    servers.on_replica("SELECT pg_wal_replay_resume()")
    wait_until(replica_caught_up(fenrun), "the replica to catch up")
    latest = read_from(gql, answered, WALLET)
    assert latest["data"]["wallet"] == {"deposit": "75.00"}
    assert latest["extensions"]["readFrom"] == "replica"
    assert latest["extensions"]["position"] == after["extensions"]["position"]
    caught_up = metrics(gql)
    assert metric(caught_up, "fenrun_replica_lag_events") == 0
    assert metric(caught_up, "fenrun_pinned_reads_total", server="replica", reason="caught_up") >= 3


def test_the_primary_answers_while_the_replica_is_down(
    servers: Servers, fenrun: Fenrun, gql: GraphQLClient, request: pytest.FixtureRequest
) -> None:
    gql.ok("registerAgent", {"code": "A", "name": "A"})
    top_up(gql, "60")
    wait_until(replica_caught_up(fenrun), "the replica's views")
    assert gql(WALLET)["extensions"]["readFrom"] == "replica"

    servers.replica.stop()
    request.addfinalizer(servers.start_replica)  # for the tests after this one
    started = time.monotonic()
    for _ in range(5):
        down = gql(WALLET)
        assert down["data"]["wallet"] == {"deposit": "60.00"}
        assert down["extensions"]["readFrom"] == "primary"
    # One short wait for the replica, then the primary answers without asking it for a while.
    assert time.monotonic() - started < 3
    page = metrics(gql)
    assert metric(page, "fenrun_replica_up") == 0
    assert metric(page, "fenrun_pinned_reads_total", server="primary", reason="replica_unreachable")
