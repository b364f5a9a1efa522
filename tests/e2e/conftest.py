"""A real HTTP server (uvicorn on a free port) over a fresh database, and a small GraphQL client."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.graphql.context import MIN_POSITION_HEADER
from api.identity_cli import mint_token
from application.clock import SetClock
from domain.common import Audit

# The server's clock when a test starts: before every date the tests' facts carry.
TESTS_BEGIN = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8)))
_FACT_TIMES = ("occurredAt", "now")

# The default client's user: the roles the many existing tests need (set up the ledger,
# place orders, approve). Tests of who may do what ask for clients of their own.
DEFAULT_USER = "finance-1"
DEFAULT_ROLES = ("admin", "operator", "finance")


class GraphQLClient:
    """Sends GraphQL as one user, with a bearer token minted the way `fenrun token` mints one
    (the user is added as `fenrun users add` adds it)."""

    def __init__(
        self,
        base_url: str,
        fenrun: Any,
        user: str,
        token: str | None,
        clock: SetClock | None = None,
        written: list[int] | None = None,
    ) -> None:
        self.base_url = base_url
        self.fenrun = fenrun
        self.user = user
        self.token = token
        self.http = httpx.Client(base_url=base_url, timeout=30)
        # Facts are reported as they happen: a mutation dated later moves the server's clock
        # to its time first (off for tests of the clock itself).
        self.clock = clock
        self.follow_facts = clock is not None
        # Read-your-writes as a client session does it (decision 0036): the newest position a
        # mutation of this test answered (shared with the clients made from this one) goes with
        # every later request as X-Fenrun-Min-Position, so a read waits until the policies and
        # views have processed it. Off (`session = False`) for tests of positions themselves.
        self.written = written if written is not None else [0]
        self.session = True

    def _report_at(self, input: dict[str, Any]) -> None:
        if self.clock is None or not self.follow_facts:
            return
        for name in _FACT_TIMES:
            if isinstance(input.get(name), str):
                self.clock.move_to_at_least(datetime.fromisoformat(input[name]))

    def as_user(
        self, code: str, roles: tuple[str, ...] = ("finance",), agent: str | None = None
    ) -> "GraphQLClient":
        """A client of another user (added on first use, with these roles and agent)."""
        token = user_token(self.fenrun, code, roles, agent)
        return GraphQLClient(self.base_url, self.fenrun, code, token, self.clock, self.written)

    def anonymous(self) -> "GraphQLClient":
        return GraphQLClient(
            self.base_url, self.fenrun, "anonymous", None, self.clock, self.written
        )

    def auth(self) -> dict[str, str]:
        """The headers that authenticate this client's requests."""
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    def raw(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        newest = self.written[0]
        at_least = {MIN_POSITION_HEADER: str(newest)} if self.session and newest else {}
        response = self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={**self.auth(), **at_least, **(headers or {})},
        )
        self._remember(query, response)
        return response

    def _remember(self, query: str, response: httpx.Response) -> None:
        """Keeps the position a mutation answered (its write), for the reads that follow."""
        if not query.lstrip().startswith("mutation") or response.status_code != 200:
            return
        try:
            position = response.json().get("extensions", {}).get("position")
        except ValueError:
            return
        if isinstance(position, str) and position.isdigit():
            self.written[0] = max(self.written[0], int(position))

    def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.raw(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body

    def mutate(self, name: str, input: dict[str, Any], fields: str = "") -> dict[str, Any]:
        """Runs a mutation and returns its payload (userErrors included)."""
        self._report_at(input)
        body = self(
            f"mutation($input: {name[0].upper()}{name[1:]}Input!) {{ {name}(input: $input)"
            f" {{ {fields} userErrors {{ code field message }} }} }}",
            {"input": input},
        )
        return body["data"][name]

    def ok(self, name: str, input: dict[str, Any], fields: str = "") -> dict[str, Any]:
        payload = self.mutate(name, input, fields)
        assert payload["userErrors"] == [], payload["userErrors"]
        return payload


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serves an app (create_app's) on a free loopback port; yields its base URL."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        assert thread.is_alive(), "server failed to start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serving(fenrun) -> Iterator[str]:
    """The API over this composition root, on a free port, until the block ends."""
    with running(create_app(fenrun=fenrun)) as url:
        yield url


@pytest.fixture
def server(fenrun) -> Iterator[str]:
    with running(create_app(fenrun=fenrun)) as url:
        yield url


def user_token(
    fenrun: Any, code: str, roles: tuple[str, ...], agent: str | None = None, ttl: str = "1h"
) -> str:
    """Adds the user unless it exists, then mints its token through the CLI's own path."""
    if fenrun.ledger.user(code) is None:
        fenrun.ledger.add_user(code, roles, agent, Audit("test-setup", fenrun.clock.now()))
    return mint_token(fenrun, code, ttl)


def client_for(url: str, fenrun: Any) -> GraphQLClient:
    """The default test user's client of a server a test started itself."""
    return GraphQLClient(url, fenrun, DEFAULT_USER, user_token(fenrun, DEFAULT_USER, DEFAULT_ROLES))


@pytest.fixture
def gql(server: str, fenrun, clock: SetClock) -> Iterator[GraphQLClient]:
    clock.set(TESTS_BEGIN)
    client = GraphQLClient(server, fenrun, DEFAULT_USER, None, clock)
    client.token = user_token(fenrun, DEFAULT_USER, DEFAULT_ROLES)
    yield client
    client.http.close()
