"""The carrier adapters, built from settings: one CarrierPort per carrier that has a URL."""

from api.carriers.cmp import Cmp
from api.carriers.control_center import ControlCenter
from api.carriers.onelink import OneLink
from application.carrier_settings import CarrierSettings
from application.carriers import Carrier, CarrierPort


def _secret(value: object) -> str:
    return value.get_secret_value() if value is not None else ""  # type: ignore[attr-defined]


def carrier_ports(settings: CarrierSettings) -> dict[Carrier, CarrierPort]:
    ports: dict[Carrier, CarrierPort] = {}
    timeout = settings.carrier_timeout_seconds
    if settings.china_mobile_url:
        ports[Carrier.CHINA_MOBILE] = OneLink(
            settings.china_mobile_url,
            settings.china_mobile_app_id or "",
            _secret(settings.china_mobile_password),
            timeout,
        )
    if settings.china_unicom_url:
        ports[Carrier.CHINA_UNICOM] = ControlCenter(
            settings.china_unicom_url,
            settings.china_unicom_user or "",
            _secret(settings.china_unicom_api_key),
            timeout,
        )
    if settings.china_telecom_url:
        ports[Carrier.CHINA_TELECOM] = Cmp(
            settings.china_telecom_url,
            settings.china_telecom_user_id or "",
            _secret(settings.china_telecom_password),
            _secret(settings.china_telecom_key),
            timeout,
        )
    return ports
