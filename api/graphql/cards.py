"""Card queries: a card as of any time, cards by agent and state (a connection), enterprises."""

from enum import Enum
from typing import Annotated, Any

import strawberry
from starlette.concurrency import run_in_threadpool

from api.graphql.queries import AsOf, Pos, _ctx
from api.graphql.scalars import DateTime, Money
from api.graphql.types import Connection, connection, page_size
from projections.cards import CardReads
from projections.queries import encode_cursor


@strawberry.enum
class CardState(Enum):
    IN_STOCK = "IN_STOCK"
    ASSIGNED = "ASSIGNED"
    TEST = "TEST"
    ACTIVATED = "ACTIVATED"
    SUSPENDED = "SUSPENDED"
    CANCELLED = "CANCELLED"


@strawberry.type(description="A carrier command a quota rule or a paid order decided.")
class CarrierCommandDecision:
    command: str = strawberry.field(description="STOP, RESUME or ACTIVATE.")
    command_id: str = strawberry.field(description="Stable: the carrier sees it once in effect.")
    cause: str


@strawberry.type(description="A card (ICCID) as the ledger knew it at the read position.")
class Card:
    iccid: str
    agent_code: str
    package_code: str | None
    enterprise_code: str | None
    state: CardState
    real_name_verified: bool
    activated_at: DateTime | None
    carrier: str | None
    carrier_state: str | None = strawberry.field(description="The carrier's raw state.")
    carrier_state_name: str | None
    mapping_version: str | None = strawberry.field(
        description="The version of the carrier's state mapping the state was read with."
    )
    state_reported_at: DateTime | None
    network_normal: bool = strawberry.field(description="In service and not in arrears.")
    arrears: bool
    complaint: bool
    three_no: bool = strawberry.field(description="三无: no arrears, suspension or complaint.")
    periods_used: int = strawberry.field(description="Package periods counted by the ledger.")
    period_end: DateTime | None
    total_recharge: Money
    first_recharge: Money | None
    last_command: CarrierCommandDecision | None
    changed_at: DateTime = strawberry.field(description="When its last change took effect.")
    position: str = strawberry.field(description="The log position of its last change.")

    @classmethod
    def of(cls, row: dict[str, Any]) -> "Card":
        state = CardState(row["state"])
        command = None
        if row["last_command"] is not None:
            command = CarrierCommandDecision(
                command=row["last_command"],
                command_id=row["last_command_id"],
                cause=row["last_command_cause"],
            )
        return cls(
            iccid=row["iccid"],
            agent_code=row["agent_code"],
            package_code=row["package_code"],
            enterprise_code=row["enterprise_code"],
            state=state,
            real_name_verified=row["real_name_verified"],
            activated_at=row["activated_at"],
            carrier=row["carrier"],
            carrier_state=row["carrier_state"],
            carrier_state_name=row["carrier_state_name"],
            mapping_version=row["mapping_version"],
            state_reported_at=row["state_reported_at"],
            network_normal=state == CardState.ACTIVATED and not row["arrears"],
            arrears=row["arrears"],
            complaint=row["complaint"],
            three_no=not (row["arrears"] or row["complaint"] or state == CardState.SUSPENDED),
            periods_used=row["periods_used"],
            period_end=row["period_end"],
            total_recharge=row["total_recharge_fen"],
            first_recharge=row["first_recharge_fen"],
            last_command=command,
            changed_at=row["effective_at"],
            position=str(row["position"]),
        )


@strawberry.type(description="An enterprise customer (B端企业客户) and its pool.")
class Enterprise:
    code: str
    name: str
    pool_quota_mb: int
    card_limit_mb: int | None
    stop_mode: str
    cards: int
    stopped_cards: int


def card_cursor(row: dict[str, Any]) -> str:
    return encode_cursor(row["iccid"])


@strawberry.type
class CardQueries:
    @strawberry.field
    async def card(
        self, info: strawberry.Info, iccid: str, as_of: AsOf = None, position: Pos = None
    ) -> Card | None:
        pinned = await _ctx(info).pin(as_of, position, info)
        reads = CardReads(_ctx(info).read(pinned.position))
        row = await run_in_threadpool(reads.card, iccid, pinned.position)
        return Card.of(row) if row else None

    @strawberry.field
    async def cards(
        self,
        info: strawberry.Info,
        agent_code: str | None = None,
        state: CardState | None = None,
        as_of: AsOf = None,
        position: Pos = None,
        first: int = 20,
        after: str | None = None,
        downline: Annotated[
            bool,
            strawberry.argument(
                description="With the cards of agentCode's whole downline (the tree as it is now)."
            ),
        ] = False,
    ) -> Connection[Card]:
        pinned = await _ctx(info).pin(as_of, position, info)
        reads = CardReads(_ctx(info).read(pinned.position))
        agents = [agent_code] if agent_code is not None else None
        if downline and agent_code is not None:
            agents = sorted(await run_in_threadpool(_ctx(info).app.read.subtree, agent_code))
        page = await run_in_threadpool(
            reads.cards,
            pinned.position,
            agents,
            state.value if state else None,
            page_size(info, first),
            after,
        )
        return connection(page, Card.of, card_cursor, after)  # type: ignore[no-any-return]

    @strawberry.field
    async def enterprise(
        self, info: strawberry.Info, code: str, as_of: AsOf = None, position: Pos = None
    ) -> Enterprise | None:
        pinned = await _ctx(info).pin(as_of, position, info)
        reads = CardReads(_ctx(info).read(pinned.position))
        row = await run_in_threadpool(reads.enterprise, code, pinned.position)
        if row is None:
            return None
        return Enterprise(
            code=row["code"],
            name=row["name"],
            pool_quota_mb=row["pool_quota_mb"],
            card_limit_mb=row["card_limit_mb"],
            stop_mode=row["stop_mode"],
            cards=row["cards"],
            stopped_cards=row["stopped"],
        )
