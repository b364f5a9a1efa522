"""A card (ICCID): distributed to an agent, activated by real-name, recharged by its user, and
reported on by its carrier (stopped, arrears, cancelled, a complaint)."""

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.card_lifecycle import CardLifecycle
from domain.carrier_command import card_command
from domain.common import Audit, aggregate_id, require_code
from domain.errors import InvalidInput, InvalidState
from domain.lifecycle import CONDITIONS, CardStatus, failed_words
from domain.money import require_balance, require_fen
from domain.outbox import OutboxCommand
from domain.rules import CardFacts
from domain.values import refuse_before

__all__ = ["CONDITIONS", "Card", "CardStatus", "failed_words"]


class Card(Aggregate, CardLifecycle):
    class Assigned(Aggregate.Created):
        iccid: str
        agent_code: str
        package_code: str | None
        package_kind: str | None
        actor: str
        effective_at: datetime
        reason: str

    class Activated(Aggregate.Event):
        actor: str
        effective_at: datetime
        reason: str

    class RechargeRecorded(Aggregate.Event):
        amount_fen: int
        actor: str
        effective_at: datetime
        reason: str

    class ConditionsReported(Aggregate.Event):
        """What the carrier (or an operator reading its report) says of the card at
        `effective_at`: each flag as it stands then (a later report with a flag false says it
        was lifted, 复机). `source` names where the report came from (an operator, a carrier
        status feed or file)."""

        stopped: bool
        arrears: bool
        cancelled: bool
        complaint: bool
        source: str
        actor: str
        effective_at: datetime
        reason: str

        @property
        def failed(self) -> tuple[str, ...]:
            """The conditions the report fails, in CONDITIONS' order (empty: all normal)."""
            return tuple(name for name in CONDITIONS if getattr(self, name))

    # -- the carrier's facts and the quota rules' decisions (domain/card_lifecycle.py) ------------
    class CarrierStateReported(Aggregate.Event):
        """A carrier's report of the card's state, mapped onto ours by a versioned table; what
        it did (`outcome`) is decided when it is recorded: an older report never overrides."""

        carrier: str
        raw_state: str
        carrier_state_name: str
        state: str  # ours, by the mapping
        mapping_version: str
        report_id: str
        reported_at: datetime
        outcome: str  # ReportOutcome
        actor: str
        effective_at: datetime
        reason: str

        def apply(self, card: "Card") -> None:
            card.apply_state_report(self)

    class CarrierConditionsReported(Aggregate.Event):
        """A carrier's report of arrears (欠费) and complaints (投诉), idempotent per report id
        and ordered by its timestamp; with the suspension in the state they make the 三无
        flags. Applied reports also record ConditionsReported (what the commission rules
        read, decision 0029)."""

        carrier: str
        arrears: bool
        complaint: bool
        report_id: str
        reported_at: datetime
        outcome: str  # APPLIED or OLDER
        actor: str
        effective_at: datetime
        reason: str

        def apply(self, card: "Card") -> None:
            card.apply_conditions(self)

    class PackagePeriodAdded(Aggregate.Event):
        """A paid order's package periods on this card (SPEC §2: counted by the ledger)."""

        order_id: str
        package_code: str
        periods: int
        period_start: datetime
        period_end: datetime
        periods_used: int  # the card's periods so far, these included
        actor: str
        effective_at: datetime
        reason: str

        def apply(self, card: "Card") -> None:
            card.periods.append(
                [self.order_id, self.package_code, self.period_start, self.period_end]
            )
            card.periods_used = self.periods_used

    class EnterpriseJoined(Aggregate.Event):
        enterprise_code: str
        actor: str
        effective_at: datetime
        reason: str

        def apply(self, card: "Card") -> None:
            card.enterprise_code = self.enterprise_code

    class CarrierCommandDecided(Aggregate.Event):
        """A rule decided that the carrier must stop, resume or activate the card. The card's
        state changes only when the carrier reports it; the outbox sends the command."""

        command_id: str
        command: str  # CarrierCommand
        cause: str  # CommandCause
        used_bytes: int | None
        quota_bytes: int | None
        actor: str
        effective_at: datetime
        reason: str

        def apply(self, card: "Card") -> None:
            card.last_command = [self.command, self.command_id, self.cause]
            card.commands_decided += 1

        def outbox_command(self) -> OutboxCommand:
            # The carrier hears of it through the outbox (domain/carrier_command.py).
            return card_command(self.originator_id, self.command, self.command_id, self.cause)

    @staticmethod
    def create_id(iccid: str, **_: Any) -> UUID:
        return aggregate_id("card", iccid)

    @classmethod
    def assign(
        cls,
        iccid: str,
        agent_code: str,
        package_code: str | None,
        package_kind: str | None,
        audit: Audit,
    ) -> "Card":
        require_code(iccid, "iccid")
        require_code(agent_code, "agentCode")
        if package_code is not None:
            require_code(package_code, "packageCode")
        return cls._create(
            cls.Assigned,
            iccid=iccid,
            agent_code=agent_code,
            package_code=package_code,
            package_kind=package_kind,
            **audit.fields(),
        )

    @event(Assigned)
    def __init__(
        self,
        iccid: str,
        agent_code: str,
        package_code: str | None,
        package_kind: str | None,
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        self.iccid = iccid
        self.agent_code = agent_code
        self.package_code = package_code
        self.package_kind = package_kind
        self.status = CardStatus.ASSIGNED
        self.activated_at: datetime | None = None
        self.first_recharge_fen: int | None = None
        self.total_recharge_fen = 0
        self.assigned_at = effective_at
        self.last_fact_at = effective_at
        self.failed_conditions: tuple[str, ...] = ()  # the latest ConditionsReported
        self.conditions_reported_at: datetime | None = None
        self.start_lifecycle()

    def activate(self, audit: Audit) -> None:
        """Activation with the user's real name (the fact commissions wait for): from stock,
        assignment or test, or of a card its carrier already reports in service."""
        if self.activated_at is not None or self.status in (
            CardStatus.SUSPENDED,
            CardStatus.CANCELLED,
        ):
            raise InvalidState("iccid", f"card '{self.iccid}' is already {self.status}")
        self.require_existed_at(audit.effective_at)
        self._activate(**audit.fields())

    @event(Activated)
    def _activate(self, actor: str, effective_at: datetime, reason: str) -> None:
        self.status = CardStatus.ACTIVATED
        self.activated_at = effective_at
        self.last_fact_at = max(self.last_fact_at, effective_at)

    def record_recharge(self, amount_fen: int, audit: Audit) -> None:
        require_fen(amount_fen, "amount", allow_zero=False)
        require_balance(
            self.total_recharge_fen + amount_fen, "amount", f"card {self.iccid}'s recharges"
        )
        self.require_existed_at(audit.effective_at)
        self._record_recharge(amount_fen=amount_fen, **audit.fields())

    @event(RechargeRecorded)
    def _record_recharge(
        self, amount_fen: int, actor: str, effective_at: datetime, reason: str
    ) -> None:
        if self.first_recharge_fen is None:
            self.first_recharge_fen = amount_fen
        self.total_recharge_fen += amount_fen
        self.last_fact_at = max(self.last_fact_at, effective_at)

    def report_conditions(
        self, flags: tuple[bool, bool, bool, bool], source: str, audit: Audit
    ) -> None:
        """The carrier's conditions (stopped, arrears, cancelled, complaint) as of the audit's
        effective time. The commission policy voids the card's unreleased commissions when one
        fails; released ones only where the plan says so (decision 0029)."""
        if len(flags) != len(CONDITIONS) or any(type(flag) is not bool for flag in flags):
            raise InvalidInput(
                "conditions", "stopped, arrears, cancelled, complaint: true or false"
            )
        require_code(source, "source")
        self.require_existed_at(audit.effective_at)
        self._report_conditions(
            **dict(zip(CONDITIONS, flags, strict=True)), source=source, **audit.fields()
        )

    @event(ConditionsReported)
    def _report_conditions(
        self,
        stopped: bool,
        arrears: bool,
        cancelled: bool,
        complaint: bool,
        source: str,
        actor: str,
        effective_at: datetime,
        reason: str,
    ) -> None:
        flags = (stopped, arrears, cancelled, complaint)
        self.failed_conditions = tuple(
            name for name, flag in zip(CONDITIONS, flags, strict=True) if flag
        )
        self.conditions_reported_at: datetime | None = effective_at

    def require_existed_at(self, at: datetime, field: str = "occurredAt") -> None:
        """A fact about the card is not dated before the card was assigned to its agent."""
        refuse_before(at, self.assigned_at, field, f"card {self.iccid} was assigned")

    def facts(self) -> CardFacts:
        return CardFacts(
            iccid=self.iccid,
            package_code=self.package_code,
            package_kind=self.package_kind,
            agent_code=self.agent_code,
            activated=self.activated_at is not None,
            first_recharge_fen=self.first_recharge_fen,
            total_recharge_fen=self.total_recharge_fen,
            effective_at=self.last_fact_at,
            conditions_failed=self.failed_conditions,
        )
