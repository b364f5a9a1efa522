"""The truth at the write edge (issue 9 findings 3 and 4, issue 15's hang).

- A write whose commit succeeded but whose acknowledgement was lost (the library retries the
  insert, which then fails on the events' keys) is recognised by its idempotency key, generated
  when the client gave none: applied once, answered as a success with its position.
- Conflict retries that run out answer CONFLICT_RETRY and save nothing.
- A save of 50,000 events finishes (psycopg's pipeline mode deadlocked on it).
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from application.commands import Decision
from application.log import LedgerLog, LedgerRecorder
from application.results import DepositToppedUp
from application.use_cases.wallets import TopUpDeposit
from domain.common import Audit, aggregate_id
from domain.errors import ConflictRetriesExhausted, InvalidInput
from domain.idempotency import IdempotencyKey
from domain.wallet import Wallet

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def audit(actor: str = "finance-1") -> Audit:
    return Audit(actor, T0, "")


def deposits(fenrun: Any) -> list[Any]:
    head = fenrun.read.log_head()
    return list(LedgerLog(fenrun.ledger).events([Wallet.DepositToppedUp], head))


@contextmanager
def acknowledgements_lost(times: int) -> Iterator[list[int]]:
    """The next `times` transactions that insert events commit, and then their connection
    fails before the client hears back (as when the network drops the server's answer). A
    save that is one statement has committed when its rows come back; one in a transaction
    when the transaction is left."""
    inserting = threading.local()
    lost: list[int] = []
    fetch, leave = LedgerRecorder._fetch_ids_after_insert_events, psycopg.Transaction.__exit__

    def fetched(self: Any, curs: Any, *args: Any, **kwargs: Any) -> Any:
        answer = fetch(self, curs, *args, **kwargs)
        committed = curs.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if committed and len(lost) < times:
            lost.append(1)
            raise psycopg.OperationalError("server closed the connection unexpectedly (test)")
        inserting.now = not committed
        return answer

    def left(self: psycopg.Transaction, *exc: Any) -> Any:
        answer = leave(self, *exc)
        if getattr(inserting, "now", False) and exc[0] is None and len(lost) < times:
            inserting.now = False
            lost.append(1)
            raise psycopg.OperationalError("server closed the connection unexpectedly (test)")
        inserting.now = False
        return answer

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LedgerRecorder, "_fetch_ids_after_insert_events", fetched)
        patch.setattr(psycopg.Transaction, "__exit__", left)
        yield lost


@pytest.mark.parametrize("key", [None, "client-key-1"])
def test_a_write_whose_acknowledgement_was_lost_is_applied_once(fenrun: Any, key: Any) -> None:
    ledger = fenrun.ledger
    ledger.register_agent("A", "A", None, True, audit())
    with acknowledgements_lost(times=1) as lost:
        done = ledger.commit(TopUpDeposit("A", 5000, audit(), key))
    assert lost == [1], "the fault was not injected"
    assert done.result == DepositToppedUp("A", 5000)
    assert ledger.wallet("A").balances["deposit"] == 5000
    assert len(deposits(fenrun)) == 1
    # Answered from the key's record of the first attempt, at that write's position (its key
    # is the last event it saved).
    assert done.replayed
    assert (
        done.position
        == fenrun.read.log_head()
        == ledger.recorder.position_of(aggregate_id("idempotency", done.key))
    )


def test_every_command_records_a_key_a_generated_one_recognisable(fenrun: Any) -> None:
    ledger = fenrun.ledger
    ledger.register_agent("A", "A", None, True, audit())
    done = ledger.commit(TopUpDeposit("A", 100, audit()))
    assert done.key.startswith("fenrun:generated:")
    record = ledger.repository.get(aggregate_id("idempotency", done.key))
    assert isinstance(record, IdempotencyKey)
    assert record.result == {"type": "DepositToppedUp", "agent_code": "A", "deposit_fen": 100}
    # The write's position is the newest of its events (the key's is saved with them).
    assert done.position == fenrun.read.log_head()
    again = ledger.commit(TopUpDeposit("A", 100, audit(), "k-1"))
    assert ledger.commit(TopUpDeposit("A", 100, audit(), "k-1")).position == again.position
    with pytest.raises(InvalidInput, match="server"):
        ledger.commit(TopUpDeposit("A", 100, audit(), "fenrun:generated:mine"))
    assert ledger.wallet("A").balances["deposit"] == 200


@dataclass(frozen=True)
class ContendedTopUp(TopUpDeposit):
    """A top-up during each of whose decisions another writer tops up the same wallet."""

    def decide(self, ledger: Any) -> Decision[DepositToppedUp]:
        decided = super().decide(ledger)
        ledger.top_up_deposit(self.agent_code, 1, audit("other-writer"))
        return decided


def test_conflict_retries_that_run_out_answer_conflict_retry_and_save_nothing(
    fenrun: Any,
) -> None:
    ledger = fenrun.ledger
    ledger.register_agent("A", "A", None, True, audit())
    with pytest.raises(ConflictRetriesExhausted) as refused:
        ledger.commit(ContendedTopUp("A", 5000, audit(), "contended"))
    assert refused.value.code == "CONFLICT_RETRY"
    interfering = [e for e in deposits(fenrun) if e.actor == "other-writer"]
    assert ledger.wallet("A").balances["deposit"] == len(interfering) >= 2
    assert not ledger.key_used("contended")
    # Sent again without interference, the same command succeeds.
    assert ledger.commit(TopUpDeposit("A", 5000, audit(), "contended")).result.deposit_fen == (
        5000 + len(interfering)
    )


@dataclass(frozen=True)
class TopUpManyTimes(TopUpDeposit):
    """One command's worth of many events: a wallet topped up fen by fen, `amount_fen` times.
    (Not a Command of its own: the tests of the use cases count those.)"""

    def decide(self, ledger: Any) -> Decision[DepositToppedUp]:
        wallet = ledger.wallet(self.agent_code)
        for _ in range(self.amount_fen):
            wallet.top_up(1, self.audit)
        return [wallet], DepositToppedUp(self.agent_code, wallet.balances["deposit"])


def test_a_save_of_50000_events_finishes(fenrun: Any) -> None:
    ledger = fenrun.ledger
    ledger.register_agent("A", "A", None, True, audit())
    answers: list[Any] = []
    saving = threading.Thread(
        target=lambda: answers.append(ledger.commit(TopUpManyTimes("A", 50_000, audit()))),
        daemon=True,
    )
    saving.start()
    saving.join(timeout=180)
    assert not saving.is_alive(), "the save of 50,000 events hung"
    [done] = answers
    assert done.result.deposit_fen == 50_000
    assert fenrun.read.log_head() == done.position
    assert len(deposits(fenrun)) == 50_000
