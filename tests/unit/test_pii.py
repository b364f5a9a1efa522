"""Personal data encryption (api/pii.py) and its keys (FENRUN_PII_KEYS)."""

import base64
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.pii import PiiCipher, PiiError, mask
from application.access_settings import parse_pii_keys
from application.settings import Settings

A = ("k1", os.urandom(32))
B = ("k2", os.urandom(32))


def test_round_trip_bound_to_agent_and_field() -> None:
    cipher = PiiCipher([A])
    sealed = cipher.seal("6222020200112233445", "P1", "ACCOUNT:c1")
    assert sealed.startswith("v1:k1:")
    assert "6222020200112233445" not in sealed
    assert cipher.open(sealed, "P1", "ACCOUNT:c1") == "6222020200112233445"
    with pytest.raises(PiiError):
        cipher.open(sealed, "P2", "ACCOUNT:c1")  # moved to another agent
    with pytest.raises(PiiError):
        cipher.open(sealed, "P1", "PHONE")


def test_rotation_keeps_old_values_readable() -> None:
    old = PiiCipher([A]).seal("13800138000", "P1", "PHONE")
    rotated = PiiCipher([B, A])
    assert rotated.open(old, "P1", "PHONE") == "13800138000"
    assert rotated.seal("13800138000", "P1", "PHONE").startswith("v1:k2:")
    with pytest.raises(PiiError, match="k1"):
        PiiCipher([B]).open(old, "P1", "PHONE")  # the old key dropped: refused, not garbage


def test_the_same_value_seals_the_same_for_idempotent_retries() -> None:
    cipher = PiiCipher([A])
    assert cipher.seal("x", "P1", "PHONE") == cipher.seal("x", "P1", "PHONE")
    assert cipher.seal("x", "P1", "PHONE") != cipher.seal("y", "P1", "PHONE")


def test_masks() -> None:
    assert mask("6222020200112233445") == "6222***********3445"
    assert mask("13800138000") == "138******00"
    assert mask("abc") == "**c"


def test_keys_setting(tmp_path: Path) -> None:
    text = f"k1:{base64.b64encode(A[1]).decode()},k2:{base64.b64encode(B[1]).decode()}"
    assert [k for k, _ in parse_pii_keys(text)] == ["k1", "k2"]
    for bad in (
        "k1:short",
        "k1",
        f"k1:{base64.b64encode(A[1]).decode()},k1:{base64.b64encode(B[1]).decode()}",
    ):
        with pytest.raises(ValueError, match="PII key"):
            parse_pii_keys(bad)
    with pytest.raises(ValidationError, match="FENRUN_PII_KEYS"):
        Settings(data_dir=tmp_path, auth_issuer="https://id.example.com", auth_audience="fenrun")
    generated = PiiCipher.of(Settings(data_dir=tmp_path))
    assert (tmp_path / "identity" / "pii-keys").stat().st_mode & 0o077 == 0
    again = PiiCipher.of(Settings(data_dir=tmp_path))
    assert again.open(generated.seal("v", "P1", "PHONE"), "P1", "PHONE") == "v"
