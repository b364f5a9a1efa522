"""The Ledger's loaders of the aggregates that the money-out, statement, card and carrier use
cases work on: payees, withdrawal limits, account freezes, statement books, cards read in bulk,
enterprises, the carriers' answers; and an aggregate's history up to a position (auditors). A
mixin of the Ledger (application/ledger.py), which holds the generic loading (`_find`, `agent`)
and the use-case table.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import orjson
from eventsourcing.domain import Aggregate

from domain.account_freeze import AccountFreeze
from domain.agent import Agent
from domain.card import Card
from domain.carrier_command import CarrierCommandAnswer
from domain.common import aggregate_id
from domain.enterprise import Enterprise
from domain.payee import INDIVIDUAL, Payee
from domain.statement import StatementBook
from domain.withdrawal_limits import WithdrawalLimitsHistory

T = TypeVar("T", bound=Aggregate)


class RepositoryReads:
    recorder: Any
    mapper: Any

    def _find(self, cls: type[T], aggregate: UUID) -> T | None:
        raise NotImplementedError

    def agent(self, code: str, field: str = "agentCode") -> Agent:
        raise NotImplementedError

    # -- money out: payees, limits, freezes -------------------------------------------------------
    def withdrawal_limits(self) -> WithdrawalLimitsHistory | None:
        return self._find(WithdrawalLimitsHistory, WithdrawalLimitsHistory.create_id())

    def account_freeze(self, agent_code: str) -> AccountFreeze:
        found = self._find(AccountFreeze, AccountFreeze.create_id(agent_code))
        if found is None:
            self.agent(agent_code)
            return AccountFreeze.start(agent_code)
        return found

    def payee(self, agent_code: str) -> Payee:
        found = self.existing_payee(agent_code)
        if found is None:
            self.agent(agent_code)
            return Payee.start(agent_code)
        return found

    def existing_payee(self, agent_code: str) -> Payee | None:
        return self._find(Payee, Payee.create_id(agent_code))

    def real_name_verified(self, agent: Agent, at: datetime) -> bool:
        """As registered, unless an operator changed it since (domain/payee.py)."""
        payee = self.existing_payee(agent.code)
        if payee is None:
            return bool(agent.real_name_verified)
        return payee.verification(at, agent.real_name_verified)[0]

    def entity_type(self, agent_code: str, at: datetime) -> str:
        payee = self.existing_payee(agent_code)
        return payee.entity_type(at) if payee else INDIVIDUAL

    def refuse_frozen_account(self, agent_code: str) -> None:
        """Risk control: a frozen account cannot withdraw (domain/account_freeze.py)."""
        found = self._find(AccountFreeze, AccountFreeze.create_id(agent_code))
        if found is not None:
            found.refuse_withdrawal()

    # -- statements ---------------------------------------------------------------------------------
    def statement_books(self, agent_codes: list[str]) -> dict[str, StatementBook]:
        """The agents' statement books, read in one query (new ones opened, not yet saved)."""
        ids = {StatementBook.create_id(code): code for code in agent_codes}
        histories = self.recorder.select_histories(list(ids))  # type: ignore[attr-defined]
        books: dict[str, StatementBook] = {}
        for book_id, code in ids.items():
            book = None
            for stored in histories.get(book_id, ()):
                book = self.mapper.to_domain_event(stored).mutate(book)
            books[code] = book if book is not None else StatementBook.open(code)
        return books

    # -- cards, enterprises, carriers -------------------------------------------------------------
    def cards(self, iccids: Iterable[str]) -> dict[str, Card | None]:
        """Many cards in one query (a settlement file's rows): None for those not known."""
        ids = {aggregate_id("card", iccid): iccid for iccid in iccids}
        found: dict[str, Card | None] = dict.fromkeys(ids.values())
        histories = self.recorder.select_histories(ids)  # type: ignore[attr-defined]
        for originator_id, stored in histories.items():
            card = None
            for event in self.mapper.decode_all(stored):  # type: ignore[attr-defined]
                card = event.mutate(card)
            found[ids[originator_id]] = card
        return found

    def find_enterprise(self, code: str) -> Enterprise | None:
        return self._find(Enterprise, aggregate_id("enterprise", code))

    def carrier_answer(self, command_id: str) -> CarrierCommandAnswer | None:
        """The carrier's recorded answer to a command (decision 0031), if any yet."""
        return self._find(CarrierCommandAnswer, aggregate_id("carrier-command", command_id))

    # -- history ---------------------------------------------------------------------------------
    def events_of(self, originator_id: UUID, up_to_position: int | None) -> list[Any]:
        """The aggregate's events recorded at or before a log position (all if None)."""
        return [
            self.mapper.to_domain_event(n)
            for n in self._notifications_of(originator_id, up_to_position)
        ]

    def _notifications_of(self, originator_id: UUID, up_to: int | None) -> Iterable[Any]:
        found = self.recorder.select_histories([originator_id], stop=up_to)  # type: ignore[attr-defined]
        return found.get(originator_id, [])

    def replay(self, originator_id: UUID, up_to_position: int | None) -> dict[str, Any] | None:
        """Rebuilds an aggregate from its events recorded at or before a position (auditors)."""
        aggregate = None
        for event in self.events_of(originator_id, up_to_position):
            aggregate = event.mutate(aggregate)
        if aggregate is None:
            return None
        state = {k: v for k, v in vars(aggregate).items() if not k.startswith("_")}
        return {
            "version": aggregate.version,
            "state": orjson.loads(orjson.dumps(state, default=_plain)),
        }


def _plain(value: object) -> object:
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, UUID):
        return str(value)
    return str(value)
