"""The carrier port: what Fenrun asks of a carrier's card-management API (China Mobile OneLink,
China Unicom Control Center, China Telecom CMP), in the business's words.

Adapters (api/carriers/) translate these calls into each carrier's published request shapes and
answer the carrier's own raw card state ("4" on OneLink, "DEACTIVATED" on Control Center, ...):
the mapping from raw states to our card lifecycle is configuration of the cards area, not theirs.

An adapter raises CarrierUnavailable when the carrier could not be asked or did not answer
(time-outs, 5xx, broken connections): the request may or may not have taken effect, so the caller
retries with the same command id. CarrierRefused is a definite "no" (unknown card, a change the
card's state does not allow): retrying would not help.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from application.usage import UsageReport


class Carrier(StrEnum):
    CHINA_MOBILE = "CMCC"  # OneLink EC v5
    CHINA_UNICOM = "CUCC"  # Jasper / Cisco IoT Control Center
    CHINA_TELECOM = "CTCC"  # CMP (自管理平台)


class CardAction(StrEnum):
    """What a quota decision asks the carrier to do with a card."""

    STOP = "STOP"  # 停机 (suspend: over quota)
    RESUME = "RESUME"  # 复机
    ACTIVATE = "ACTIVATE"  # 激活 (a paid order)


class CarrierUnavailable(Exception):
    """The carrier did not answer, or answered that it could not now: try again later."""


class CarrierRefused(Exception):
    """The carrier answered no for good (unknown card, a change its state does not allow)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CarrierAnswer:
    """The carrier's answer to a change of state: its own reference for the request, and the
    raw state it reports the card in afterwards (None where it does not say)."""

    carrier_ref: str
    raw_state: str | None
    message: str = ""


@dataclass(frozen=True)
class CardStateReport:
    """A card's raw state at the carrier, as of `reported_at` (the carrier's time)."""

    report_id: str
    carrier: str
    iccid: str
    raw_state: str
    reported_at: datetime


@dataclass(frozen=True)
class MonthToDate:
    """A card's data used in the carrier's current billing month up to `reported_at`, in bytes
    (OneLink and CMP count KB, Control Center bytes): a counter, not a day's traffic."""

    report_id: str
    carrier: str
    iccid: str
    bytes_used: int
    reported_at: datetime


class CarrierPort(Protocol):
    """One carrier's card-management API."""

    carrier: Carrier

    def set_state(self, iccid: str, action: CardAction, command_id: str) -> CarrierAnswer:
        """Asks the carrier to change the card's state. `command_id` is ours: the adapter sends
        it where the carrier's request has a place for a caller's id, so that a request sent
        twice is one change at the carrier."""
        ...

    def query_state(self, iccid: str) -> CardStateReport: ...

    def query_usage(self, iccid: str) -> MonthToDate: ...


class CardReports(Protocol):
    """What the cards area does with carrier reports (its use cases, application/usage.py and
    RecordCarrierCardState): each report is recorded once (by its id), and a report older than
    what is known is kept as history, never as now. `actor`: who reported (a key, a job)."""

    def record_carrier_card_state(
        self,
        iccid: str,
        carrier: str,
        raw_state: str,
        reported_at: datetime,
        report_id: str,
        actor: str,
    ) -> object: ...

    def record_usage_reports(
        self, reports: Sequence["UsageReport"], actor: str, carrier: str
    ) -> object: ...


class CarrierCards(Protocol):
    """Which cards a carrier that does not push is polled for."""

    def iccids_at(self, carrier: Carrier) -> list[str]: ...
