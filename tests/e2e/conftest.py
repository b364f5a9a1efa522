"""A real HTTP server (uvicorn on a free port) over a fresh database, and a small GraphQL client."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app


class GraphQLClient:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.actor = "finance-1"

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
def serving(fenrun) -> Iterator[str]:
    """The API over this composition root, on a free port, until the block ends."""
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
        assert thread.is_alive(), "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(fenrun) -> Iterator[str]:
    with serving(fenrun) as url:
        yield url


@pytest.fixture
def gql(server: str) -> Iterator[GraphQLClient]:
    client = GraphQLClient(server)
    yield client
    client.http.close()
