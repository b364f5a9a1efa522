"""The carriers' settings (FENRUN_CHINA_MOBILE_*, FENRUN_CHINA_UNICOM_*, FENRUN_CHINA_TELECOM_*,
FENRUN_CARRIER_*): where each carrier's API is and the credentials it issued. A carrier without a
URL is not talked to; one with a URL but no credentials, or a plain-http URL off this machine, is
refused (credentials would cross the network in the clear)."""

import ipaddress
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode

from application.carriers import Carrier
from application.schedule import parse_schedule

# Each carrier's settings: the URL field, then the credential fields it needs with it.
CREDENTIALS = {
    Carrier.CHINA_MOBILE: ("china_mobile_url", ("china_mobile_app_id", "china_mobile_password")),
    Carrier.CHINA_UNICOM: ("china_unicom_url", ("china_unicom_user", "china_unicom_api_key")),
    Carrier.CHINA_TELECOM: (
        "china_telecom_url",
        ("china_telecom_user_id", "china_telecom_password", "china_telecom_key"),
    ),
}


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CarrierSettings(BaseSettings):
    china_mobile_url: str | None = Field(
        default=None,
        description="China Mobile OneLink EC v5 API base, e.g. https://api.iot.10086.cn/v5/ec."
        " Unset: China Mobile is not called.",
    )
    china_mobile_app_id: str | None = Field(default=None, description="OneLink appid.")
    china_mobile_password: SecretStr | None = Field(
        default=None, description="OneLink password (exchanged for a token, get/token)."
    )
    china_unicom_url: str | None = Field(
        default=None,
        description="China Unicom Control Center (Jasper) REST base, e.g."
        " https://restapi3.jasper.com/rws/api/v1. Unset: China Unicom is not called.",
    )
    china_unicom_user: str | None = Field(default=None, description="Control Center user name.")
    china_unicom_api_key: SecretStr | None = Field(
        default=None, description="Control Center API key (HTTP Basic with the user name)."
    )
    china_telecom_url: str | None = Field(
        default=None,
        description="China Telecom CMP base, e.g. http://api.ct10649.com:9001/m2m_ec (use its"
        " https gateway). Unset: China Telecom is not called.",
    )
    china_telecom_user_id: str | None = Field(default=None, description="CMP user_id.")
    china_telecom_password: SecretStr | None = Field(default=None, description="CMP password.")
    china_telecom_key: SecretStr | None = Field(
        default=None, description="CMP signing key (the sign parameter of each request)."
    )
    carrier_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="How long a request to a carrier may take before it counts as unanswered"
        " (the command is retried under the same id).",
    )
    carrier_poll_schedule: str = Field(
        default="off",
        description="When the worker polls carriers that do not push (FENRUN_CARRIER_POLL) for"
        " their cards' states and usage: an interval, a cron expression, or off.",
    )
    carrier_poll: Annotated[list[Carrier], NoDecode] = Field(
        default_factory=list,
        description="Carriers to poll, comma-separated (CMCC, CUCC, CTCC): those that do not"
        " push reports to /v1/carrier-reports.",
    )

    @field_validator(
        "china_mobile_url",
        "china_unicom_url",
        "china_telecom_url",
        "china_mobile_app_id",
        "china_unicom_user",
        "china_telecom_user_id",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("china_mobile_url", "china_unicom_url", "china_telecom_url")
    @classmethod
    def _safe_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'{value}' is not an http(s) URL")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValueError(
                f"'{value}' is plain http to another machine: the carrier's credentials would"
                " travel in the clear (use https; http only for a simulator on loopback)"
            )
        return value.rstrip("/")

    @field_validator("carrier_poll", mode="before")
    @classmethod
    def _split_carriers(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().upper() for part in value.split(",") if part.strip()]
        return value

    @field_validator("carrier_poll_schedule")
    @classmethod
    def _known_poll_schedule(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        parse_schedule(value, ZoneInfo("UTC"))
        return value

    @model_validator(mode="after")
    def _credentials_with_urls(self) -> "CarrierSettings":
        for carrier, (url, needed) in CREDENTIALS.items():
            given = [name for name in needed if getattr(self, name) is not None]
            if getattr(self, url) is None:
                if given:
                    raise ValueError(
                        f"{', '.join(n.upper() for n in given)} set without"
                        f" FENRUN_{url.upper()}: say where {carrier} is"
                    )
                if carrier in self.carrier_poll:
                    raise ValueError(f"{carrier} is to be polled but FENRUN_{url.upper()} is unset")
                continue
            missing = [f"FENRUN_{n.upper()}" for n in needed if n not in given]
            if missing:
                raise ValueError(f"{carrier} has a URL but no {', '.join(missing)}")
        return self

    def carrier_configured(self, carrier: Carrier) -> bool:
        return getattr(self, CREDENTIALS[carrier][0]) is not None
