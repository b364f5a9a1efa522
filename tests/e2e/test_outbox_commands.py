"""outboxCommands over HTTP: admins and operators see each command and its delivery."""

from typing import Any

from tests.e2e.conftest import GraphQLClient
from tests.integration.test_outbox import Gadget, Recorder

QUERY = """query($kind: String, $status: OutboxStatus, $first: Int!, $after: String) {
  outboxCommands(kind: $kind, status: $status, first: $first, after: $after) {
    edges { cursor node { commandId kind key payload status attempts answer lastError } }
    pageInfo { hasNextPage endCursor }
  }
}"""


def _page(gql: GraphQLClient, **variables: Any) -> dict[str, Any]:
    return gql(QUERY, {"first": 10, **variables})["data"]["outboxCommands"]


def test_commands_are_listed_by_status_and_paged(gql: GraphQLClient, fenrun: Any) -> None:
    for code in ("g1", "g2", "g3"):
        gadget = Gadget(code)
        gadget.configure("on")
        fenrun.ledger.save(gadget)
    fenrun.dispatcher.register("gadget.configure", Recorder())
    fenrun.dispatcher.run_once()
    gadget = Gadget("g4")
    gadget.configure("later")
    fenrun.ledger.save(gadget)

    delivered = _page(gql, status="DELIVERED")["edges"]
    assert [e["node"]["attempts"] for e in delivered] == [1, 1, 1]
    assert delivered[0]["node"]["answer"] == '{"accepted":"on"}'
    [pending] = _page(gql, status="PENDING", kind="gadget.configure")["edges"]
    assert pending["node"]["payload"] == '{"set":"later"}'

    first = _page(gql, first=2)
    assert len(first["edges"]) == 2
    assert first["pageInfo"]["hasNextPage"]
    rest = _page(gql, first=2, after=first["pageInfo"]["endCursor"])
    assert len(rest["edges"]) == 2
    assert not rest["pageInfo"]["hasNextPage"]


def test_agents_and_auditors_may_not_read_the_outbox(gql: GraphQLClient) -> None:
    gql.ok("registerAgent", {"code": "A", "name": "A", "realNameVerified": True})
    for client in (gql.as_user("a1", roles=("agent",), agent="A"), gql.as_user("au", ("auditor",))):
        body = client.raw(QUERY, {"first": 1}).json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert _page(gql.as_user("op", ("operator",)))["edges"] == []
