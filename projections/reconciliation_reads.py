"""What a three-way reconciliation reads (decision 0032), as of a log position: the movement
ledger, the approved statements of a cycle and the paid payouts; and the payouts a channel's
statement file is compared with. Each side comes back as domain entries; the matching is
domain.reconciliation.match."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain.reconciliation import Entry, Outcome, match
from domain.statement import Cycle
from projections.queries import ReadModel

VIEWS = ("wallet_movements", "statements", "payouts", "withdrawals")
_STATUS_AT = (
    "(SELECT h.status FROM statement_status_history h WHERE h.statement_id = s.id"
    " AND h.position <= %(at)s ORDER BY h.position DESC LIMIT 1)"
)
# The statement lines of the movement kinds reconciled, by rule.
_RULES = {
    "commission_approved": "approved",
    "withdrawal_paid": "paid",
    "fee": "fees",
    "tax": "tax",
}
# Payouts as of `at`: the last row of each, and when it became PAID.
_PAYOUTS = (
    "SELECT * FROM (SELECT DISTINCT ON (withdrawal_id) * FROM payout_history"
    " WHERE position <= %(at)s ORDER BY withdrawal_id, position DESC) p"
)


class ReconciliationReads:
    def __init__(self, read: ReadModel, tz: ZoneInfo) -> None:
        self.read = read
        self.tz = tz

    def three_way(self, cycle: str, at: int) -> tuple[Outcome, list[str]]:
        c = Cycle.parse(cycle, self.tz)
        ledger = self._movements(c.starts_at, c.ends_at, at)
        stated, covered = self._statements(cycle, at)
        paid = self._paid(c.starts_at, c.ends_at, at)
        outcome = match("approved", ledger["approved"], stated["approved"])
        # Money out: what the statements say was paid, with fees and tax, against the payouts
        # the channel confirmed (one statement line covers several payouts: 1:N by agent).
        outcome += match("paid", stated["paid"], paid["paid"])
        outcome += match("fees", stated["fees"], paid["fees"])
        outcome += match("tax", stated["tax"], paid["tax"])
        # Every paid payout is on an approved statement of its cycle.
        outcome += match("on-statement", paid["each"], covered)
        sources = ["movement ledger", f"approved statements of {cycle}", "paid payouts"]
        return outcome, sources

    def _movements(self, start: datetime, end: datetime, at: int) -> dict[str, list[Entry]]:
        rows = self.read._all(
            "SELECT agent_code, sum(amount_fen)::bigint AS amount, count(*) AS n"
            " FROM wallet_movements WHERE position <= %(at)s AND movement = 'commission_approved'"
            " AND effective_at >= %(start)s AND effective_at < %(end)s GROUP BY agent_code",
            {"at": at, "start": start, "end": end},
        )
        return {
            "approved": [
                Entry(r["agent_code"], r["amount"], None, f"{r['n']} movements") for r in rows
            ]
        }

    def _statements(self, cycle: str, at: int) -> tuple[dict[str, list[Entry]], list[Entry]]:
        """Per rule, each approved statement's line totals (not late); and the withdrawals paid
        that those statements cover (movements of the agent, effective in the cycle, recorded
        by the statement's position), by agent/withdrawal."""
        approved = self.read._all(
            f"SELECT * FROM (SELECT s.*, {_STATUS_AT} AS status FROM statements s"
            " WHERE s.cycle = %(cycle)s AND s.position <= %(at)s) x WHERE status = 'APPROVED'",
            {"cycle": cycle, "at": at},
        )
        found: dict[str, list[Entry]] = {rule: [] for rule in _RULES.values()}
        for s in approved:
            for line in s["lines"]:
                rule = _RULES.get(line["movement"])
                if rule and not line["late"]:
                    found[rule].append(
                        Entry(
                            s["agent_code"], int(line["amount_fen"]), None, f"statement {s['id']}"
                        )
                    )
        rows = self.read._all(
            "SELECT s.id, s.agent_code, m.reference, m.amount_fen FROM statements s"
            " JOIN wallet_movements m ON m.agent_code = s.agent_code"
            "  AND m.movement = 'withdrawal_paid' AND m.position <= s.through"
            "  AND m.effective_at >= s.starts_at AND m.effective_at < s.ends_at"
            " WHERE s.id = ANY(%(ids)s)",
            {"ids": [s["id"] for s in approved]},
        )  # one query for every approved statement of the cycle
        covered = [
            Entry(f"{r['agent_code']}/{r['reference']}", r["amount_fen"], None,
                  f"statement {r['id']}")
            for r in rows
        ]  # fmt: skip
        return found, covered

    def _paid(self, start: datetime, end: datetime, at: int) -> dict[str, list[Entry]]:
        rows = self.read._all(
            "SELECT p.withdrawal_id, p.agent_code, p.amount_fen, p.out_request_id,"
            " p.effective_at, w.fee_fen, w.tax_fen FROM (" + _PAYOUTS + ") p"
            " LEFT JOIN LATERAL (SELECT fee_fen, tax_fen FROM withdrawal_history h"
            "   WHERE h.agent_code = p.agent_code AND h.withdrawal_id = p.withdrawal_id"
            "   AND h.position <= %(at)s AND h.fee_fen IS NOT NULL"
            "   ORDER BY h.position DESC LIMIT 1) w ON true"
            " WHERE p.status = 'PAID' AND p.effective_at >= %(start)s AND p.effective_at < %(end)s",
            {"at": at, "start": start, "end": end},
        )
        found: dict[str, list[Entry]] = {"paid": [], "fees": [], "tax": [], "each": []}
        for r in rows:
            ref = r["out_request_id"]
            found["paid"].append(Entry(r["agent_code"], r["amount_fen"], None, ref))
            found["fees"].append(Entry(r["agent_code"], r["fee_fen"] or 0, None, ref))
            found["tax"].append(Entry(r["agent_code"], r["tax_fen"] or 0, None, ref))
            key = f"{r['agent_code']}/{r['withdrawal_id']}"
            found["each"].append(Entry(key, r["amount_fen"], None, ref))
        return found

    def payouts(self, at: int, cycle: str | None) -> list[Entry]:
        sql, params = _PAYOUTS + " WHERE p.status <> 'CANCELLED'", {"at": at}
        if cycle:
            c = Cycle.parse(cycle, self.tz)
            sql += " AND p.effective_at >= %(start)s AND p.effective_at < %(end)s"
            params.update(start=c.starts_at, end=c.ends_at)  # type: ignore[dict-item]
        rows: list[dict[str, Any]] = self.read._all(sql, params)
        return [
            Entry(r["out_request_id"], r["amount_fen"], r["status"], r["withdrawal_id"])
            for r in rows
        ]
