"""The outbox: a command is written exactly when its deciding event is, and delivered at least
once, with backoff, superseding and the answer recorded (decision 0026)."""

from typing import Any
from uuid import NAMESPACE_URL, uuid5

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from application.outbox import Delivery, backoff
from domain.outbox import OutboxCommand


class Gadget(Aggregate):
    """A thing whose changes another system must hear of (a stand-in for a card or a payout)."""

    @staticmethod
    def create_id(code: str) -> Any:
        return uuid5(NAMESPACE_URL, f"test-gadget/{code}")

    @event("Created")
    def __init__(self, code: str) -> None:
        self.code = code
        self.setting = ""

    class Configured(Aggregate.Event):
        setting: str

        def apply(self, gadget: "Gadget") -> None:
            gadget.setting = self.setting

        def outbox_command(self) -> OutboxCommand:
            return OutboxCommand("gadget.configure", str(self.originator_id), {"set": self.setting})

    def configure(self, setting: str) -> None:
        self.trigger_event(self.Configured, setting=setting)


class Recorder:
    """A sender that fails a given number of times, then answers; records what it answered."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[Delivery] = []
        self.recorded: list[tuple[str, dict[str, Any]]] = []

    def send(self, delivery: Delivery) -> dict[str, Any]:
        self.sent.append(delivery)
        if self.failures:
            self.failures -= 1
            raise TimeoutError("the other system did not answer")
        return {"accepted": delivery.payload["set"]}

    def record(self, delivery: Delivery, answer: dict[str, Any]) -> None:
        self.recorded.append((delivery.command_id, answer))


def _rows(fenrun: Any, **filters: Any) -> list[Any]:
    return fenrun.outbox.rows(**filters)


def test_a_command_is_written_with_its_event_and_delivered_once(fenrun: Any) -> None:
    gadget = Gadget("g1")
    gadget.configure("on")
    recordings = fenrun.ledger.save(gadget)
    [row] = _rows(fenrun)
    assert row.kind == "gadget.configure"
    assert row.status == "PENDING"
    assert row.position == recordings[-1].notification.id
    assert row.command_id == f"gadget.configure:{gadget.id}:2"

    sender = Recorder()
    fenrun.dispatcher.register("gadget.configure", sender)
    assert fenrun.dispatcher.run_until_idle() == 1
    assert fenrun.dispatcher.run_until_idle() == 0
    [row] = _rows(fenrun)
    assert row.status == "DELIVERED"
    assert row.attempts == 1
    assert row.answer == '{"accepted":"on"}'
    assert sender.recorded == [(row.command_id, {"accepted": "on"})]


def test_a_refused_save_writes_no_command(fenrun: Any) -> None:
    gadget = Gadget("g1")
    fenrun.ledger.save(gadget)
    stale = fenrun.ledger.repository.get(gadget.id)
    gadget.configure("first")
    fenrun.ledger.save(gadget)
    stale.configure("conflicting")  # decided on an old version: its save conflicts
    with pytest.raises(IntegrityError):
        fenrun.ledger.save(stale)
    assert [r.payload for r in _rows(fenrun)] == ['{"set":"first"}']


def test_failures_are_retried_with_growing_waits_until_delivered(fenrun: Any) -> None:
    fenrun.dispatcher.backoff_seconds = (0.0, 0.0)  # due again at once: the test counts attempts
    sender = Recorder(failures=2)
    fenrun.dispatcher.register("gadget.configure", sender)
    gadget = Gadget("g1")
    gadget.configure("on")
    fenrun.ledger.save(gadget)
    fenrun.dispatcher.run_until_idle()
    [row] = _rows(fenrun)
    assert row.status == "DELIVERED"
    assert row.attempts == 3
    assert [d.attempt for d in sender.sent] == [1, 2, 3]
    assert {d.command_id for d in sender.sent} == {row.command_id}  # one id, every attempt


def test_a_failing_command_waits_and_then_is_given_up(fenrun: Any) -> None:
    fenrun.dispatcher.max_attempts = 2
    fenrun.dispatcher.register("gadget.configure", Recorder(failures=5))
    gadget = Gadget("g1")
    gadget.configure("on")
    fenrun.ledger.save(gadget)
    assert fenrun.dispatcher.run_once() == 1
    [row] = _rows(fenrun)
    assert row.status == "PENDING"
    assert "did not answer" in row.last_error
    assert fenrun.dispatcher.run_once() == 0  # waiting out its backoff
    fenrun.outbox.due_now(row.command_id)
    fenrun.dispatcher.run_once()
    [row] = _rows(fenrun)
    assert row.status == "GAVE_UP"
    assert row.attempts == 2


def test_backoff_doubles_with_jitter_up_to_the_longest_wait() -> None:
    for attempt, full in ((1, 2.0), (2, 4.0), (3, 8.0), (10, 60.0)):
        waits = {backoff(attempt, 2.0, 60.0) for _ in range(50)}
        assert all(full / 2 <= w <= full for w in waits)
        assert len(waits) > 1  # jittered


def test_a_newer_command_for_the_same_key_supersedes_an_undelivered_one(fenrun: Any) -> None:
    gadget = Gadget("g1")
    gadget.configure("on")
    fenrun.ledger.save(gadget)
    gadget.configure("off")
    fenrun.ledger.save(gadget)
    older, newer = _rows(fenrun)
    assert older.status == "SUPERSEDED"
    assert older.superseded_by == newer.command_id
    sender = Recorder()
    fenrun.dispatcher.register("gadget.configure", sender)
    fenrun.dispatcher.run_until_idle()
    assert [d.payload for d in sender.sent] == [{"set": "off"}]
    assert [r.status for r in _rows(fenrun, status="DELIVERED")] == ["DELIVERED"]


def test_a_kind_without_a_sender_waits(fenrun: Any) -> None:
    gadget = Gadget("g1")
    gadget.configure("on")
    fenrun.ledger.save(gadget)
    fenrun.dispatcher.register("something.else", Recorder())
    assert fenrun.dispatcher.run_until_idle() == 0
    assert _rows(fenrun)[0].status == "PENDING"
