"""A card's lifecycle of our own, the carriers' states mapped onto it, and the carrier commands
the quota rules decide (decision 0030).

Our states do not depend on any carrier: each carrier's states are mapped onto them by a
versioned table (domain/carriers/card_states.toml), and the raw state is kept beside ours.
"""

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from domain.errors import InvalidInput


class CardStatus(StrEnum):
    IN_STOCK = "IN_STOCK"  # at the carrier, not yet in service (库存 / 待激活)
    ASSIGNED = "ASSIGNED"  # distributed to an agent (the ledger's first fact about a card)
    TEST = "TEST"  # in its test period (可测试 / TEST_READY / 测试激活)
    ACTIVATED = "ACTIVATED"  # in service: active (real name: Card.real_name_verified)
    SUSPENDED = "SUSPENDED"  # stopped (停机): may be resumed
    CANCELLED = "CANCELLED"  # gone (销户 / RETIRED / 拆机): final


# Where each state may go. The same state again is not a transition (a repeated report).
TRANSITIONS: dict[CardStatus, frozenset[CardStatus]] = {
    CardStatus.IN_STOCK: frozenset(
        {
            CardStatus.ASSIGNED,
            CardStatus.TEST,
            CardStatus.ACTIVATED,
            CardStatus.SUSPENDED,
            CardStatus.CANCELLED,
        }
    ),
    CardStatus.ASSIGNED: frozenset(
        {
            CardStatus.IN_STOCK,
            CardStatus.TEST,
            CardStatus.ACTIVATED,
            CardStatus.SUSPENDED,
            CardStatus.CANCELLED,
        }
    ),
    CardStatus.TEST: frozenset(
        {CardStatus.IN_STOCK, CardStatus.ACTIVATED, CardStatus.SUSPENDED, CardStatus.CANCELLED}
    ),
    CardStatus.ACTIVATED: frozenset({CardStatus.SUSPENDED, CardStatus.CANCELLED}),
    CardStatus.SUSPENDED: frozenset({CardStatus.ACTIVATED, CardStatus.CANCELLED}),
    CardStatus.CANCELLED: frozenset(),
}


def may_move(current: CardStatus, target: CardStatus) -> bool:
    return target in TRANSITIONS[current]


class Carrier(StrEnum):
    CMCC = "CMCC"  # China Mobile, OneLink EC v5
    CUCC = "CUCC"  # China Unicom, Jasper / Control Center
    CTCC = "CTCC"  # China Telecom, CMP


class ReportOutcome(StrEnum):
    """What a carrier's report did to the card (every report is recorded, whatever it did)."""

    APPLIED = "APPLIED"  # our state follows it
    UNCHANGED = "UNCHANGED"  # it says what we already hold
    OLDER = "OLDER"  # a newer report was applied already: kept, never overrides
    REFUSED = "REFUSED"  # our lifecycle does not allow the move (kept, state unchanged)


class CarrierCommand(StrEnum):
    STOP = "STOP"  # 停机
    RESUME = "RESUME"  # 复机
    ACTIVATE = "ACTIVATE"  # 激活 (a paid order)


class CommandCause(StrEnum):
    PACKAGE_QUOTA = "PACKAGE_QUOTA"  # a personal card used more than its package's quota
    POOL_QUOTA = "POOL_QUOTA"  # its enterprise's pool is used up (stop-all enterprises)
    CARD_LIMIT = "CARD_LIMIT"  # the card used more than its per-card limit in the pool
    WITHIN_QUOTA = "WITHIN_QUOTA"  # the pool was topped up (or a limit raised): resume
    ORDER_PAID = "ORDER_PAID"  # a paid order activates its card


@dataclass(frozen=True)
class MappedState:
    carrier: str
    raw_state: str
    state: CardStatus
    name: str  # the carrier's own word for it
    version: str  # the mapping table's version


@dataclass(frozen=True)
class StateMapping:
    carrier: str
    version: str
    states: dict[str, tuple[CardStatus, str]]

    def map(self, raw_state: str) -> MappedState:
        if raw_state not in self.states:
            known = ", ".join(self.states)
            raise InvalidInput(
                "rawState",
                f"'{raw_state}' is not a {self.carrier} card state of mapping {self.version}"
                f" (known: {known})",
            )
        state, name = self.states[raw_state]
        return MappedState(self.carrier, raw_state, state, name, self.version)


def load_mappings(text: str) -> dict[str, StateMapping]:
    """The mapping tables of a TOML document (the packaged one, or a test's)."""
    document: dict[str, Any] = tomllib.loads(text)
    mappings = {}
    for carrier, table in document.items():
        states = {
            str(raw): (CardStatus(entry["state"]), str(entry.get("name", raw)))
            for raw, entry in table["states"].items()
        }
        mappings[carrier] = StateMapping(carrier, str(table["version"]), states)
    return mappings


@cache
def carrier_mappings() -> dict[str, StateMapping]:
    """The packaged mapping tables (domain/carriers/card_states.toml)."""
    text = resources.files("domain").joinpath("carriers/card_states.toml").read_text("utf-8")
    return load_mappings(text)


def map_carrier_state(carrier: str, raw_state: str) -> MappedState:
    mappings = carrier_mappings()
    if carrier not in mappings:
        raise InvalidInput("carrier", f"carrier must be one of {', '.join(sorted(mappings))}")
    return mappings[carrier].map(raw_state)
