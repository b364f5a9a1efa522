"""Tokens from a company's identity provider (a tiny one stands up here: OIDC discovery and a
JWKS of keys the test holds, RS256 tokens minted with PyJWT), and machines' signed requests."""

import base64
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from api.app import create_app
from api.auth.sealing import Sealer
from api.auth.signatures import sign
from api.bootstrap import bootstrap
from application.carriers import CardStateReport
from application.settings import Settings
from domain.common import Audit
from tests.e2e.conftest import GraphQLClient, running, user_token
from tests.e2e.test_authorization import forbidden
from tests.e2e.test_rules_settlement import LONG, card_lines, row, setup

AUDIENCE = "fenrun-api"
ME = "{ me { subject roles agentCode } }"


class Provider:
    """An OpenID provider as far as Fenrun needs one: discovery, keys, tokens."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.published: list[str] = []
        self.fetches = 0
        self.url = ""

    def rotate(self) -> str:
        kid = f"k{len(self.keys) + 1}"
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.published = [kid]  # the old key is withdrawn
        return kid

    def jwks(self) -> dict[str, Any]:
        self.fetches += 1
        keys = []
        for kid in self.published:
            jwk = orjson.loads(RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def token(self, kid: str | None = None, **claims: Any) -> str:
        kid = kid or self.published[-1]
        now = datetime.now(UTC)
        body = {"iss": self.url, "aud": AUDIENCE, "iat": now, "exp": now + timedelta(minutes=5)}
        body.update(claims)
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@contextmanager
def provider() -> Iterator[Provider]:
    idp = Provider()
    idp.rotate()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/realms/acme/.well-known/openid-configuration":
                body = {"issuer": idp.url, "jwks_uri": idp.url + "/certs"}
            elif self.path == "/realms/acme/certs":
                body = idp.jwks()
            else:
                self.send_error(404)
                return
            data = orjson.dumps(body)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    idp.url = f"http://127.0.0.1:{http.server_address[1]}/realms/acme"
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        http.shutdown()


@pytest.fixture
def keycloak(dsn: str, tmp_path: Path) -> Iterator[tuple[Provider, httpx.Client]]:
    """The service trusting the provider, with Keycloak's claim layout."""
    with provider() as idp:
        settings = Settings(
            database_url=dsn,
            data_dir=tmp_path,
            auth_issuer=idp.url,
            auth_audience=AUDIENCE,
            auth_subject_claim="preferred_username",
            auth_roles_claim="realm_access.roles",
            auth_agent_claim="fenrun.agent",
            auth_jwks_refresh_seconds=0,
            # With an external issuer the personal-data keys are the deployment's (0024).
            pii_keys=f"k1:{base64.b64encode(os.urandom(32)).decode()}",
        )
        app = bootstrap(settings, run_migrations=False)
        try:
            with running(create_app(fenrun=app)) as url, httpx.Client(base_url=url) as client:
                yield idp, client
        finally:
            app.close()


def ask(client: httpx.Client, token: str, query: str = ME) -> httpx.Response:
    return client.post(
        "/graphql", json={"query": query}, headers={"authorization": f"Bearer {token}"}
    )


def test_tokens_of_an_external_provider(keycloak: tuple[Provider, httpx.Client]) -> None:
    idp, client = keycloak
    roles = {"roles": ["finance", "offline_access", "uma_authorization"]}
    good = idp.token(preferred_username="li.wei", realm_access=roles)
    assert ask(client, good).json()["data"]["me"] == {
        "subject": "li.wei",
        "roles": ["FINANCE"],
        "agentCode": None,
    }
    agent = idp.token(
        preferred_username="a1", realm_access={"roles": ["agent"]}, fenrun={"agent": "A"}
    )
    assert ask(client, agent).json()["data"]["me"]["agentCode"] == "A"
    assert forbidden(ask(client, agent, "{ platformTotals { net } }").json()) == ["platformTotals"]

    refused = {
        "another audience": idp.token(preferred_username="x", aud="other-app"),
        "another issuer": idp.token(preferred_username="x", iss="http://evil.example"),
        "expired": idp.token(
            preferred_username="x",
            iat=datetime.now(UTC) - timedelta(hours=2),
            exp=datetime.now(UTC) - timedelta(hours=1),
        ),
        "no subject": idp.token(realm_access=roles),
        "agent without its code": idp.token(
            preferred_username="a2", realm_access={"roles": ["agent"]}
        ),
    }
    for why, token in refused.items():
        answer = ask(client, token)
        assert answer.status_code == 401, why
        assert answer.headers["www-authenticate"].startswith('Bearer realm="fenrun", error='), why
    # Signed by a key the provider never published.
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {"iss": idp.url, "aud": AUDIENCE, "preferred_username": "x", "exp": time.time() + 60},
        stranger,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    assert ask(client, forged).status_code == 401


def test_a_rotated_key_is_fetched_when_a_token_names_it(
    keycloak: tuple[Provider, httpx.Client],
) -> None:
    idp, client = keycloak
    claims = {"preferred_username": "li.wei", "realm_access": {"roles": ["auditor"]}}
    assert ask(client, idp.token(**claims)).status_code == 200
    fetched = idp.fetches
    old = idp.published[0]
    new = idp.rotate()
    assert ask(client, idp.token(new, **claims)).status_code == 200
    assert idp.fetches == fetched + 1  # kid not in the cached set: fetched again
    assert ask(client, idp.token(old, **claims)).status_code == 401  # withdrawn


# -- machines -----------------------------------------------------------------------------------


def signed(secret: str, key_id: str, body: bytes, **override: str) -> dict[str, str]:
    stamp = override.get("timestamp", str(int(time.time())))
    nonce = override.get("nonce", secrets.token_hex(12))
    path = "/v1/carrier-settlements"
    return {
        "content-type": "application/json",
        "x-fenrun-key": key_id,
        "x-fenrun-timestamp": stamp,
        "x-fenrun-nonce": nonce,
        "x-fenrun-signature": sign(secret, "POST", path, stamp, nonce, body),
    }


def test_a_signed_settlement_row(gql: GraphQLClient, server: str, fenrun) -> None:
    setup(gql, [LONG])
    secret, key_id = secrets.token_urlsafe(32), "fk_test"
    sealed = Sealer.of(fenrun.settings).seal(secret, key_id)
    fenrun.ledger.issue_api_key(
        key_id,
        "carrier",
        ("settlements",),
        sealed,
        Audit("ops", fenrun.clock.now()),
        speaks_for="CMCC",
    )
    body = orjson.dumps(row("R-1"))
    gql.clock.move_to_at_least(datetime.fromisoformat(row("R-1")["occurredAt"]))  # reported then
    url = server + "/v1/carrier-settlements"
    headers = signed(secret, key_id, body)
    done = httpx.post(url, content=body, headers=headers)
    assert done.status_code == 200, done.text
    assert done.json() == {
        "rowId": "R-1",
        "agentShare": "12.00",
        "platformShare": "18.00",
        "userErrors": [],
    }
    replay = httpx.post(url, content=body, headers=headers)
    assert replay.status_code == 401
    assert "replay" in replay.headers["www-authenticate"]
    stale = signed(secret, key_id, body, timestamp=str(int(time.time()) - 301))
    assert httpx.post(url, content=body, headers=stale).status_code == 401
    tampered = httpx.post(
        url, content=body.replace(b"30.00", b"99.00"), headers=signed(secret, key_id, body)
    )
    assert tampered.status_code == 401
    assert httpx.post(url, content=body).status_code == 401  # unsigned
    # The settlement is recorded with the machine as its actor, as the mutation records it.
    assert card_lines(gql) == [("LONG_TERM", "12.00", "UNFREEZE_REQUESTED", "R-1")]
    with fenrun.pool.connection() as conn:
        [(state,)] = conn.execute(
            "SELECT state FROM ledger_events WHERE topic LIKE '%Settlement%'"
        ).fetchall()
    assert orjson.loads(bytes(state))["actor"] == "key:fk_test"
    openapi = httpx.get(server + "/openapi.json").json()
    assert "/v1/carrier-settlements" in openapi["paths"]
    fenrun.ledger.revoke_api_key(key_id, Audit("ops", fenrun.clock.now()))
    assert httpx.post(url, content=body, headers=signed(secret, key_id, body)).status_code == 401


def test_a_settlement_row_on_another_carriers_card_is_refused(
    gql: GraphQLClient, server: str, fenrun
) -> None:
    """Security review: a settlements key speaks for one carrier (a key for none is refused
    when issued); its row on a card another carrier reports on saves nothing."""
    setup(gql, [LONG])
    at = Audit("ops", fenrun.clock.now())
    with pytest.raises(Exception, match="speaks for one carrier"):
        fenrun.ledger.issue_api_key("fk_none", "carrier", ("settlements",), "v1:x:y", at)
    state = CardStateReport("s-1", "CUCC", "89860001", "ACTIVATED", fenrun.clock.now())
    fenrun.carrier_reports.record("key:cucc", [state], [])
    secret, key_id = secrets.token_urlsafe(32), "fk_cmcc"
    sealed = Sealer.of(fenrun.settings).seal(secret, key_id)
    fenrun.ledger.issue_api_key(key_id, "cmcc", ("settlements",), sealed, at, speaks_for="CMCC")
    body = orjson.dumps(row("R-9"))
    gql.clock.move_to_at_least(datetime.fromisoformat(row("R-9")["occurredAt"]))
    done = httpx.post(
        server + "/v1/carrier-settlements", content=body, headers=signed(secret, key_id, body)
    )
    assert done.status_code == 422, done.text
    assert done.json()["userErrors"][0]["code"] == "INVALID_STATE"
    assert card_lines(gql) == []


def test_tokens_mint_only_for_enabled_users(fenrun) -> None:
    assert user_token(fenrun, "u-1", ("auditor",))
    fenrun.ledger.disable_user("u-1", Audit("ops", fenrun.clock.now()))
    with pytest.raises(Exception, match="no enabled user"):
        user_token(fenrun, "u-1", ("auditor",))
