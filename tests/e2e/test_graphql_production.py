"""GraphQL for production: introspection and suggestions for admins only (by default), and
persisted queries as an allow-list for a company's own frontends."""

from pathlib import Path

import httpx
import orjson

from api.app import create_app
from api.graphql.persisted import operation_hash
from tests.e2e.conftest import GraphQLClient, running, user_token

INTROSPECT = "{ __schema { queryType { name } } }"
TYPO = '{ walet(agentCode: "A") { frozen } }'


def test_introspection_and_suggestions_for_admins_only(gql: GraphQLClient) -> None:
    finance = gql.as_user("fin-1", ("finance",))
    hidden = finance.raw(INTROSPECT).json()
    assert "introspection" in hidden["errors"][0]["message"].lower()
    assert gql(INTROSPECT)["data"]["__schema"]["queryType"]["name"] == "Query"  # an admin
    assert "Did you mean" not in finance.raw(TYPO).json()["errors"][0]["message"]
    assert "Did you mean 'wallet'" in gql.raw(TYPO).json()["errors"][0]["message"]
    assert finance("{ __typename }")["data"] == {"__typename": "Query"}


def test_an_admins_earlier_validation_never_answers_for_another_caller(
    gql: GraphQLClient,
) -> None:
    """Validation is cached per text: the same text validated first for an admin (allowed)
    must still be refused to a finance user, and the other way round."""
    text = "{ __schema { mutationType { name } } }"
    assert gql(text)["data"]["__schema"]["mutationType"]["name"] == "Mutation"
    finance = gql.as_user("fin-2", ("finance",))
    for _ in range(2):
        hidden = finance.raw(text).json()
        assert "introspection" in hidden["errors"][0]["message"].lower()
        assert "data" not in hidden or hidden["data"] is None
    assert gql(text)["data"]["__schema"]["mutationType"]["name"] == "Mutation"


def test_persisted_queries_are_an_allow_list(fenrun, tmp_path: Path) -> None:
    listed = "{ platformTotals { net } }"
    manifest = tmp_path / "operations.json"
    manifest.write_bytes(orjson.dumps({operation_hash(listed): listed}))
    settings = fenrun.settings.model_copy(update={"persisted_queries_file": manifest})
    finance = {"authorization": f"Bearer {user_token(fenrun, 'fin-1', ('finance',))}"}
    admin = {"authorization": f"Bearer {user_token(fenrun, 'adm-1', ('admin',))}"}
    with running(create_app(settings, fenrun=fenrun)) as url:
        by_hash = {
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": operation_hash(listed)}}
        }
        sent = httpx.post(url + "/graphql", json=by_hash, headers=finance)
        assert sent.json()["data"] == {"platformTotals": {"net": "0.00"}}
        whole = httpx.post(url + "/graphql", json={"query": listed}, headers=finance)
        assert whole.status_code == 200
        other = {"query": "{ commissionPlans { code } }"}
        assert httpx.post(url + "/graphql", json=other, headers=finance).status_code == 403
        assert httpx.post(url + "/graphql", json=other, headers=admin).status_code == 200
        unknown = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}
        assert httpx.post(url + "/graphql", json=unknown, headers=finance).status_code in (400, 403)
