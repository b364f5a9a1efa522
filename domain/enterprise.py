"""An enterprise customer (B端企业客户): buys cards in bulk and manages them against a pool.

Its cards share a pool with a quota (MB); inside it each card may have a limit. A card over its
limit is stopped (单卡超额); when the pool is used up, a STOP_ALL enterprise has all its cards
stopped, a STOP_OVER_LIMIT one only those over their limit (the others run on). Topping the
pool up (or anything that brings a card back within its rules) resumes what the rules stopped.
The decisions are events here; the carrier is told through the outbox (decision 0030).
"""

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, aggregate_id, require_code
from domain.errors import InvalidInput
from domain.lifecycle import CarrierCommand, CommandCause
from domain.values import MEGABYTES, NAME

MB = 1 << 20
MAX_CARDS = 100_000


class StopMode(StrEnum):
    STOP_ALL = "STOP_ALL"  # the pool used up stops every card
    STOP_OVER_LIMIT = "STOP_OVER_LIMIT"  # only the cards over their own limit are stopped


class Enterprise(Aggregate):
    class Created(Aggregate.Created):
        code: str
        name: str
        pool_quota_mb: int
        card_limit_mb: int | None
        stop_mode: str
        actor: str
        effective_at: datetime
        reason: str

    class CardsAssigned(Aggregate.Event):
        iccids: list[str]
        actor: str
        effective_at: datetime
        reason: str

        def apply(self, enterprise: "Enterprise") -> None:
            enterprise.iccids.extend(self.iccids)

    class PoolToppedUp(Aggregate.Event):
        amount_mb: int
        pool_quota_mb: int  # the quota after it
        actor: str
        effective_at: datetime
        reason: str

        def apply(self, enterprise: "Enterprise") -> None:
            enterprise.pool_quota_mb = self.pool_quota_mb

    class CarrierCommandsDecided(Aggregate.Event):
        """Stop or resume commands for some of its cards: [iccid, command, command id, cause]."""

        commands: list[list[str]]
        pool_used_bytes: int
        pool_quota_bytes: int
        actor: str
        effective_at: datetime
        reason: str

        def apply(self, enterprise: "Enterprise") -> None:
            for iccid, command, _, cause in self.commands:
                if command == CarrierCommand.STOP:
                    enterprise.stopped[iccid] = cause
                else:
                    enterprise.stopped.pop(iccid, None)
            enterprise.decisions += 1

    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return aggregate_id("enterprise", code)

    @classmethod
    def create(
        cls,
        code: str,
        name: str,
        pool_quota_mb: int,
        card_limit_mb: int | None,
        stop_mode: str,
        audit: Audit,
    ) -> "Enterprise":
        require_code(code, "code")
        NAME.check(name, "name")
        MEGABYTES.check(pool_quota_mb, "poolQuotaMb")
        if card_limit_mb is not None:
            MEGABYTES.check(card_limit_mb, "cardLimitMb")
        if stop_mode not in StopMode.__members__:
            raise InvalidInput("stopMode", f"stopMode must be one of {', '.join(StopMode)}")
        return cls._create(
            cls.Created,
            code=code,
            name=name,
            pool_quota_mb=pool_quota_mb,
            card_limit_mb=card_limit_mb,
            stop_mode=stop_mode,
            **audit.fields(),
        )

    @event(Created)
    def __init__(
        self,
        code: str,
        name: str,
        pool_quota_mb: int,
        card_limit_mb: int | None,
        stop_mode: str,
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.code = code
        self.name = name
        self.pool_quota_mb = pool_quota_mb
        self.card_limit_mb = card_limit_mb
        self.stop_mode = stop_mode
        self.created_at = effective_at
        self.iccids: list[str] = []
        self.stopped: dict[str, str] = {}  # iccid -> cause, for the stops decided here
        self.decisions = 0

    def assign_cards(self, iccids: list[str], audit: Audit) -> None:
        if not iccids:
            raise InvalidInput("iccids", "name at least one card")
        if len(set(iccids)) != len(iccids):
            raise InvalidInput("iccids", "a card is named twice")
        if len(self.iccids) + len(iccids) > MAX_CARDS:
            raise InvalidInput("iccids", f"an enterprise holds at most {MAX_CARDS} cards")
        self.trigger_event(self.CardsAssigned, iccids=list(iccids), **audit.fields())

    def top_up_pool(self, amount_mb: int, audit: Audit) -> None:
        MEGABYTES.check(amount_mb, "amountMb")
        if amount_mb == 0:
            raise InvalidInput("amountMb", "a top-up adds at least 1 MB")
        MEGABYTES.check(self.pool_quota_mb + amount_mb, "amountMb")
        self.trigger_event(
            self.PoolToppedUp,
            amount_mb=amount_mb,
            pool_quota_mb=self.pool_quota_mb + amount_mb,
            **audit.fields(),
        )

    def wanted_stops(self, usage: dict[str, int]) -> dict[str, CommandCause]:
        """The cards the rules stop now, with why, given each card's bytes this month."""
        limit = None if self.card_limit_mb is None else self.card_limit_mb * MB
        pool_over = sum(usage.get(i, 0) for i in self.iccids) > self.pool_quota_mb * MB
        wanted: dict[str, CommandCause] = {}
        for iccid in self.iccids:
            if limit is not None and usage.get(iccid, 0) > limit:
                wanted[iccid] = CommandCause.CARD_LIMIT
            elif pool_over and self.stop_mode == StopMode.STOP_ALL:
                wanted[iccid] = CommandCause.POOL_QUOTA
        return wanted

    def changes(self, usage: dict[str, int]) -> list[tuple[str, CarrierCommand, CommandCause]]:
        """What the rules change now: stops for cards they stop and the pool has not, resumes
        for cards the pool stopped that they no longer do."""
        wanted = self.wanted_stops(usage)
        return [
            (iccid, CarrierCommand.STOP, cause)
            for iccid, cause in wanted.items()
            if iccid not in self.stopped
        ] + [
            (iccid, CarrierCommand.RESUME, CommandCause.WITHIN_QUOTA)
            for iccid in self.stopped
            if iccid not in wanted
        ]

    def record_decisions(
        self,
        changes: list[tuple[str, CarrierCommand, CommandCause]],
        command_ids: dict[str, str],
        usage: dict[str, int],
        audit: Audit,
    ) -> None:
        """The pool's decisions, with the command ids the cards' own decisions carry."""
        if not changes:
            return
        self.trigger_event(
            self.CarrierCommandsDecided,
            commands=[
                [iccid, str(command), command_ids[iccid], str(cause)]
                for iccid, command, cause in changes
            ],
            pool_used_bytes=sum(usage.get(i, 0) for i in self.iccids),
            pool_quota_bytes=self.pool_quota_mb * MB,
            **audit.fields(),
        )
