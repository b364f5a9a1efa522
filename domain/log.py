"""The ledger's log as its readers see it: events that carry what their readers need, and the
port through which the read side reads the log (implemented by the application).

Events grow: an order's completion now carries the sale it completes, a wallet event the agent
it belongs to. Events stored before they did (class version 1) are upcast with those facts left
None, and filled from the first events of their own aggregate (the order's placement and
completion, the wallet's opening) when they are read: see `FilledFromHistory`. Readers never
see a None there (decision 0013).
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


class FilledFromHistory:
    """An event whose early stored shape lacks facts that its aggregate's first events hold.

    `FIRST_EVENTS` is how many of them it needs; `missing_facts` says whether this one was
    stored without them; `filled` returns it with them, from those first events (decoded, in
    version order)."""

    FIRST_EVENTS = 1

    def missing_facts(self) -> bool:
        raise NotImplementedError

    def filled(self, first: Sequence[Any]) -> Any:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    position: int  # in the notification log
    recorded_at: datetime
    event: Any


class EventLog(Protocol):
    """Every event of the ledger's log up to a position, in log order, with its recorded time."""

    def logged(self, up_to: int) -> Iterator[LoggedEvent]: ...
