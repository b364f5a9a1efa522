"""Settlement keys speak for one carrier (issue 13): issued only with one, and profiles that
name a carrier are that carrier's."""

import pytest

from application.settlement_files import _profiles
from domain.errors import InvalidInput
from domain.identity import ApiKey, carrier_spoken_for
from tests.unit.test_approvals import audit

PROFILE = {
    "iccid": ["ICCID"],
    "period": ["结算月份"],
    "total": ["佣金金额"],
    "network_status": ["网络状态"],
    "in_arrears": ["是否欠费"],
    "suspended": ["是否停机"],
    "complained": ["是否投诉"],
}


@pytest.mark.parametrize(
    ("party", "carrier"),
    [("CMCC", "CMCC"), ("cucc", "CUCC"), ("carrier-ctcc", "CTCC"), ("carrier", None), (None, None)],
)
def test_the_carrier_a_key_speaks_for(party: str | None, carrier: str | None) -> None:
    assert carrier_spoken_for(party) == carrier


def test_a_settlements_key_is_issued_for_one_carrier_only() -> None:
    with pytest.raises(InvalidInput) as refused:
        ApiKey.issue("fk_1", "bot", ["settlements"], "v1:x:y", audit("admin"))
    assert refused.value.field == "for"
    with pytest.raises(InvalidInput):
        ApiKey.issue("fk_1", "bot", ["settlements"], "v1:x:y", audit("admin"), speaks_for="ACME")
    assert ApiKey.issue("fk_1", "bot", ["settlements"], "v1:x:y", audit("admin"), "CMCC")
    # A key named for its carrier, as the docs once said, needs no --for.
    assert ApiKey.issue("fk_2", "carrier-cucc", ["settlements"], "v1:x:y", audit("admin"))
    # Other scopes are not settlement keys.
    assert ApiKey.issue("fk_3", "bot", ["payment-callbacks"], "v1:x:y", audit("admin"))


def test_a_profile_names_its_carrier_or_none() -> None:
    found = _profiles({"profiles": {"any": PROFILE, "unicom": PROFILE | {"carrier": "cucc"}}})
    assert (found["any"].carrier, found["unicom"].carrier) == (None, "CUCC")
    with pytest.raises(ValueError, match="unknown carrier"):
        _profiles({"profiles": {"x": PROFILE | {"carrier": "ACME"}}})
