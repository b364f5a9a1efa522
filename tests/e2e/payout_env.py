"""A Fenrun with a payment channel: the simulator as an HTTP service of its own, its callbacks
signed with an API key Fenrun issued, and the worker's parts driven by the test."""

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.auth.sealing import Sealer
from api.bootstrap import Fenrun, bootstrap
from api.channel_simulator import SignedCallbacks, simulator_app
from api.worker import poll_payouts
from application.clock import SetClock
from application.settings import Settings
from application.simulated_channel import SimulatedChannel
from domain.common import Audit
from tests.e2e.conftest import (
    DEFAULT_ROLES,
    DEFAULT_USER,
    TESTS_BEGIN,
    GraphQLClient,
    running,
    user_token,
)
from tests.e2e.test_lifecycle import DAY1, DAY8, approve_all, sell, setup

CHANNEL = "sim"
PAYOUT = (
    "withdrawalId agentCode amount channel outRequestId status held submissions channelTxnId"
    " failureReason"
)


@dataclass
class PayingEnv:
    gql: GraphQLClient
    fenrun: Fenrun
    channel: SimulatedChannel
    callbacks: SignedCallbacks
    url: str
    sim_url: str
    key_id: str
    secret: str

    def work(self, callbacks: int | None = None) -> None:
        """What the worker does in a tick: the policies, the outbox, then (in the test) wait
        for the simulator's callbacks, which come from threads of their own."""
        self.fenrun.catch_up()
        self.fenrun.dispatcher.run_until_idle()
        if callbacks is not None:
            self.wait_for_callbacks(callbacks)
        self.fenrun.catch_up()

    def wait_for_callbacks(self, count: int) -> None:
        deadline = time.monotonic() + 15
        while len(self.callbacks.answers) < count:
            assert time.monotonic() < deadline, f"callbacks: {self.callbacks.answers}"
            time.sleep(0.02)
        self.fenrun.catch_up()

    def poll(self) -> Any:
        done = poll_payouts(self.fenrun, self.fenrun.clock.now())
        self.fenrun.catch_up()
        return done

    def payout(self, withdrawal_id: str, client: GraphQLClient | None = None) -> dict[str, Any]:
        body = (client or self.gql)(
            f"query($w: String!) {{ payout(withdrawalId: $w) {{ {PAYOUT} }} }}",
            {"w": withdrawal_id},
        )
        return body["data"]["payout"]  # type: ignore[no-any-return]

    def withdraw(self, withdrawal_id: str, amount: str) -> None:
        withdraw(self.gql, withdrawal_id, amount)

    def books(self) -> dict[str, Any]:
        return httpx.get(self.sim_url + "/control/payments").json()  # type: ignore[no-any-return]

    def events(self, name: str) -> int:
        with self.fenrun.pool.connection() as conn:
            row = conn.execute(
                "SELECT count(*) FROM ledger_events WHERE topic LIKE %s", (f"%:Payout.{name}",)
            ).fetchone()
        assert row is not None
        return int(row[0])

    def wallet(self) -> dict[str, str]:
        return self.gql('{ wallet(agentCode: "P1") { available withdrawing } }')["data"]["wallet"]  # type: ignore[no-any-return]


def withdraw(gql: GraphQLClient, withdrawal_id: str, amount: str) -> None:
    """Requested, then approved by finance: the approval starts the payout (for the net)."""
    ref = {"agentCode": "P1", "withdrawalId": withdrawal_id}
    gql.ok("requestWithdrawal", {**ref, "amount": amount})
    gql.ok("approveWithdrawals", {"withdrawals": [ref]})


def with_commissions(gql: GraphQLClient, sales: int = 2) -> None:
    """P1 with 8.00 available per sale."""
    setup(gql)
    for n in range(sales):
        sell(gql, f"O-{n}", "customer", DAY1)
    approve_all(gql, DAY8)


@pytest.fixture
def paying(request: Any, dsn: str, tmp_path: Path, clock: SetClock) -> Iterator[PayingEnv]:
    start = getattr(request, "param", "automatic")
    channel = SimulatedChannel(CHANNEL)
    with running(simulator_app(channel, answer_delay_seconds=1.5)) as sim_url:
        settings = Settings(
            database_url=dsn,
            data_dir=tmp_path / "data",
            payout_channel=CHANNEL,
            payout_channel_url=sim_url,
            payout_channel_timeout_seconds=0.5,
            payout_start=start,
            payout_poll_after_seconds=0,
            outbox_backoff_seconds=0.01,
            outbox_max_backoff_seconds=0.05,
        )
        app = bootstrap(settings, run_migrations=False, clock=clock)
        try:
            with running(create_app(fenrun=app)) as url:
                clock.set(TESTS_BEGIN)
                gql = GraphQLClient(url, app, DEFAULT_USER, None, clock)
                gql.token = user_token(app, DEFAULT_USER, DEFAULT_ROLES)
                key_id, secret = "fk_sim", secrets.token_urlsafe(32)
                sealed = Sealer.of(app.settings).seal(secret, key_id)
                at = Audit("ops", clock.now())
                app.ledger.issue_api_key(
                    key_id, "sim-callbacks", ("payment-callbacks",), sealed, at, speaks_for=CHANNEL
                )
                channel.notify = callbacks = SignedCallbacks(url, CHANNEL, key_id, secret)
                yield PayingEnv(gql, app, channel, callbacks, url, sim_url, key_id, secret)
                gql.http.close()
        finally:
            app.close()


def now_iso(env: PayingEnv) -> str:
    return datetime.isoformat(env.fenrun.clock.now())
