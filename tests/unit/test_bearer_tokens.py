"""The principal of a bearer token (api/auth/authenticator.py, decision 0041): an embedded
token is verified once, the user's version is read on every request (and through the event
store when the loop's reader fails), a record that moved is loaded again."""

import asyncio
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from api.auth.authenticator import Authenticator, Unauthenticated
from api.auth.issuers import Claims
from application.settings import Settings
from domain.identity import Role


class Issuer:
    def __init__(self) -> None:
        self.verified = 0

    def verify(self, token: str) -> Claims:
        self.verified += 1
        return Claims(token.removeprefix("t-"), (), None, embedded=True, expires=1e12)


@dataclass
class User:
    roles: tuple[str, ...]
    enabled: bool
    version: int
    agent_code: str | None = None


@dataclass
class Ledger:
    users: dict[str, User] = field(default_factory=dict)
    loads: int = 0
    version_reads: int = 0

    def version_of(self, kind: str, code: str) -> int | None:
        self.version_reads += 1
        user = self.users.get(code)
        return user.version if user else None

    def user(self, code: str) -> User | None:
        self.loads += 1
        return self.users.get(code)


class LoopVersions:
    def __init__(self, ledger: Ledger, fail: bool = False) -> None:
        self.ledger, self.fail, self.reads = ledger, fail, 0

    async def version_of(self, originator_id: Any) -> int | None:
        self.reads += 1
        if self.fail:
            raise psycopg.OperationalError("the server closed the connection")
        found = [u for c, u in self.ledger.users.items() if _id(c) == originator_id]
        return found[0].version if found else None


def _id(code: str) -> Any:
    from domain.common import aggregate_id

    return aggregate_id("user", code)


def authenticator(ledger: Ledger, issuer: Issuer, versions: Any) -> Authenticator:
    auth = Authenticator(Settings(), ledger, issuer)  # type: ignore[arg-type]
    auth.versions = versions
    return auth


def test_a_token_is_verified_once_and_the_user_read_every_time() -> None:
    ledger, issuer = Ledger({"u": User(("auditor",), True, 1)}), Issuer()
    versions = LoopVersions(ledger)
    auth = authenticator(ledger, issuer, versions)

    async def requests() -> None:
        first = await auth.bearer("Bearer t-u")
        assert first.roles == frozenset({Role.AUDITOR})
        assert (await auth.bearer("Bearer t-u")) is first  # the kept answer at version 1
        ledger.users["u"] = User(("finance",), True, 2)
        assert (await auth.bearer("Bearer t-u")).roles == frozenset({Role.FINANCE})
        ledger.users["u"] = User(("finance",), False, 3)
        with pytest.raises(Unauthenticated, match="disabled"):
            await auth.bearer("Bearer t-u")

    asyncio.run(requests())
    assert issuer.verified == 1
    assert versions.reads == 4  # every request
    assert ledger.loads == 3  # only when the version moved
    assert ledger.version_reads == 0  # the loop's reader answered


def test_a_failing_loop_read_reads_through_the_event_store() -> None:
    ledger = Ledger({"u": User(("auditor",), False, 1)})
    auth = authenticator(ledger, Issuer(), LoopVersions(ledger, fail=True))
    with pytest.raises(Unauthenticated, match="disabled"):
        asyncio.run(auth.bearer("Bearer t-u"))
    assert ledger.version_reads == 1
