"""The cards view: each card as it stood after each of its events (as of any position), the
newest row per card (where the quota rules look for work), package quotas and enterprises."""

from typing import Any

from psycopg import Cursor
from psycopg.rows import dict_row

from domain.card import Card
from domain.enterprise import Enterprise
from domain.lifecycle import CardStatus, ReportOutcome
from domain.package import Package
from projections.queries import Page, ReadModel, decode_cursor
from projections.rows import Memory, copy_rows, upsert_rows
from projections.views import Names, Position, View

COLUMNS = (
    "iccid",
    "position",
    "recorded_at",
    "effective_at",
    "event",
    "agent_code",
    "package_code",
    "enterprise_code",
    "state",
    "real_name_verified",
    "activated_at",
    "carrier",
    "carrier_state",
    "carrier_state_name",
    "mapping_version",
    "state_reported_at",
    "arrears",
    "complaint",
    "periods_used",
    "period_end",
    "total_recharge_fen",
    "first_recharge_fen",
    "last_command",
    "last_command_id",
    "last_command_cause",
    "actor",
    "reason",
)
_STATE = COLUMNS[5:-2]  # what a card carries from row to row


class Cards(View):
    name = "cards"
    tables = ("card_history", "cards_now", "package_quotas", "enterprise_history")
    event_types = (
        Card.Assigned,
        Card.Activated,
        Card.RechargeRecorded,
        Card.CarrierStateReported,
        Card.ConditionsReported,
        Card.CarrierConditionsReported,
        Card.PackagePeriodAdded,
        Card.EnterpriseJoined,
        Card.CarrierCommandDecided,
        Package.QuotaSet,
        Enterprise.Created,
        Enterprise.CardsAssigned,
        Enterprise.PoolToppedUp,
        Enterprise.CarrierCommandsDecided,
    )

    def __init__(self, names: Names) -> None:
        super().__init__(names)
        self.latest = Memory()  # iccid -> the card's state
        self.enterprises = Memory()  # code -> the enterprise's latest row

    def forget(self, empty: bool) -> None:
        self.latest.reset(empty)
        self.enterprises.reset(empty)

    def begin(self, cur: Cursor[Any]) -> None:
        self.cur = cur
        self.latest.trim()
        self.enterprises.trim()
        self.rows: list[tuple[Any, ...]] = []
        self.quotas: list[tuple[Any, ...]] = []
        self.enterprise_rows: list[tuple[Any, ...]] = []

    def _card(self, iccid: str) -> dict[str, Any]:
        if iccid not in self.latest:
            row = self.latest.stored(self.cur, "card_history", _STATE, "iccid", iccid)
            if row is None:
                raise LookupError(f"card {iccid} has no row before this event")
            self.latest[iccid] = dict(zip(_STATE, row, strict=True))
        return self.latest[iccid]

    def apply(self, event: Any, at: Position) -> None:
        if isinstance(event, Package.QuotaSet):
            self.quotas.append((event.package_code, event.quota_mb, at.position))
        elif isinstance(event, Enterprise.Event):
            self._enterprise(event, at)
        else:
            self._card_event(event, at)

    def _card_event(self, event: Any, at: Position) -> None:
        if isinstance(event, Card.Assigned):
            iccid = event.iccid
            self.latest[iccid] = card = dict.fromkeys(_STATE)
            card.update(
                agent_code=event.agent_code,
                package_code=event.package_code,
                state=str(CardStatus.ASSIGNED),
                real_name_verified=False,
                arrears=False,
                complaint=False,
                periods_used=0,
                total_recharge_fen=0,
            )
        else:
            iccid = self.names.code(event.originator_id)
            card = self._card(iccid)
            _change(card, event)
        self.rows.append(
            (
                iccid,
                at.position,
                at.recorded_at,
                event.effective_at,
                type(event).__qualname__.split(".")[-1],
                *(card[c] for c in _STATE),
                event.actor,
                event.reason,
            )
        )

    def _enterprise(self, event: Any, at: Position) -> None:
        if isinstance(event, Enterprise.Created):
            self.names.remember(event.originator_id, "enterprise", event.code)
            state = {
                "code": event.code,
                "name": event.name,
                "pool_quota_mb": event.pool_quota_mb,
                "card_limit_mb": event.card_limit_mb,
                "stop_mode": event.stop_mode,
                "cards": 0,
                "stopped": 0,
            }
        else:
            code = self.names.code(event.originator_id)
            state = self.enterprises.get(code) or self._load_enterprise(code)
            if isinstance(event, Enterprise.CardsAssigned):
                state["cards"] += len(event.iccids)
            elif isinstance(event, Enterprise.PoolToppedUp):
                state["pool_quota_mb"] = event.pool_quota_mb
            else:
                # The aggregate stops only running cards and resumes only stopped ones.
                for _, command, _, _ in event.commands:
                    state["stopped"] += 1 if command == "STOP" else -1
        self.enterprises[state["code"]] = state
        self.enterprise_rows.append(
            (
                state["code"],
                at.position,
                state["name"],
                state["pool_quota_mb"],
                state["card_limit_mb"],
                state["stop_mode"],
                state["cards"],
                state["stopped"],
                at.recorded_at,
            )
        )

    def _load_enterprise(self, code: str) -> dict[str, Any]:
        row = None
        if not self.enterprises.complete:
            self.cur.execute(
                "SELECT code, name, pool_quota_mb, card_limit_mb, stop_mode, cards, stopped"
                " FROM enterprise_history WHERE code = %s ORDER BY position DESC LIMIT 1",
                (code,),
            )
            row = self.cur.fetchone()
        if row is None:
            raise LookupError(f"enterprise {code} has no row before this event")
        keys = ("code", "name", "pool_quota_mb", "card_limit_mb", "stop_mode", "cards", "stopped")
        return dict(zip(keys, row, strict=True))

    def flush(self, cur: Cursor[Any]) -> None:
        copy_rows(cur, "card_history", COLUMNS, self.rows)
        latest: dict[str, tuple[Any, ...]] = {}
        for row in self.rows:
            latest[row[0]] = row
        upsert_rows(
            cur,
            "cards_now",
            (
                ("iccid", "text"),
                ("agent_code", "text"),
                ("package_code", "text"),
                ("enterprise_code", "text"),
                ("state", "text"),
                ("last_command", "text"),
                ("position", "bigint"),
            ),
            [(r[0], r[5], r[6], r[7], r[8], r[22], r[1]) for r in latest.values()],
        )
        cur.executemany(
            "INSERT INTO package_quotas (package_code, quota_mb, position) VALUES (%s, %s, %s)"
            " ON CONFLICT (package_code) DO UPDATE SET quota_mb = EXCLUDED.quota_mb,"
            " position = EXCLUDED.position",
            self.quotas,
        )
        copy_rows(
            cur,
            "enterprise_history",
            (
                "code",
                "position",
                "name",
                "pool_quota_mb",
                "card_limit_mb",
                "stop_mode",
                "cards",
                "stopped",
                "recorded_at",
            ),
            self.enterprise_rows,
        )


def _change(card: dict[str, Any], event: Any) -> None:
    """A card's row after one of its events (the Card aggregate's own rules, as data)."""
    if isinstance(event, Card.Activated):
        card.update(state=str(CardStatus.ACTIVATED), real_name_verified=True)
        card["activated_at"] = event.effective_at
    elif isinstance(event, Card.RechargeRecorded):
        if card["first_recharge_fen"] is None:
            card["first_recharge_fen"] = event.amount_fen
        card["total_recharge_fen"] += event.amount_fen
    elif isinstance(event, Card.CarrierStateReported):
        card["carrier"] = event.carrier
        if event.outcome != ReportOutcome.OLDER:
            card.update(
                carrier_state=event.raw_state,
                carrier_state_name=event.carrier_state_name,
                mapping_version=event.mapping_version,
                state_reported_at=event.reported_at,
            )
            if event.outcome == ReportOutcome.APPLIED:
                card["state"] = event.state
    elif isinstance(event, Card.ConditionsReported):  # the conditions commissions read
        card.update(arrears=event.arrears, complaint=event.complaint)
    elif isinstance(event, Card.PackagePeriodAdded):
        card.update(
            periods_used=event.periods_used,
            period_end=event.period_end,
            package_code=event.package_code,
        )
    elif isinstance(event, Card.EnterpriseJoined):
        card["enterprise_code"] = event.enterprise_code
    elif isinstance(event, Card.CarrierCommandDecided):
        card.update(
            last_command=event.command,
            last_command_id=event.command_id,
            last_command_cause=event.cause,
        )


class CardReads:
    """Cards as of a log position (the view above), through the read model's connections."""

    def __init__(self, read: ReadModel) -> None:
        self.read = read

    def card(self, iccid: str, at: int) -> dict[str, Any] | None:
        return self.read._one(
            "SELECT * FROM card_history WHERE iccid = %s AND position <= %s"
            " ORDER BY position DESC LIMIT 1",
            (iccid, at),
        )

    def cards(
        self,
        at: int,
        agent_codes: list[str] | None,
        state: str | None,
        first: int,
        after: str | None,
    ) -> Page:
        start = decode_cursor(after, 1)[0] if after else ""
        rows = self.read._all(
            "SELECT * FROM (SELECT DISTINCT ON (iccid) * FROM card_history"
            "  WHERE position <= %(at)s AND iccid > %(start)s"
            "  AND (%(agents)s::text[] IS NULL OR agent_code = ANY(%(agents)s))"
            "  ORDER BY iccid, position DESC) c"
            " WHERE (%(state)s::text IS NULL OR state = %(state)s)"
            " ORDER BY iccid LIMIT %(limit)s",
            {"at": at, "start": start, "agents": agent_codes, "state": state, "limit": first + 1},
        )
        return Page(rows[:first], len(rows) > first)

    def enterprise(self, code: str, at: int) -> dict[str, Any] | None:
        return self.read._one(
            "SELECT * FROM enterprise_history WHERE code = %s AND position <= %s"
            " ORDER BY position DESC LIMIT 1",
            (code, at),
        )

    def usage(self, iccid: str, month: Any) -> dict[str, Any]:
        """The card's usage in a month, as aggregated now (usage is not an event: it has no
        as-of; decision 0030)."""
        with self.read.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT coalesce((SELECT bytes FROM usage_monthly WHERE month = %(m)s"
                " AND iccid = %(i)s), 0) AS bytes",
                {"m": month, "i": iccid},
            )
            row = cur.fetchone()
        assert row is not None
        return row
