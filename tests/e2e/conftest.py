"""A real HTTP server (uvicorn on a free port) over a fresh database, and a small GraphQL client."""

import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from application.clock import SetClock

# The server's clock when a test starts: before every date the tests' facts carry.
TESTS_BEGIN = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8)))
_FACT_TIMES = ("occurredAt", "now")


class GraphQLClient:
    def __init__(self, base_url: str, clock: SetClock | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.actor = "finance-1"
        # Facts are reported as they happen: a mutation dated later moves the server's clock
        # to its time first (off for tests of the clock itself).
        self.clock = clock
        self.follow_facts = clock is not None

    def _report_at(self, input: dict[str, Any]) -> None:
        if self.clock is None or not self.follow_facts:
            return
        for name in _FACT_TIMES:
            if isinstance(input.get(name), str):
                self.clock.move_to_at_least(datetime.fromisoformat(input[name]))

    def raw(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"x-fenrun-actor": self.actor, **(headers or {})},
        )

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


@pytest.fixture
def server(fenrun) -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(
        create_app(fenrun=fenrun), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def gql(server: str, clock: SetClock) -> Iterator[GraphQLClient]:
    clock.set(TESTS_BEGIN)
    client = GraphQLClient(server, clock)
    yield client
    client.http.close()
