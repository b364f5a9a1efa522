"""The three adapters against the carrier simulator over HTTP: each request shape reaches the
simulator's carrier, changes take effect once however often they are sent, and the faults the
simulator can play come back as CarrierUnavailable (retry) or CarrierRefused (don't)."""

from collections.abc import Iterator

import httpx
import pytest

from api.carriers import carrier_ports
from api.carriers.simulator import create_simulator
from application.carrier_settings import CarrierSettings
from application.carriers import CardAction, Carrier, CarrierRefused, CarrierUnavailable
from tests.e2e.conftest import running

INITIAL = {Carrier.CHINA_MOBILE: "2", Carrier.CHINA_UNICOM: "ACTIVATED", Carrier.CHINA_TELECOM: "4"}
STOPPED = {
    Carrier.CHINA_MOBILE: "4",
    Carrier.CHINA_UNICOM: "DEACTIVATED",
    Carrier.CHINA_TELECOM: "5",
}


def simulator_settings(url: str, **more: object) -> CarrierSettings:
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
        **more,  # type: ignore[arg-type]
    )


@pytest.fixture
def simulator() -> Iterator[tuple[str, httpx.Client]]:
    with running(create_simulator()) as url, httpx.Client(base_url=url) as control:
        yield url, control


def add_card(control: httpx.Client, carrier: Carrier, iccid: str, state: str, kb: int = 0) -> None:
    body = {"carrier": carrier, "iccid": iccid, "rawState": state, "usedKb": kb}
    control.post("/_control/cards", json=body).raise_for_status()


def seen(control: httpx.Client, iccid: str) -> dict:
    return control.get(f"/_control/cards/{iccid}").json()


@pytest.mark.parametrize("carrier", list(Carrier))
def test_stop_resume_query(simulator, carrier: Carrier) -> None:
    url, control = simulator
    port = carrier_ports(simulator_settings(url))[carrier]
    iccid = f"8986{list(Carrier).index(carrier)}0000000000001"
    add_card(control, carrier, iccid, INITIAL[carrier], kb=2048)
    assert port.query_state(iccid).raw_state == INITIAL[carrier]
    assert port.query_usage(iccid).bytes_used == 2048 * 1024
    answer = port.set_state(iccid, CardAction.STOP, "cmd-1")
    assert answer.raw_state == STOPPED[carrier]
    # Delivered again (the first answer lost, say): one change at the carrier all the same.
    assert port.set_state(iccid, CardAction.STOP, "cmd-1").raw_state == STOPPED[carrier]
    assert port.query_state(iccid).raw_state == STOPPED[carrier]
    assert [c["to"] for c in seen(control, iccid)["changes"]] == [STOPPED[carrier]]
    port.set_state(iccid, CardAction.RESUME, "cmd-2")
    assert port.query_state(iccid).raw_state == INITIAL[carrier]
    assert len(seen(control, iccid)["changes"]) == 2


def test_faults_are_unavailable_and_refusals_are_refused(simulator) -> None:
    url, control = simulator
    ports = carrier_ports(simulator_settings(url, carrier_timeout_seconds=0.3))
    add_card(control, Carrier.CHINA_UNICOM, "89860100000000000009", "ACTIVATED")
    unicom = ports[Carrier.CHINA_UNICOM]
    control.post("/_control/faults", json={"down": True}).raise_for_status()
    with pytest.raises(CarrierUnavailable):
        unicom.set_state("89860100000000000009", CardAction.STOP, "c")
    control.post("/_control/faults", json={"down": False, "delaySeconds": 1}).raise_for_status()
    with pytest.raises(CarrierUnavailable):  # slower than the time-out
        unicom.query_state("89860100000000000009")
    control.post("/_control/faults", json={"delaySeconds": 0, "loseAnswers": 1})
    with pytest.raises(CarrierUnavailable):  # done, but the answer never came
        unicom.set_state("89860100000000000009", CardAction.STOP, "c")
    assert seen(control, "89860100000000000009")["rawState"] == "DEACTIVATED"
    with pytest.raises(CarrierRefused):
        unicom.query_state("00000000000000000000")
    with pytest.raises(CarrierRefused):
        ports[Carrier.CHINA_MOBILE].set_state("00000000000000000000", CardAction.STOP, "c")


def test_onelink_sends_one_transid_per_command(simulator) -> None:
    url, control = simulator
    mobile = carrier_ports(simulator_settings(url))[Carrier.CHINA_MOBILE]
    add_card(control, Carrier.CHINA_MOBILE, "89860200000000000001", "2")
    control.post("/_control/faults", json={"loseAnswers": 1})
    with pytest.raises(CarrierUnavailable):
        mobile.set_state("89860200000000000001", CardAction.STOP, "cmd-9")
    mobile.set_state("89860200000000000001", CardAction.STOP, "cmd-9")
    [change] = seen(control, "89860200000000000001")["changes"]
    assert change["requestId"] == mobile.transid("cmd-9")
    assert len(mobile.transid("cmd-9")) == len("C5010000000001") + 22


def test_fenrun_carrier_simulator_serves_on_the_given_port() -> None:
    """What `make carrier-simulator` runs."""
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fenrun = Path(sys.executable).parent / "fenrun"
    process = subprocess.Popen([str(fenrun), "carrier-simulator", "--port", str(port)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/_control/cards/none", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the simulator did not start"
                time.sleep(0.2)
        assert answer.status_code == 404
        assert answer.json() == {"error": "no such card"}
    finally:
        process.terminate()
        process.wait(timeout=10)
