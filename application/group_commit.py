"""Group commit: orders that arrive together are saved in one transaction (decision 0036).

Requests commit from many threads at once; each save took the log's table lock for a
transaction of its own. Here the first thread to arrive leads: it takes the commands waiting
(up to `most`) and decides them one after another, each against the state the ones before it
left (`Ledger._find` hands it copies of what they changed), then saves them all, with their
idempotency keys, in one transaction; the others wait for their answer. While it saves, the
next group gathers, and one of its threads leads it.

Still exactly once, each refused alone:
- a command refused (a LedgerError) is answered with it and changes nothing: it worked on copies;
- a key met twice in a group, or already recorded, is answered by `Ledger.commit_under`, which
  looks it up (after the group's save, so a retry racing its first request is a replay);
- if the group's save fails (a conflict with another writer, a lost connection), nothing of it
  was written, or what was is found under its keys: every command of the group is committed
  again alone, under its key, by the ordinary path (which answers from the key when found).

Only commands listed in GROUPED take part: those that load what they change through `_find`
(the others commit alone, as before).
"""

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import structlog

from application.commands import Command
from application.ledger import GENERATED_KEY_PREFIX, RESERVED_KEY_PREFIX, Committed, Ledger
from application.results import to_record
from application.use_cases.orders import CompleteOrder, PlaceOrder
from domain.errors import LedgerError
from domain.idempotency import IdempotencyKey

log = structlog.get_logger(__name__)
GROUPED = (PlaceOrder, CompleteOrder)


class Collision(Exception):
    """Two commands of a group made the same aggregate each on its own."""


@dataclass
class _Ticket:
    command: Command[Any]
    key: str
    given: bool
    answer: Committed[Any] | None = None
    error: BaseException | None = None
    done: bool = False

    def result(self) -> Committed[Any]:
        if self.error is not None:
            raise self.error
        assert self.answer is not None
        return self.answer


class GroupCommit:
    def __init__(self, ledger: Ledger, most: int = 16) -> None:
        self.ledger = ledger
        self.most = most
        self._changed = threading.Condition()
        self._waiting: list[_Ticket] = []
        self._leading = False
        self.together = 0  # commands saved in a group of more than one (tests, metrics)

    def commit(self, command: Command[Any]) -> Committed[Any]:
        if self.most < 2 or not isinstance(command, GROUPED):
            return self.ledger.commit(command)
        given = command.idempotency_key
        if given is not None and given.startswith(RESERVED_KEY_PREFIX):
            return self.ledger.commit(command)  # refused there, as for any command
        key = given or f"{GENERATED_KEY_PREFIX}{uuid4()}"
        mine = _Ticket(command, key, given is not None)
        with self._changed:
            self._waiting.append(mine)
            while self._leading and not mine.done:
                self._changed.wait()
            if mine.done:
                return mine.result()
            self._leading = True
            group = [mine, *[t for t in self._waiting if t is not mine][: self.most - 1]]
            self._waiting = [t for t in self._waiting if all(t is not g for g in group)]
        try:
            self._run(group)
        finally:
            with self._changed:
                for ticket in group:
                    ticket.done = True
                self._leading = False
                self._changed.notify_all()
        return mine.result()

    def _run(self, group: Sequence[_Ticket]) -> None:
        alone = list(group)
        if len(group) > 1:
            try:
                alone = self._together(group)
            except Exception:
                log.warning("group_commit.failed", commands=len(group), exc_info=True)
                alone = list(group)  # nothing saved, or found under the keys: each alone
                for ticket in alone:
                    ticket.answer, ticket.error = None, None
        for ticket in alone:
            try:
                ticket.answer = self.ledger.commit_under(ticket.key, ticket.command)
            except BaseException as exc:
                ticket.error = exc

    def _together(self, group: Sequence[_Ticket]) -> list[_Ticket]:
        """Decides the group in order and saves what it changed in one transaction; returns the
        tickets left to commit alone (keys met twice). Raises if the save fails."""
        ledger = self.ledger
        changed: dict[Any, Any] = {}
        keys: set[str] = set()
        saved: list[tuple[_Ticket, IdempotencyKey, Any]] = []
        later: list[_Ticket] = []
        expected: dict[Any, int] = {}  # kept copies read unchecked: the save checks them
        ledger._group.changed, ledger._group.copies = changed, set()
        try:
            for ticket in group:
                if ticket.key in keys:
                    later.append(ticket)
                    continue
                try:
                    decided = self._decide(ticket)
                except LedgerError as exc:
                    ticket.error = exc
                    continue
                if decided is None:
                    continue  # answered from its key's record
                aggregates, used, result, read = decided
                for aggregate in aggregates:
                    if aggregate.id in changed and id(aggregate) not in ledger._group.copies:
                        # made anew, not from the group's copy (one order id placed twice): the
                        # store's conflict decides, each command alone
                        raise Collision(aggregate.id)
                keys.add(ticket.key)
                changed.update((a.id, a) for a in aggregates)
                expected.update(read)
                saved.append((ticket, used, result))
        finally:
            ledger._group.changed, ledger._group.copies = None, set()
        if saved:
            try:
                recordings = ledger.save(
                    *changed.values(), *(used for _, used, _ in saved), expected=expected
                )
            except Exception:
                ledger.kept_changes.forget(changed)
                ledger.kept.forget(expected)
                raise
            ledger.kept_changes.keep(changed.values())
            at = {r.domain_event.originator_id: r.notification.id for r in recordings}
            for ticket, used, result in saved:
                ticket.answer = Committed(result, at[used.id], ticket.key)
            self.together += len(saved)
        return later

    def _decide(
        self, ticket: _Ticket
    ) -> tuple[list[Any], IdempotencyKey, Any, dict[Any, int]] | None:
        ledger, command = self.ledger, ticket.command
        first = ticket.given and command.look_up_key_first
        if first and (answered := ledger._answered(ticket.key, command)) is not None:
            ticket.answer = answered
            return None
        try:
            with ledger.kept.unchecked() as read:
                try:
                    aggregates, result = ledger.decide(command)
                except LedgerError:
                    if not read:
                        raise
                    read = None  # refused on kept copies: it stands if refused checked
            if read is None:
                aggregates, result = ledger.decide(command)
        except LedgerError:  # a retry refused by what its first request did: the key answers
            if ticket.given and not first and (answered := ledger._answered(ticket.key, command)):
                ticket.answer = answered
                return None
            raise
        return (
            list(aggregates),
            IdempotencyKey.use(ticket.key, command.digest(), to_record(result)),
            result,
            read or {},
        )
