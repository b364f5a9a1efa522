"""The query cost rule (api/graphql/cost.py): the table covers the schema, and a request's cost
counts pages, aliases and fragments, so that 30 aliased simulations are refused before running."""

import time

import pytest
from graphql import (
    GraphQLObjectType,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
    parse,
    validate,
)

from api.graphql.cost import COSTS, TOO_COSTLY, Limits, cost_of, cost_rule, tally
from api.graphql.schema import schema

GRAPHQL = schema._schema
LIMITS = Limits(max_cost=1000, max_page=100)
RULES = '[{code: "ml", kind: "MULTI_LEVEL", levels: ["10%"]}]'
SIMULATION = (
    'simulatePlan(code: "ml", rules: ' + RULES + ', from: "2026-03-01T00:00:00+08:00")'
    " { userErrors { code } simulation { difference } }"
)


def cost(query: str, limits: Limits = LIMITS) -> int:
    return tally(GRAPHQL, parse(query), None, limits).cost


def refusals(query: str, limits: Limits = LIMITS) -> list:
    return validate(GRAPHQL, parse(query), [cost_rule(limits)])


def _has_own_resolver(type_name: str, field_name: str) -> bool:
    definition = schema.get_type_by_name(type_name)
    for field in getattr(definition, "fields", []):
        if schema.config.name_converter.get_graphql_name(field) == field_name:
            return field.base_resolver is not None
    return False


def _uncosted() -> list[str]:
    missing = []
    for type_name, graphql_type in GRAPHQL.type_map.items():
        if type_name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        for field_name, field in graphql_type.fields.items():
            is_list_of_objects = is_list_type(get_nullable_type(field.type)) and is_composite_type(
                get_named_type(field.type)
            )
            # A connection's edges (or nodes) are sized by the connection field's `first`: an
            # entry of their own would size them by its `items` instead.
            edges = field_name in ("edges", "nodes") and type_name.endswith("Connection")
            needs_entry = (
                type_name in ("Query", "Mutation")
                or _has_own_resolver(type_name, field_name)
                or (is_list_of_objects and not edges)
            )
            if needs_entry and cost_of(type_name, field_name) is None:
                missing.append(f"{type_name}.{field_name}")
    return missing


def test_every_root_field_resolver_and_list_has_a_cost() -> None:
    assert _uncosted() == [], "add these to COSTS in api/graphql/cost.py"


def test_every_cost_entry_names_a_field_of_the_schema() -> None:
    for key in COSTS:
        type_name, field_name = key.split(".")
        if type_name == "*":
            assert any(field_name in getattr(t, "fields", {}) for t in GRAPHQL.type_map.values()), (
                key
            )
        else:
            assert field_name in GRAPHQL.type_map[type_name].fields, key  # type: ignore[attr-defined]


def test_connections_on_the_connection_type_are_paged() -> None:
    for type_name in ("Query", "Agent", "PlanSimulation"):
        for field_name, field in GRAPHQL.type_map[type_name].fields.items():  # type: ignore[attr-defined]
            if get_named_type(field.type).name.endswith("Connection"):
                entry = cost_of(type_name, field_name)
                assert entry is not None, f"{type_name}.{field_name}"
                assert entry.paged, f"{type_name}.{field_name}"


def test_a_light_read_costs_little() -> None:
    assert cost('{ wallet(agentCode: "A") { available frozen } }') == 2  # the read, the object
    assert cost('{ agent(code: "A") { code parent { code } } }') == 3


def test_a_connection_costs_by_its_page_size() -> None:
    small = cost("{ commissions(first: 10) { edges { node { id } } } }")
    big = cost("{ commissions(first: 100) { edges { node { id } } } }")
    assert small == 1 + 1 + 10 * 2  # the query, the connection, each edge and its node
    assert big == 1 + 1 + 100 * 2
    # No `first`: the schema's default (20); a variable: the largest page (unknown until run).
    assert cost("{ commissions { edges { node { id } } } }") == 1 + 1 + 20 * 2
    assert cost("query($n: Int!) { commissions(first: $n) { edges { node { id } } } }") == big
    # Over the largest page: counted as the largest (the resolver refuses it anyway).
    assert cost("{ commissions(first: 5000) { edges { node { id } } } }") == big


def test_nested_lists_multiply() -> None:
    flat = cost("{ commissions(first: 50) { edges { node { id } } } }")
    nested = cost("{ commissions(first: 50) { edges { node { id history { status } } } } }")
    assert nested - flat == 50 * (1 + 5 * 1)  # history: a read, ~5 status changes each


def test_aliases_and_fragments_count_every_time() -> None:
    one = cost('{ wallet(agentCode: "A") { available } }')
    assert (
        cost('{ a: wallet(agentCode: "A") { available } b: wallet(agentCode: "B") { available } }')
        == 2 * one
    )
    spread = """
        query { a: wallet(agentCode: "A") { ...W } b: wallet(agentCode: "B") { ...W } }
        fragment W on Wallet { available }
    """
    assert cost(spread) == 2 * one
    inline = '{ ... on Query { wallet(agentCode: "A") { available } } }'
    assert cost(inline) == one


def test_fragments_spread_into_each_other_are_counted_without_blowing_up() -> None:
    # Each fragment spreads the next one twice: 2^40 expansions if walked naively.
    depth = 40
    fragments = "\n".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(depth)
    )
    query = f"query {{ ...F0 }}\n{fragments}\nfragment F{depth} on Query {{ auditHead {{ hash }} }}"
    started = time.perf_counter()
    counted = cost(query, Limits(max_cost=10**15, max_page=100))
    assert time.perf_counter() - started < 1
    assert counted == 2**depth * 2  # conservative: GraphQL would merge the duplicates


def test_a_fragment_cycle_is_left_to_the_standard_rule() -> None:
    query = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }"
    assert cost(query) == 0


def test_one_simulation_per_request_at_most() -> None:
    assert refusals("{ " + SIMULATION + " }") == []
    two = refusals("{ a: " + SIMULATION + " b: " + SIMULATION + " }")
    assert [e.extensions["code"] for e in two] == [TOO_COSTLY]
    # Whatever the limit: a simulation costs over half of it.
    for limit in (100, 5000, 10**6):
        assert refusals("{ a: " + SIMULATION + " b: " + SIMULATION + " }", Limits(limit, 100))


def test_thirty_aliased_simulations_are_refused_before_running() -> None:
    """Issue 9, finding 6: simulatePlan x 30 aliases burnt 41-45 s of CPU."""
    query = "{ " + " ".join(f"s{i}: {SIMULATION}" for i in range(30)) + " }"
    [error] = refusals(query)
    assert error.extensions["code"] == TOO_COSTLY
    assert error.extensions["limit"] == 1000
    assert error.extensions["cost"] > 30 * 500
    assert "1000" in error.message


def test_rate_limited_fields_are_counted() -> None:
    replay = 'replay(aggregate: AGENT, code: "A") { version }'
    assert tally(GRAPHQL, parse("{ " + replay + " }"), None, LIMITS).rate_limited == 1
    aliased = "{ " + " ".join(f"r{i}: {replay}" for i in range(5)) + " }"
    assert tally(GRAPHQL, parse(aliased), None, LIMITS).rate_limited == 5
    assert (
        tally(GRAPHQL, parse('{ wallet(agentCode: "A") { debt } }'), None, LIMITS).rate_limited == 0
    )


def test_the_operation_named_is_the_one_counted() -> None:
    document = parse(
        'query Light { wallet(agentCode: "A") { debt } } query Heavy { ' + SIMULATION + " }"
    )
    assert tally(GRAPHQL, document, "Light", LIMITS).cost == 2
    assert tally(GRAPHQL, document, "Heavy", LIMITS).rate_limited == 1


@pytest.mark.parametrize("limit", [10, 1000])
def test_the_rule_is_built_once_per_limits(limit: int) -> None:
    assert cost_rule(Limits(limit, 100)) is cost_rule(Limits(limit, 100))


def test_a_runs_items_cost_by_their_page_never_an_assumed_few() -> None:
    """A run keeps up to 5,000 differences: `items` is paged by its own `first` (default 20),
    so a list of runs with their items is counted by both pages."""
    one = cost('{ reconciliation(id: "R") { items(first: 100) { id } } }')
    assert one == 2 + 1 + 100
    assert cost('{ reconciliation(id: "R") { items { id } } }') == 2 + 1 + 20
    listed = cost("{ reconciliations(first: 10) { nodes { id items(first: 100) { id } } } }")
    assert listed == 2 + 1 + 10 * (1 + 100)  # ten runs (not one), a hundred items each
    assert refusals("{ reconciliations(first: 10) { nodes { items(first: 100) { id } } } }")
