"""Dropped database connections during writes (issue 9 findings 3 and 4).

Writers send top-ups over HTTP, half with an idempotency key and half without, while another
connection terminates every backend of the service again and again. Then every write's answer
is compared with the log (each write has its own actor): nothing may be applied twice, no
applied write may be answered as an error, no write answered as a success may be missing.
The figures are printed (pytest -s); DROP_SEED replays a sequence of kill moments.
"""

import os
import random
import threading
import time
from collections import Counter
from typing import Any

import httpx
import psycopg

from api.bootstrap import bootstrap
from application.log import LedgerLog
from application.settings import Settings
from domain.wallet import Wallet
from tests.e2e.conftest import GraphQLClient, serving

SEED = int(os.environ.get("DROP_SEED", random.randrange(2**32)))
WRITERS = 4
WRITES_EACH = 25
TOP_UP = (
    "mutation($input: TopUpDepositInput!) { topUpDeposit(input: $input)"
    " { wallet { deposit } userErrors { code } } }"
)


def answer_of(response: httpx.Response) -> str:
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        return f"error: {body.get('errors') or response.status_code}"
    errors = body["data"]["topUpDeposit"]["userErrors"]
    return f"refused: {errors[0]['code']}" if errors else "ok"


def write(server: str, writer: int, answers: dict[str, str]) -> None:
    with httpx.Client(base_url=server, timeout=120) as http:
        for i in range(WRITES_EACH):
            actor = f"w{writer}-{i}"
            given = {"agentCode": "A", "amount": "1.00"}
            if i % 2:
                given["idempotencyKey"] = actor
            try:
                response = http.post(
                    "/graphql",
                    json={"query": TOP_UP, "variables": {"input": given}},
                    headers={"x-fenrun-actor": actor},
                )
                answers[actor] = answer_of(response)
            except httpx.HTTPError as exc:
                answers[actor] = f"error: {exc!r}"


def drop_connections(dsn: str, stop: threading.Event, kills: list[int]) -> None:
    rng = random.Random(SEED)
    with psycopg.connect(dsn, autocommit=True, application_name="fenrun-test-killer") as conn:
        while not stop.is_set():
            row = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
            kills.append(row[0] if row else 0)
            stop.wait(rng.uniform(0.3, 1.0))


def test_dropped_connections_neither_double_writes_nor_hide_them(dsn: str, tmp_path: Any) -> None:
    # A shorter wait for catching up: its rounds retry lost connections for seconds. Without
    # authentication (loopback): each write names itself in the actor header, so that the log
    # tells which writes were applied.
    settings = Settings(
        database_url=dsn, mutation_catch_up_seconds=2, auth="off", data_dir=tmp_path
    )
    fenrun = bootstrap(settings, run_migrations=False)
    try:
        with serving(fenrun) as server:
            figures, others = dropping_connections_while_writing(fenrun, server, dsn)
    finally:
        fenrun.close()
    print("dropped connections:", figures)
    assert figures["writes"] == WRITERS * WRITES_EACH
    assert figures["backends_terminated"] >= 10, figures
    assert figures["applied_twice"] == 0, figures
    assert figures["applied_but_answered_as_error"] == 0, (figures, others)
    assert figures["answered_ok_but_not_applied"] == 0, figures
    assert figures["answered_ok"] >= figures["writes"] // 2, (figures, others)


def dropping_connections_while_writing(
    fenrun: Any, server: str, dsn: str
) -> tuple[dict[str, Any], list[str]]:
    GraphQLClient(server, fenrun, "setup", None).ok("registerAgent", {"code": "A", "name": "A"})
    with psycopg.connect(dsn) as conn:
        names = {r[0] for r in conn.execute("SELECT application_name FROM pg_stat_activity")}
    assert {"fenrun-ledger", "fenrun-views"} <= names  # the service's pools say who they are

    answers: dict[str, str] = {}
    kills: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=drop_connections, args=(dsn, stop, kills), daemon=True)
    writers = [
        threading.Thread(target=write, args=(server, w, answers), daemon=True)
        for w in range(WRITERS)
    ]
    started = time.monotonic()
    killer.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    stop.set()
    killer.join(timeout=10)
    seconds = time.monotonic() - started
    assert not any(t.is_alive() for t in writers), "writers hung"

    head = fenrun.ledger.recorder.max_notification_id()  # retried after a lost connection
    applied = Counter(
        e.actor for e in LedgerLog(fenrun.ledger).events([Wallet.DepositToppedUp], head)
    )
    ok = {actor for actor, answer in answers.items() if answer == "ok"}
    figures = {
        "seed": SEED,
        "seconds": round(seconds, 1),
        "backends_terminated": sum(kills),
        "writes": len(answers),
        "answered_ok": len(ok),
        "answered_otherwise": len(answers) - len(ok),
        "applied": len(applied),
        "applied_twice": sum(1 for n in applied.values() if n > 1),
        "applied_but_answered_as_error": len(set(applied) - ok),
        "answered_ok_but_not_applied": len(ok - set(applied)),
    }
    return figures, sorted({a for a in answers.values() if a != "ok"})


def test_a_write_whose_payload_cannot_be_read_is_still_a_success(
    gql: GraphQLClient, fenrun: Any, monkeypatch: Any
) -> None:
    """The write committed, then the connection to the views was lost: the answer is the
    write's result and position, its view fields empty, never "Unexpected error."."""
    from projections.queries import ReadModel

    gql.ok("registerAgent", {"code": "A", "name": "A"})

    def lost(self: ReadModel) -> Any:
        raise psycopg.OperationalError("server closed the connection unexpectedly (test)")

    monkeypatch.setattr(ReadModel, "progress", lost)
    body = gql(TOP_UP, {"input": {"agentCode": "A", "amount": "5.00"}})
    assert body["data"]["topUpDeposit"] == {"wallet": None, "userErrors": []}
    assert body["extensions"]["readAt"] is None
    assert int(body["extensions"]["position"]) == fenrun.ledger.recorder.max_notification_id()
    monkeypatch.undo()
    assert fenrun.ledger.wallet("A").balances["deposit"] == 500
