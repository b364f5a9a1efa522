"""Group commit (decision 0036): orders decided one after another, each on the state the ones
before it left, saved in one transaction; each refused alone; still exactly once."""

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from application.group_commit import GroupCommit, _Ticket
from application.ledger import GENERATED_KEY_PREFIX
from application.use_cases.orders import CompleteOrder, PlaceOrder
from domain.common import Audit
from domain.errors import AlreadyExists, InsufficientDeposit, PackageNotFound

AT = datetime(2026, 1, 5, 9, tzinfo=timezone(timedelta(hours=8)))
AUDIT = Audit("tester", AT, "test")


@pytest.fixture
def chain(fenrun: Any, clock: Any) -> Any:
    """A sells package P at 80.00 cost (retail 100.00); A's deposit holds 100.00."""
    clock.set(AT)
    ledger = fenrun.ledger
    ledger.register_agent("A", "Agent A", None, True, AUDIT)
    ledger.define_package("P", "Traffic", "TRAFFIC", 5000, 1, AUDIT)
    ledger.set_cost_price("A", "P", 8000, AUDIT)
    ledger.set_retail_price("A", "P", 10000, AUDIT)
    ledger.top_up_deposit("A", 10000, AUDIT)
    return fenrun


def place(order_id: str, key: str | None = None, package: str = "P", prepaid: bool = False) -> Any:
    flow = "AGENT_PREPAID" if prepaid else "CUSTOMER_PAYS"
    return PlaceOrder(order_id, package, "A", None, "b", flow, AUDIT, key)


def ticket(command: Any) -> _Ticket:
    key = command.idempotency_key
    return _Ticket(command, key or f"{GENERATED_KEY_PREFIX}{order_of(command)}", key is not None)


def order_of(command: Any) -> str:
    return f"{command.order_id}-{id(command)}"


def orders(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT topic, count(*) FROM ledger_events WHERE topic LIKE '%Order.%' GROUP BY 1"
        ).fetchall()
    return {topic.rsplit(".", 1)[1]: n for topic, n in rows}


def test_one_transaction_each_decided_on_the_state_before_it_and_refused_alone(
    chain: Any, dsn: str
) -> None:
    group = GroupCommit(chain.ledger)
    tickets = [
        ticket(place("O1", prepaid=True)),  # takes 80.00 of the 100.00 deposit
        ticket(place("O2", package="NOPE")),  # refused: no such package
        ticket(place("O3", prepaid=True)),  # refused: 20.00 left, on the state O1 left
        ticket(place("O4", "k4")),
        ticket(CompleteOrder("O1", AUDIT)),  # sees O1, placed earlier in the same group
    ]
    group._run(tickets)
    assert isinstance(tickets[1].error, PackageNotFound)
    assert isinstance(tickets[2].error, InsufficientDeposit)
    positions = [t.result().position for t in (tickets[0], tickets[3], tickets[4])]
    assert positions == sorted(positions)
    assert positions[-1] - positions[0] < 10  # one save: O1's key, O4's key, the completion's
    assert orders(dsn) == {"Placed": 2, "Completed": 1}
    assert chain.ledger.wallet("A").balances["deposit"] == 2000
    # a retry under O4's key is answered from its record, same position
    again = chain.ledger.commit(place("O4", "k4"))
    assert again.replayed
    assert again.position == tickets[3].result().position


def test_a_key_met_twice_in_a_group_is_written_once(chain: Any, dsn: str) -> None:
    tickets = [ticket(place("O1", "same")), ticket(place("O1", "same"))]
    GroupCommit(chain.ledger)._run(tickets)
    first, second = (t.result() for t in tickets)
    assert second.replayed
    assert second.position == first.position
    assert orders(dsn) == {"Placed": 1}


def test_a_failed_save_commits_each_alone(chain: Any, dsn: str) -> None:
    """Two orders with one id under two keys both pass the check in the group (neither exists
    yet): the group's save conflicts, nothing of it is written, and each then commits alone."""
    tickets = [ticket(place("O1", "a")), ticket(place("O1", "b")), ticket(place("O2", "c"))]
    GroupCommit(chain.ledger)._run(tickets)
    assert tickets[0].result().position > 0
    assert isinstance(tickets[1].error, AlreadyExists)
    assert tickets[2].result().position > tickets[0].result().position
    assert orders(dsn) == {"Placed": 2}


def test_concurrent_requests_exactly_once(chain: Any, dsn: str) -> None:
    """16 threads, 40 orders, each placed by two threads under its key: every order once, both
    senders answered the same position."""
    group = GroupCommit(chain.ledger)
    answers: dict[int, list[Any]] = {}
    lock = threading.Lock()

    def sender(offset: int) -> None:
        for n in range(offset % 8, 40, 8):
            done = group.commit(place(f"C{n}", f"key-{n}"))
            with lock:
                answers.setdefault(n, []).append(done.position)

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == list(range(40))
    assert all(len(set(p)) == 1 and len(p) == 2 for p in answers.values()), answers
    assert orders(dsn) == {"Placed": 40}


def test_an_order_id_used_twice_is_refused_alone(chain: Any) -> None:
    chain.ledger.place_order("O1", "P", "A", None, "b", "CUSTOMER_PAYS", AUDIT)
    tickets = [ticket(place("O1")), ticket(place("O9"))]
    GroupCommit(chain.ledger)._run(tickets)
    assert isinstance(tickets[0].error, AlreadyExists)
    assert tickets[1].result().position > 0
