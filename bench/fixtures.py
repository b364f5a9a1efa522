"""The price chain every benchmark sells through: platform -> A -> B -> C, C sells.

Prices (fen) for package P: A's cost 60.00, B's 70.00, C's 80.00, C's retail 100.00; plan `pct`
pays the seller 5% of its cost price. A CUSTOMER_PAYS order from C therefore accrues four
commission lines: price differences to A (10.00), B (10.00) and C (20.00), and C's 5% (4.00).
"""

from __future__ import annotations

import itertools
from typing import Any

from bench.common import audit_time, check, plan_start
from domain.common import Audit
from domain.order import Flow, Order

PACKAGE = "P"
CHAIN = ("A", "B", "C")
SELLER = "C"
LINES_PER_ORDER = 4  # commission events per completed order (see the module docstring)


def setup_chain(app: Any) -> None:
    """Registers the chain, the package, the price menu and the plan; then catches up."""
    ledger = app.ledger
    audit = Audit("bench", audit_time(), "setup")
    parent = None
    for code in CHAIN:
        ledger.register_agent(code, f"Agent {code}", parent, True, audit)
        parent = code
    ledger.define_package(PACKAGE, "Traffic 50", "TRAFFIC", 5000, 1, audit)
    for code, cost in zip(CHAIN, (6000, 7000, 8000), strict=True):
        ledger.set_cost_price(code, PACKAGE, cost, audit)
    ledger.set_retail_price(SELLER, PACKAGE, 10000, audit)
    ledger.define_commission_plan(
        "pct", plan_start(), [{"code": "pct5", "kind": "PERCENTAGE", "rate": "5%"}], audit
    )
    app.catch_up()


def order_id(run: str, i: int) -> str:
    return f"{run}-{i:07d}"


def place_and_complete(app: Any, run: str, start: int, count: int, keys: bool = False) -> None:
    """(a) The plain use-case path: place_order then complete_order, one transaction each."""
    ledger = app.ledger
    audit = Audit("bench", audit_time(), "")
    for i in range(start, start + count):
        oid = order_id(run, i)
        ledger.place_order(
            oid,
            PACKAGE,
            SELLER,
            None,
            f"cust-{i}",
            Flow.CUSTOMER_PAYS,
            audit,
            key=f"place:{oid}" if keys else None,
        )
        ledger.complete_order(oid, audit, key=f"complete:{oid}" if keys else None)


def place_and_complete_batched(app: Any, run: str, start: int, count: int, chunk: int) -> None:
    """(b) What the current code allows for batching: the domain's Order.place + complete, and
    one Application.save() of `chunk` orders (both events of each) per transaction.

    Reads the price chain once per chunk with the ledger's own loaders and makes the checks
    place_order makes for this case (chain order, retail price). It skips the per-order
    `exists` query: a duplicate order id still fails the whole chunk on the event store's
    primary key (IntegrityError), but the error is not the use case's AlreadyExists.
    """
    ledger = app.ledger
    audit = Audit("bench", audit_time(), "")
    for lo in range(start, start + count, chunk):
        hi = min(lo + chunk, start + count)
        package = ledger.package(PACKAGE)
        seller = ledger.agent(SELLER)
        lineage = list(reversed(ledger.ancestry(seller)))
        chain = [(a.code, a.cost_price(PACKAGE)) for a in lineage]
        for (_, upper), (_, lower) in itertools.pairwise(chain):
            check(lower >= upper, "price menu out of order")
        retail = seller.retail_price(PACKAGE)
        orders = []
        for i in range(lo, hi):
            order = Order.place(
                order_id(run, i),
                PACKAGE,
                package.kind,
                SELLER,
                f"cust-{i}",
                None,
                Flow.CUSTOMER_PAYS,
                chain,
                retail,
                audit,
            )
            order.complete(audit)
            orders.append(order)
        ledger.save(*orders)
