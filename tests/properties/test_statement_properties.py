"""Statements under random histories (real PostgreSQL): whatever the order of facts, late items,
generations and approvals, every statement adds up to the fen, approved statements never change,
each approved statement opens at its predecessor's closing, and once the last cycle is stated
and approved its closing is the wallet's balance: nothing is stated twice or left out."""

from datetime import UTC, datetime, timedelta
from itertools import count

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.common import Audit
from domain.errors import InvalidState
from domain.movements import BUCKETS, StatementLine, closing_of
from projections.statement_queries import StatementReads

MONTHS = ("2026-09", "2026-10", "2026-11", "2026-12")
STARTS = [datetime(2026, 9 + i, 5, tzinfo=UTC) for i in range(4)]
NOW = datetime(2027, 2, 1, tzinfo=UTC)
NUMBERS = count()

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("top_up"), st.integers(1, 5000), st.integers(0, 3)),
        st.tuples(st.just("adjust"), st.integers(1, 5000), st.integers(0, 3), st.booleans()),
        st.tuples(st.just("generate"), st.integers(0, 3)),
        st.tuples(st.just("approve"), st.integers(0, 3)),
    ),
    max_size=14,
)


def rows_of(fenrun, agent: str) -> list[dict]:
    fenrun.catch_up()
    reads = StatementReads(fenrun.read)
    return reads.statements(fenrun.read.caught_up(), agent, None, None, 200, None).rows


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
def test_statements_add_up_and_approved_ones_never_change(fenrun, clock, steps) -> None:
    clock.set(NOW)
    ledger, agent = fenrun.ledger, f"A{next(NUMBERS)}"
    ledger.register_agent(agent, agent, None, True, Audit("admin", STARTS[0] - timedelta(days=4)))
    approved: dict[str, dict] = {}
    for i, step in enumerate(steps):
        if step[0] == "top_up":
            ledger.top_up_deposit(agent, step[1], Audit("fin", STARTS[step[2]]))
        elif step[0] == "adjust":
            at, name = STARTS[step[2]], f"adj-{i}"
            ledger.propose_adjustment(agent, name, step[1], step[3], Audit("ops", at, "why"))
            ledger.decide_adjustment(agent, name, True, Audit("fin", at))
        elif step[0] == "generate":
            fenrun.catch_up()
            ledger.generate_statements(MONTHS[step[1]], Audit("fin", NOW))
        else:
            drafts = [r for r in rows_of(fenrun, agent)
                      if r["cycle"] == MONTHS[step[1]] and r["status"] == "DRAFT"]  # fmt: skip
            for draft in drafts:
                try:
                    ledger.decide_statement(draft["id"], "APPROVE", Audit("fin-2", NOW))
                except InvalidState:
                    continue  # stale: a later statement was approved since it was drafted
                approved[draft["id"]] = {**draft, "status": "APPROVED"}
        for row in rows_of(fenrun, agent):
            lines = [StatementLine.of(x) for x in row["lines"]]
            assert closing_of(row["opening"], lines) == row["closing"]
            if row["id"] in approved:
                assert row == approved[row["id"]]
    # State the last cycle (again), approve it: the chain then covers everything.
    fenrun.catch_up()
    ledger.generate_statements(MONTHS[-1], Audit("fin", NOW))
    for row in rows_of(fenrun, agent):
        if row["status"] == "DRAFT" and row["cycle"] == MONTHS[-1]:
            ledger.decide_statement(row["id"], "APPROVE", Audit("fin-2", NOW))
    rows = {r["id"]: r for r in rows_of(fenrun, agent) if r["status"] == "APPROVED"}
    balances = ledger.wallet(agent).balances
    if not rows:
        assert not any(balances.values())
        return
    chain = [r for r in rows.values() if r["previous_id"] is None]
    while len(chain) < len(rows):
        [following] = [r for r in rows.values() if r["previous_id"] == chain[-1]["id"]]
        assert following["opening"] == chain[-1]["closing"]
        chain.append(following)
    assert chain[0]["opening"] == dict.fromkeys(BUCKETS, 0)
    assert chain[-1]["closing"] == balances
