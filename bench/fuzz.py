"""Fuzzing the GraphQL API over HTTP: `python -m bench.fuzz --requests N` (issue 9).

Operations come from the schema (hypothesis-graphql: every query and mutation, any selection,
literal arguments), with our own generators for the scalars a client gets wrong: Money strings
(valid, malformed, huge), DateTimes (past, future, far future, without offset), rules documents
(every rule kind, and junk), and strings with NUL, control characters, lone surrogates, known
codes and very long values. Each request is sent as JSON (lone surrogates escaped) with either
media type, and checked:

- no HTTP 5xx;
- no "Unexpected error." anywhere in the body (a masked bug);
- a mutation whose every root field was refused (userErrors, or an error) moved no log position
  (max notification_id before and after).

The CI test (tests/e2e/test_fuzz.py) runs a bounded, derandomized number of examples; this
command runs as many as asked, exploring new ones each time, on a database and server of its
own, and prints requests / statuses / 5xx / unexpected errors / positions moved on refusal,
with the first few examples of each.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import graphql
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes

UNEXPECTED = "Unexpected error."
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
KNOWN_CODES = ("A", "B", "PK", "ml", "O-1", "89860000000000000001")
# The server under fuzzing: refusals by cost or rate would hide what lies behind them (both
# have tests of their own), so they are set out of the way.
SETTINGS = {"max_query_cost": 1_000_000, "expensive_burst": 1000, "expensive_per_minute": 10_000}
MEDIA_TYPES = ("application/json", "application/graphql-response+json")
EXAMPLES_KEPT = 5

# -- generators ------------------------------------------------------------------------------------
NASTY = ["", " ", "\x00", "a\x00b", "\x01\x1f\x7f", "\ud800", "x\udfff", "\u202e", "\ufeff", "\n"]
RULE_KINDS = (
    "PERCENTAGE", "FIXED", "PRICE_DIFFERENCE", "ONE_TIME", "MULTI_LEVEL", "TIERED",
    "LEVEL_DIFFERENCE", "PEER_LEVEL", "LONG_TERM",
)  # fmt: skip
VALID_RULES = [
    [{"code": "pct5", "kind": "PERCENTAGE", "rate": "5%", "base": "COST_PRICE"}],
    [{"code": "fixed5", "kind": "FIXED", "amount": "5.00"}],
    [{"code": "diff", "kind": "PRICE_DIFFERENCE", "holdDays": 15}],
    [{"code": "ml", "kind": "MULTI_LEVEL", "levels": ["10%", "5%"], "holdDays": 7}],
    [{"code": "peer", "kind": "PEER_LEVEL", "rate": "0.2%"}],
    [
        {
            "code": "tiers",
            "kind": "TIERED",
            "metric": "SALES_AMOUNT",
            "mode": "graduated",
            "tiers": [{"upTo": "500.00", "rate": "1%"}, {"upTo": None, "rate": "2%"}],
        }
    ],
]
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
DATETIMES = [
    "2026-03-01T00:00:00+08:00",
    "1970-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-12:00",
    "2026-03-01T00:00:00",  # no offset
    "2026-02-30T00:00:00+08:00",
    "yesterday",
]


def scalars(with_nul: bool = True) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    """Value generators for the scalars, keyed by name. without NUL: to explore what lies
    behind the NUL finding while it is open."""
    text = st.one_of(
        st.sampled_from(KNOWN_CODES),
        st.text(max_size=12),
        st.text(alphabet=st.characters(max_codepoint=0x20), max_size=8),
        st.sampled_from(NASTY),
        st.integers(1_000, 100_000).map(lambda n: "x" * n),
    )
    if not with_nul:
        text = text.filter(lambda t: "\x00" not in t)
    money = st.one_of(
        st.sampled_from(["60", "60.5", "60.50", "0.01", "0", "1000000"]),
        st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False).map(str),
        st.sampled_from(["1e3", "-5", "60.505", "abc", "NaN", "Infinity", "1,000", "٦٠", " 60 "]),
        st.sampled_from(["9" * 30, "92233720368547758.07", "92233720368547758.08", "-9" * 19]),
        st.integers(min_value=-(10**25), max_value=10**25).map(str),
        text,
    )
    date_time = st.one_of(
        st.builds(
            lambda at, tz: at.replace(tzinfo=tz).isoformat(),
            st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
            OFFSETS,
        ),
        st.sampled_from(DATETIMES),
        st.datetimes(timezones=st.just(UTC)).map(lambda at: at.isoformat()),
        text,
    )
    leaves = st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), text
    )
    junk = st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
        max_leaves=12,
    )
    rule = st.fixed_dictionaries(
        {"code": text, "kind": st.sampled_from(RULE_KINDS) | text},
        optional={
            "rate": money.map(lambda m: f"{m}%"),
            "amount": money,
            "levels": st.lists(money.map(lambda m: f"{m}%"), max_size=5),
            "holdDays": st.integers(-(2**40), 2**40),
            "packages": st.lists(text, max_size=3),
        },
    )
    rules = st.one_of(st.sampled_from(VALID_RULES), st.lists(rule, max_size=3), junk)
    return {
        "String": text.map(nodes.String),
        "Money": money.map(nodes.String) | st.integers(-(10**6), 10**6).map(nodes.Int),
        "DateTime": date_time.map(nodes.String),
        "JSON": rules.map(value_node),
    }


def value_node(value: object) -> graphql.ValueNode:
    """A JSON value as a GraphQL literal (what strawberry's JSON scalar reads back)."""
    if value is None:
        return nodes.Null
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([value_node(v) for v in value])
    assert isinstance(value, dict)
    return nodes.Object(
        [
            graphql.ObjectFieldNode(name=graphql.NameNode(value=_name(k)), value=value_node(v))
            for k, v in value.items()
        ]
    )


def _name(key: str) -> str:
    # An object literal's keys are GraphQL names: other keys cannot be written literally.
    return key if _NAME.fullmatch(key) else "k"


def operations(
    schema: graphql.GraphQLSchema, kind: str, with_nul: bool = True
) -> st.SearchStrategy[str]:
    """Documents of one kind ("query" or "mutation") over the whole schema."""
    root = schema.query_type if kind == "query" else schema.mutation_type
    assert root is not None
    return from_schema(
        schema, fields=list(root.fields), custom_scalars=scalars(with_nul), codec=None
    )


# -- checks ---------------------------------------------------------------------------------------
@dataclass
class Report:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[dict[str, Any]] = field(default_factory=list)
    unexpected: list[dict[str, Any]] = field(default_factory=list)
    moved_on_refusal: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    unexpected_at: Counter[str] = field(default_factory=Counter)  # by root field
    mutations: Counter[str] = field(default_factory=Counter)  # root fields: ok, refused, error

    def keep(self, found: list[dict[str, Any]], name: str, example: dict[str, Any]) -> None:
        self.counts[name] += 1
        if len(found) < EXAMPLES_KEPT:
            found.append(example)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "http_5xx": self.counts["http_5xx"],
            "unexpected_errors": self.counts["unexpected_errors"],
            "position_moved_on_refusal": self.counts["position_moved_on_refusal"],
            "unexpected_errors_by_field": dict(self.unexpected_at.most_common()),
            "mutation_fields": dict(self.mutations),
            "examples": {
                "http_5xx": self.server_errors,
                "unexpected_errors": self.unexpected,
                "position_moved_on_refusal": self.moved_on_refusal,
            },
        }


def _refused(body: Any, document: str) -> bool:
    """Every root field of a mutation was refused: an error, or a payload with userErrors."""
    if not isinstance(body, dict) or "mutation" not in document.split("{", 1)[0]:
        return False
    if body.get("errors") and not body.get("data"):
        return True
    data = body.get("data") or {}
    return bool(data) and all(
        payload is None or (isinstance(payload, dict) and payload.get("userErrors"))
        for payload in data.values()
    )


def _outcome(payload: Any) -> str:
    if payload is None:
        return "error"
    return "refused" if isinstance(payload, dict) and payload.get("userErrors") else "ok"


def settled_head(http: Any, last: Callable[[], int]) -> Callable[[], int]:
    """The log's head once the server's policies have reacted to every write before it (a view's
    read sent with X-Fenrun-Min-Position waits for them): mutations answer before the policies run
    (decision 0036), and their reactions to an accepted mutation, landing while a refused one is
    sent, are not the refused one's writes."""

    def head() -> int:
        position = last()
        for _ in range(20):
            http.post(  # a read of a view: it waits (a read of none would not)
                "/graphql",
                json={"query": "{ platformTotals { net } }"},
                headers={"x-fenrun-min-position": str(position)},
            )
            if (now := last()) == position:
                break
            position = now
        return position

    return head


class Fuzzer:
    """Sends documents to /graphql and checks each answer; `head` reads the log's position."""

    def __init__(self, http: Any, head: Callable[[], int]) -> None:
        self.http = http
        self.head = head
        self.report = Report()

    def send(self, document: str, accept: str) -> None:
        before = self.head()
        body = json.dumps({"query": document}).encode()  # ensure_ascii: surrogates escaped
        response = self.http.post(
            "/graphql",
            content=body,
            headers={"content-type": "application/json", "accept": accept, "x-fenrun-actor": "fz"},
        )
        after = self.head()
        report = self.report
        report.requests += 1
        report.statuses[response.status_code] += 1
        example = {"document": document[:2000], "status": response.status_code,
                   "response": response.text[:1000]}  # fmt: skip
        if response.status_code >= 500:
            report.keep(report.server_errors, "http_5xx", example)
        if UNEXPECTED in response.text:
            report.keep(report.unexpected, "unexpected_errors", example)
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        for error in (parsed or {}).get("errors") or [] if isinstance(parsed, dict) else []:
            if isinstance(error, dict) and error.get("message") == UNEXPECTED:
                report.unexpected_at[str((error.get("path") or ["?"])[0])] += 1
        if isinstance(parsed, dict) and document.lstrip().startswith("mutation"):
            for payload in (parsed.get("data") or {}).values():
                report.mutations[_outcome(payload)] += 1
        if after != before and _refused(parsed, document):
            example["moved"] = [before, after]
            report.keep(report.moved_on_refusal, "position_moved_on_refusal", example)

    def run(self, strategy: st.SearchStrategy[str], examples: int, explore: bool) -> Report:
        """Sends `examples` generated documents; never stops at the first problem (the database
        keeps what earlier requests wrote, so a failure could not be shrunk alone)."""

        @settings(
            max_examples=examples,
            derandomize=not explore,
            database=None,
            deadline=None,
            phases=(Phase.generate,),
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(document=strategy, accept=st.sampled_from(MEDIA_TYPES))
        def one(document: str, accept: str) -> None:
            self.send(document, accept)

        one()
        return self.report


# Documents that found bugs once, sent before the generated ones so they are always tried.
KNOWN = [
    'mutation { topUpDeposit(input: {agentCode: "A", amount: "92233720368547758.07"}) {'
    " userErrors { code } } }",
    'mutation { placeOrder(input: {orderId: "far", packageCode: "PK", agentCode: "B",'
    ' flow: CUSTOMER_PAYS, occurredAt: "9999-12-31T23:59:59-12:00"}) { userErrors { code } } }',
    '{ commissions(first: 5, after: "\\ud800") { edges { cursor } } }',
    '{ replay(aggregate: AGENT, code: "\\u0000") { version } }',
    '{ planSimulationJob(id: "\\u0000") { id } }',
    # A time past year 9999 in UTC: the release committed, then 'Unexpected error.' (issue 9).
    'mutation { releaseDueCommissions(input: {now: "9999-12-31T23:59:59-12:00"}) { userErrors'
    " { code } } }",
    # NUL was recorded, then broke every view: 'Unexpected error.' (issue 9).
    'mutation { registerAgent(input: {code: "N\\u0000UL", name: "x"}) { agentCode userErrors'
    " { code } } }",
]

# -- the command ----------------------------------------------------------------------------------
SEED = [
    ("definePackage", {"code": "PK", "name": "Plan", "kind": "TRAFFIC", "purchasePrice": "10"}),
    ("registerAgent", {"code": "A", "name": "A"}),
    ("registerAgent", {"code": "B", "name": "B", "parentCode": "A"}),
    ("setCostPrice", {"agentCode": "A", "packageCode": "PK", "costPrice": "50"}),
    ("setCostPrice", {"agentCode": "B", "packageCode": "PK", "costPrice": "50"}),
    ("setRetailPrice", {"agentCode": "B", "packageCode": "PK", "retailPrice": "100"}),
    (
        "defineCommissionPlan",
        {"code": "ml", "effectiveFrom": "2026-01-01T00:00:00+08:00",
         "rules": [{"code": "ml", "kind": "MULTI_LEVEL", "levels": ["10%", "5%"]}]},
    ),
    (
        "placeOrder",
        {"orderId": "O-1", "packageCode": "PK", "agentCode": "B", "buyerCode": "c",
         "flow": "CUSTOMER_PAYS"},
    ),
    # Now, by the server's clock: the agents were registered now too (a sale dated before its
    # seller existed is refused).
    ("completeOrder", {"orderId": "O-1"}),
]  # fmt: skip


def seed(http: Any) -> None:
    """A small ledger for generated operations to meet: agents A > B, package PK, plan ml, one
    completed order O-1."""
    for name, input in SEED:
        type_name = name[0].upper() + name[1:] + "Input"
        response = http.post(
            "/graphql",
            json={
                "query": f"mutation($i: {type_name}!) {{ {name}(input: $i) {{ userErrors"
                " { code message } } }",
                "variables": {"i": input},
            },
            headers={"x-fenrun-actor": "seed"},
        )
        payload = response.json()["data"][name]
        if payload["userErrors"]:
            raise RuntimeError(f"seeding {name}: {payload['userErrors']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fuzz", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--requests", type=int, default=2000, help="documents to send")
    parser.add_argument("--server-url", help="PostgreSQL server to make the database on")
    parser.add_argument(
        "--without-nul",
        action="store_true",
        help="no NUL in strings: what lies behind the NUL finding while it is open",
    )
    args = parser.parse_args(argv)

    import httpx
    import psycopg

    from api.graphql.schema import schema
    from bench.common import database, progress, server
    from bench.cost import free_port, start_server

    started = time.perf_counter()
    with server(args.server_url) as srv, database(srv.url, "fuzz") as dsn:
        port = free_port()
        api = start_server(dsn, port, {f"FENRUN_{k.upper()}": str(v) for k, v in SETTINGS.items()})
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http, \
                    psycopg.connect(dsn, autocommit=True) as conn:  # fmt: skip
                seed(http)

                def last() -> int:
                    row = conn.execute(
                        "SELECT coalesce(max(notification_id), 0) FROM ledger_events"
                    )
                    return row.fetchone()[0]  # type: ignore[index]

                fuzzer = Fuzzer(http, settled_head(http, last))
                for document in KNOWN:
                    fuzzer.send(document, "application/json")
                for kind in ("query", "mutation"):
                    progress(f"fuzz: {args.requests // 2} {kind} documents")
                    found = operations(schema._schema, kind, with_nul=not args.without_nul)
                    fuzzer.run(found, args.requests // 2, explore=True)

        finally:
            api.terminate()
            api.wait(timeout=30)
    summary = fuzzer.report.summary() | {"seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps(summary, indent=2, ensure_ascii=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
