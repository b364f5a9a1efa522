"""A pin in one statement answers what the views' progress and a second look-up answered, and a
wallet in one statement what the agent's and the balances' reads answered (decision 0033)."""

from datetime import UTC, datetime

from domain.common import Audit
from domain.wallet import BUCKETS
from projections.queries import VIEWS

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _reference(read, views: tuple[str, ...]) -> tuple[int, datetime | None]:
    """The two-step answer: every view's progress, then the recorded time of the position."""
    ready = read.progress().reached(views)
    return ready, read.recorded_at(ready) if ready else None


def test_a_pin_in_one_statement_answers_as_the_progress_and_its_time(fenrun, clock) -> None:
    clock.set(T0)
    read = fenrun.read
    assert read.pin(views=("directory",)).position == 0  # nothing recorded, nothing projected
    fenrun.ledger.register_agent("A", "A", None, True, Audit("finance-1", T0, ""))
    fenrun.catch_up()
    fenrun.ledger.register_agent("B", "B", "A", True, Audit("finance-1", T0, ""))
    for views in [("directory",), ("wallet_balances", "directory"), VIEWS, ()]:
        pinned = read.pin(views=views)
        assert (pinned.position, pinned.as_of) == _reference(read, views), views
        assert pinned.position > 0, views
    fenrun.catch_up()
    pinned = read.pin(views=("directory",))
    assert (pinned.position, pinned.as_of) == _reference(read, ("directory",))
    assert pinned.as_of is not None


def test_a_wallet_in_one_statement(fenrun, clock) -> None:
    clock.set(T0)
    fenrun.ledger.register_agent("A", "A", None, True, Audit("finance-1", T0, ""))
    fenrun.catch_up()
    at = fenrun.read.pin(views=("directory", "wallet_balances")).position
    assert fenrun.read.wallet("A", at) == dict.fromkeys(BUCKETS, 0)  # registered, no movement
    assert fenrun.read.wallet("A", 0) is None  # not yet registered there
    for position in range(at + 1):  # as the agent's own read says, at every position
        registered = fenrun.read.agent("A", position) is not None
        assert (fenrun.read.wallet("A", position) is not None) == registered, position
    assert fenrun.read.wallet("nobody", at) is None
