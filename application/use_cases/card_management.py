"""Card management (卡管): carriers' reports on cards, package quotas, enterprise customers and
the quota rules' decisions (decision 0030). The carrier commands decided here are events; the
outbox of the carrier adapters sends them, and our state follows only the carrier's report."""

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from application.commands import Command, Decision
from application.results import CardStateRecorded, EnterpriseRecorded, PackageQuotaSet, QuotaDecided
from domain.common import Audit
from domain.enterprise import MB, Enterprise
from domain.errors import AlreadyExists, InvalidInput, NotFound
from domain.lifecycle import Carrier, map_carrier_state
from domain.values import Code, Key, Megabytes, Name, refuse_future

if TYPE_CHECKING:
    from eventsourcing.domain import Aggregate

    from application.ledger import Ledger

DUPLICATE = "DUPLICATE"


class EnterpriseNotFound(NotFound):
    code = "ENTERPRISE_NOT_FOUND"

    def __init__(self, code: str, field: str = "enterpriseCode") -> None:
        super().__init__(field, f"no enterprise with code '{code}'")


def _carrier(carrier: str) -> str:
    if carrier not in Carrier.__members__:
        raise InvalidInput("carrier", f"carrier must be one of {', '.join(Carrier)}")
    return carrier


def _month(text: str) -> date:
    try:
        year, month = (int(part) for part in text.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise InvalidInput("month", "a month is written YYYY-MM") from None


@dataclass(frozen=True)
class RecordCarrierCardState(Command[CardStateRecorded]):
    """A carrier's report of a card's state (push or poll): mapped onto our lifecycle by the
    carrier's versioned table, idempotent per report id, ordered by its own timestamp."""

    iccid: Code
    carrier: Code
    raw_state: Code
    reported_at: datetime
    report_id: Code
    audit: Audit
    key: Key | None = None
    time_input: ClassVar[str] = "reportedAt"

    def check_time(self, now: datetime, tolerance: timedelta) -> None:
        refuse_future(self.reported_at, now + tolerance, self.time_input)

    def decide(self, ledger: "Ledger") -> Decision[CardStateRecorded]:
        mapped = map_carrier_state(_carrier(self.carrier), self.raw_state)
        card = ledger.card(self.iccid)
        card.require_carrier(mapped.carrier)
        if card.seen_report(self.report_id):
            return [], CardStateRecorded(
                self.iccid, str(card.status), DUPLICATE, card.carrier_state
            )
        outcome = card.report_carrier_state(
            mapped, self.report_id, self.reported_at, reported(self.audit, self.reported_at)
        )
        return [card], CardStateRecorded(
            self.iccid, str(card.status), str(outcome), card.carrier_state
        )


@dataclass(frozen=True)
class RecordCardConditions(Command[CardStateRecorded]):
    """A carrier's report of a card's arrears and complaints (with its state: the 三无 flags)."""

    iccid: Code
    carrier: Code
    arrears: bool
    complaint: bool
    reported_at: datetime
    report_id: Code
    audit: Audit
    key: Key | None = None
    time_input: ClassVar[str] = "reportedAt"

    def check_time(self, now: datetime, tolerance: timedelta) -> None:
        refuse_future(self.reported_at, now + tolerance, self.time_input)

    def decide(self, ledger: "Ledger") -> Decision[CardStateRecorded]:
        card = ledger.card(self.iccid)
        card.require_carrier(_carrier(self.carrier))
        if card.seen_report(self.report_id):
            return [], CardStateRecorded(
                self.iccid, str(card.status), DUPLICATE, card.carrier_state
            )
        outcome = card.report_carrier_conditions(
            _carrier(self.carrier),
            self.arrears,
            self.complaint,
            self.report_id,
            self.reported_at,
            reported(self.audit, self.reported_at),
        )
        return [card], CardStateRecorded(
            self.iccid, str(card.status), str(outcome), card.carrier_state
        )


@dataclass(frozen=True)
class SetPackageQuota(Command[PackageQuotaSet]):
    package_code: Code
    quota_mb: Megabytes
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[PackageQuotaSet]:
        package = ledger.package(self.package_code)
        package.set_quota(self.quota_mb, self.audit)
        return [package], PackageQuotaSet(self.package_code, self.quota_mb)


@dataclass(frozen=True)
class CreateEnterprise(Command[EnterpriseRecorded]):
    code: Code
    name: Name
    pool_quota_mb: Megabytes
    card_limit_mb: Megabytes | None
    stop_mode: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[EnterpriseRecorded]:
        if ledger.exists("enterprise", self.code):
            raise AlreadyExists("code", f"enterprise '{self.code}' already exists")
        enterprise = Enterprise.create(
            self.code,
            self.name,
            self.pool_quota_mb,
            self.card_limit_mb,
            self.stop_mode,
            self.audit,
        )
        return [enterprise], EnterpriseRecorded(self.code, enterprise.pool_quota_mb)


def _enterprise(ledger: "Ledger", code: str) -> Enterprise:
    found = ledger.find_enterprise(code)
    if found is None:
        raise EnterpriseNotFound(code)
    return found


@dataclass(frozen=True)
class AssignEnterpriseCards(Command[EnterpriseRecorded]):
    """Cards the enterprise bought: they join its pool (a card belongs to one enterprise)."""

    enterprise_code: Code
    iccids: tuple[Code, ...]
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[EnterpriseRecorded]:
        enterprise = _enterprise(ledger, self.enterprise_code)
        changed: list[Aggregate] = []
        for iccid in self.iccids:
            card = ledger.card(iccid)
            card.join_enterprise(self.enterprise_code, self.audit)
            changed.append(card)
        enterprise.assign_cards(list(self.iccids), self.audit)
        return [enterprise, *changed], EnterpriseRecorded(
            self.enterprise_code, enterprise.pool_quota_mb
        )


@dataclass(frozen=True)
class TopUpEnterprisePool(Command[EnterpriseRecorded]):
    """More quota for the pool; the cards the pool's rules stopped are resumed if they are
    within the rules again (decided in the same write)."""

    enterprise_code: Code
    amount_mb: Megabytes
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[EnterpriseRecorded]:
        enterprise = _enterprise(ledger, self.enterprise_code)
        enterprise.top_up_pool(self.amount_mb, self.audit)
        cards = _decide_pool(ledger, enterprise, None, self.audit)
        return [enterprise, *cards], EnterpriseRecorded(
            self.enterprise_code, enterprise.pool_quota_mb, len(cards)
        )


def _decide_pool(
    ledger: "Ledger", enterprise: Enterprise, month: date | None, audit: Audit
) -> list["Aggregate"]:
    """The pool rules on this month's usage: each card whose stop or resume they decide
    records it (what the outbox sends), and the enterprise records them all. The cards that
    changed; the enterprise is the caller's to save."""
    store = ledger.usage
    if store is None:
        return []
    month = month or store.month_of(audit.effective_at)
    usage = store.cards_month_bytes(enterprise.iccids, month)
    changes = enterprise.changes(usage)
    limit = None if enterprise.card_limit_mb is None else enterprise.card_limit_mb * MB
    cards, ids = [], {}
    for iccid, command, cause in changes:
        card = ledger.card(iccid)
        ids[iccid] = card.decide_for_pool(command, cause, usage.get(iccid, 0), limit, audit)
        cards.append(card)
    enterprise.record_decisions(changes, ids, usage, audit)
    return cards


@dataclass(frozen=True)
class DecideCardQuota(Command[QuotaDecided]):
    """The personal quota rule for one card and month: over its package's quota -> stop."""

    iccid: Code
    month: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[QuotaDecided]:
        month = _month(self.month)
        card = ledger.card(self.iccid)
        package = card.current_package
        quota = ledger.package(package).quota_mb if package else None
        if quota is None or ledger.usage is None:
            return [], QuotaDecided(self.iccid, 0)
        used = ledger.usage.card_month_bytes(self.iccid, month)
        if card.decide_stop_for_quota(used, quota * MB, self.audit):
            return [card], QuotaDecided(self.iccid, 1)
        return [], QuotaDecided(self.iccid, 0)


@dataclass(frozen=True)
class DecideEnterpriseQuota(Command[QuotaDecided]):
    """The pool rules for one enterprise and month: stop or resume its cards."""

    enterprise_code: Code
    month: Code
    audit: Audit
    key: Key | None = None

    def decide(self, ledger: "Ledger") -> Decision[QuotaDecided]:
        month = _month(self.month)
        enterprise = _enterprise(ledger, self.enterprise_code)
        cards = _decide_pool(ledger, enterprise, month, self.audit)
        changed = [enterprise, *cards] if cards else []
        return changed, QuotaDecided(self.enterprise_code, len(cards))


def reported(audit: Audit, reported_at: datetime) -> Audit:
    """The audit of a carrier's report: it took effect when the carrier says it did."""
    return replace(audit, effective_at=reported_at)
