"""The carrier port's pure parts: settings that refuse unsafe configurations, month-to-date
counters as usage periods, the outbox command a decision enqueues, OneLink's transids."""

from datetime import UTC, datetime
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from api.carriers.onelink import OneLink
from application.carrier_reports import month_to_date
from application.carrier_settings import CarrierSettings
from application.carriers import Carrier, MonthToDate
from domain.carrier_command import KIND, card_command
from domain.errors import InvalidInput

SH = ZoneInfo("Asia/Shanghai")


def test_a_carrier_needs_its_url_and_credentials_together() -> None:
    ok = CarrierSettings(
        china_unicom_url="https://restapi3.jasper.com/rws/api/v1/",
        china_unicom_user="fenrun",
        china_unicom_api_key="k",
    )
    assert ok.china_unicom_url == "https://restapi3.jasper.com/rws/api/v1"
    assert ok.carrier_configured(Carrier.CHINA_UNICOM)
    assert not ok.carrier_configured(Carrier.CHINA_MOBILE)
    with pytest.raises(ValidationError, match="FENRUN_CHINA_UNICOM_API_KEY"):
        CarrierSettings(china_unicom_url="https://cc.example.com", china_unicom_user="fenrun")
    with pytest.raises(ValidationError, match="without FENRUN_CHINA_MOBILE_URL"):
        CarrierSettings(china_mobile_app_id="app", china_mobile_password="p")
    with pytest.raises(ValidationError, match="polled but"):
        CarrierSettings(carrier_poll="ctcc")


@pytest.mark.parametrize(
    "url", ["http://api.iot.10086.cn/v5/ec", "ftp://127.0.0.1/x", "file:///etc/passwd", "nothing"]
)
def test_credentials_never_travel_in_the_clear(url: str) -> None:
    with pytest.raises(ValidationError):
        CarrierSettings(china_mobile_url=url, china_mobile_app_id="a", china_mobile_password="p")


def test_plain_http_only_to_this_machine() -> None:
    for url in ("http://127.0.0.1:9100/cmcc/v5/ec", "http://localhost:9100/x", "http://[::1]:1/"):
        CarrierSettings(china_mobile_url=url, china_mobile_app_id="a", china_mobile_password="p")


def test_poll_settings_read_carrier_codes() -> None:
    settings = CarrierSettings(
        china_telecom_url="https://cmp.example.com",
        china_telecom_user_id="u",
        china_telecom_password="p",
        china_telecom_key="k",
        carrier_poll="ctcc",
        carrier_poll_schedule="0 3 * * *",
    )
    assert settings.carrier_poll == [Carrier.CHINA_TELECOM]
    with pytest.raises(ValidationError):
        CarrierSettings(carrier_poll_schedule="whenever")


def test_a_month_to_date_counter_is_one_period_of_its_business_month() -> None:
    # 2026-12-31 20:00 UTC is already January in Shanghai.
    counter = MonthToDate("r1", "CMCC", "8986", 5 << 20, datetime(2026, 12, 31, 20, tzinfo=UTC))
    usage = month_to_date(counter, SH)
    assert (usage.period_start, usage.period_end) == (
        datetime(2027, 1, 1, tzinfo=SH),
        datetime(2027, 2, 1, tzinfo=SH),
    )
    assert (usage.bytes_used, usage.report_id, usage.day) == (5 << 20, "r1", None)
    december = month_to_date(
        MonthToDate("r2", "CMCC", "8986", 1, datetime(2026, 12, 15, tzinfo=UTC)), SH
    )
    assert december.period_end == datetime(2027, 1, 1, tzinfo=SH)


def test_a_decision_enqueues_one_command_keyed_by_the_card() -> None:
    card = uuid4()
    command = card_command(card, "STOP", "d-1", "PACKAGE_QUOTA")
    assert (command.kind, command.key) == (KIND, str(card))
    assert command.payload == {
        "card": str(card),
        "action": "STOP",
        "decisionId": "d-1",
        "cause": "PACKAGE_QUOTA",
    }
    with pytest.raises(InvalidInput):
        card_command(card, "REBOOT", "d-2", "PACKAGE_QUOTA")


def test_onelink_transids_are_stable_per_command_and_shaped_as_onelink_asks() -> None:
    adapter = OneLink("https://api.iot.10086.cn/v5/ec", "C5010000000001", "p", 1.0)
    first, again = adapter.transid("carrier.card:x:2"), adapter.transid("carrier.card:x:2")
    assert first == again != adapter.transid("carrier.card:x:3")
    assert first.startswith("C5010000000001")
    assert (first[14:].isdigit(), len(first)) == (True, 36)
    fresh = adapter.transid()  # appid + yyyyMMddHHmmss + 8 digits
    assert (fresh[14:18], len(fresh)) == (str(datetime.now(UTC).year), 36)
