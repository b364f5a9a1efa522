"""GraphQL over HTTP: media types, status codes, scalars that refuse lossy input, limits."""

import httpx

from api.schema_export import SCHEMA_FILE, current
from tests.e2e.conftest import GraphQLClient

GQL_RESPONSE = "application/graphql-response+json"


def test_schema_file_is_current() -> None:
    assert SCHEMA_FILE.read_text() == current(), "run `python -m api.schema_export`"


def test_new_media_type_gives_400_without_data_on_parse_errors(gql: GraphQLClient) -> None:
    r = gql.raw("{ wallet(agentCode: ", headers={"accept": GQL_RESPONSE})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith(GQL_RESPONSE)
    assert "data" not in r.json()
    assert r.json()["errors"]


def test_new_media_type_gives_400_on_validation_errors(gql: GraphQLClient) -> None:
    r = gql.raw("{ noSuchField }", headers={"accept": GQL_RESPONSE})
    assert r.status_code == 400
    assert "data" not in r.json()


def test_legacy_media_type_keeps_200(gql: GraphQLClient) -> None:
    r = gql.raw("{ noSuchField }", headers={"accept": "application/json"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")


def test_successful_query_with_new_media_type(gql: GraphQLClient) -> None:
    r = gql.raw('{ wallet(agentCode: "nobody") { frozen } }', headers={"accept": GQL_RESPONSE})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(GQL_RESPONSE)
    assert r.json()["data"] == {"wallet": None}
    assert "position" in r.json()["extensions"]


def test_get_queries_work_and_mutations_over_get_are_refused(
    gql: GraphQLClient, server: str
) -> None:
    bearer = {"authorization": f"Bearer {gql.token}"}
    r = httpx.get(
        f"{server}/graphql",
        params={"query": "{ platformTotals { net } }"},
        headers={"accept": "application/json", **bearer},
    )
    assert r.status_code == 200
    assert r.json()["data"]["platformTotals"]["net"] == "0.00"
    r = httpx.get(
        f"{server}/graphql",
        params={"query": 'mutation { registerAgent(input: {code: "G", name: "G"}) { agentCode } }'},
        headers=bearer,
    )
    assert r.status_code == 405


def test_money_as_json_number_is_refused(gql: GraphQLClient) -> None:
    gql.ok("registerAgent", {"code": "A", "name": "A"})
    r = gql.raw(
        "mutation($i: TopUpDepositInput!) { topUpDeposit(input: $i) { userErrors { code } } }",
        {"i": {"agentCode": "A", "amount": 12345678901234567.89}},
    )
    body = r.json()
    assert body.get("data") is None
    assert "string" in body["errors"][0]["message"]
    w = gql('{ wallet(agentCode: "A") { deposit } }')["data"]["wallet"]
    assert w["deposit"] == "0.00"


def test_datetime_without_offset_is_refused(gql: GraphQLClient) -> None:
    r = gql.raw('{ wallet(agentCode: "A", asOf: "2026-01-01T00:00:00") { frozen } }')
    assert r.json().get("data") is None
    assert "offset" in r.json()["errors"][0]["message"]


def test_oversize_request_is_refused(gql: GraphQLClient) -> None:
    r = gql.raw("{ platformTotals { net } }" + " " * 2_000_000)
    assert r.status_code == 413


def test_too_many_aliases_are_refused(gql: GraphQLClient) -> None:
    fine = "{ " + " ".join(f"a{i}: platformTotals {{ net }}" for i in range(5)) + " }"
    assert "errors" not in gql.raw(fine).json()
    many = "{ " + " ".join(f"a{i}: platformTotals {{ net }}" for i in range(31)) + " }"
    body = gql.raw(many).json()
    assert "aliases" in body["errors"][0]["message"]


def test_unknown_position_is_an_error(gql: GraphQLClient) -> None:
    r = gql.raw('{ wallet(agentCode: "A", position: "999999") { frozen } }')
    assert "not yet projected" in r.json()["errors"][0]["message"]
