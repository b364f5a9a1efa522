"""Shared by the carrier tests: the simulator, Fenrun pointed at it, a push key, a card."""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.auth.sealing import Sealer
from api.carriers import carrier_ports
from api.carriers.simulator import create_simulator
from application.carrier_settings import CarrierSettings
from domain.common import Audit
from tests.e2e.conftest import running

MB = 1 << 20
KEY_ID = "fk_carrier_push"


def simulator_settings(url: str, **more: Any) -> CarrierSettings:
    more = {"carrier_timeout_seconds": 2, **more}
    return CarrierSettings(
        china_mobile_url=f"{url}/cmcc/v5/ec",
        china_mobile_app_id="C5010000000001",
        china_mobile_password="sim-password",
        china_unicom_url=f"{url}/cucc/rws/api/v1",
        china_unicom_user="fenrun",
        china_unicom_api_key="sim-key",
        china_telecom_url=f"{url}/ctcc/m2m_ec",
        china_telecom_user_id="fenrun",
        china_telecom_password="sim-password",
        china_telecom_key="sim-key",
        **more,
    )


@dataclass
class Carriers:
    """The simulator's control endpoints, and Fenrun pointed at the simulator."""

    url: str
    control: httpx.Client
    fenrun: Any

    def card(self, carrier: str, iccid: str, state: str) -> None:
        body = {"carrier": carrier, "iccid": iccid, "rawState": state}
        self.control.post("/_control/cards", json=body).raise_for_status()

    def seen(self, iccid: str) -> dict[str, Any]:
        return self.control.get(f"/_control/cards/{iccid}").json()

    def faults(self, **faults: Any) -> None:
        self.control.post("/_control/faults", json=faults).raise_for_status()

    def use(self, iccid: str, mb: int) -> None:
        self.control.post("/_control/usage", json={"iccid": iccid, "addKb": mb * 1024})

    def change(self, iccid: str, state: str) -> None:
        self.control.post("/_control/state", json={"iccid": iccid, "rawState": state})

    def report(self, iccid: str) -> None:
        self.control.post("/_control/report", json={"iccid": iccid}).raise_for_status()

    def flush(self) -> list[dict[str, Any]]:
        """The simulator pushes what it queued; Fenrun's answers. Then Fenrun catches up."""
        answers = self.control.post("/_control/flush", timeout=60).json()["answers"]
        self.fenrun.catch_up()
        return answers

    def push_to(self, server: str, secret: str, key_id: str = KEY_ID) -> None:
        body = {"url": server, "keyId": key_id, "secret": secret}
        self.control.post("/_control/push", json=body).raise_for_status()


@pytest.fixture(name="carriers")
def carriers_fixture(fenrun) -> Iterator[Carriers]:
    with running(create_simulator()) as url, httpx.Client(base_url=url, timeout=30) as control:
        fenrun.carriers.update(carrier_ports(simulator_settings(url)))
        yield Carriers(url, control, fenrun)


def issue_push_key(fenrun: Any, key_id: str = KEY_ID, carrier: str = "CMCC") -> str:
    """A push key that speaks for one carrier (`fenrun keys add ... --for CMCC`)."""
    secret = secrets.token_urlsafe(32)
    sealed = Sealer.of(fenrun.settings).seal(secret, key_id)
    at = Audit("ops", fenrun.clock.now())
    fenrun.ledger.issue_api_key(
        key_id, "push", ("carrier-reports",), sealed, at, speaks_for=carrier
    )
    return secret


def personal_card(fenrun: Any, iccid: str, quota_mb: int = 100) -> None:
    """An agent, a package with a monthly quota, and the card assigned to the agent."""
    ledger, at = fenrun.ledger, Audit("ops", datetime.now(UTC) - timedelta(days=1))
    if not ledger.exists("agent", "A"):
        ledger.register_agent("A", "Agent A", None, True, at)
        ledger.define_package("P", "Monthly", "TRAFFIC", 5000, 1, at)
        ledger.set_package_quota("P", quota_mb, at)
    ledger.assign_card(iccid, "A", "P", at)
    fenrun.catch_up()
