"""Embedded tokens verified once are kept until they expire (api/auth/authenticator.py)."""

import pytest

from api.auth.authenticator import VerifiedTokens
from api.auth.issuers import LEEWAY, Claims, InvalidToken

LATE = LEEWAY.total_seconds()


def claims(subject: str, expires: float) -> Claims:
    return Claims(subject, (), None, embedded=True, expires=expires)


def test_kept_claims_answer_until_the_token_expires_with_the_leeway() -> None:
    tokens = VerifiedTokens()
    kept = claims("u", expires=1_000.0)
    tokens.put("t", kept)
    assert tokens.get("t", now=999.0) is kept
    assert tokens.get("t", now=1_000.0 + LATE - 1) is kept  # the issuer's leeway, as jwt.decode
    with pytest.raises(InvalidToken, match="expired"):
        tokens.get("t", now=1_000.0 + LATE)
    assert tokens.get("t", now=0.0) is None  # forgotten once expired: verified again if sent
    assert tokens.get("other", now=0.0) is None


def test_the_least_recently_used_are_forgotten_past_the_bound() -> None:
    tokens = VerifiedTokens(max_tokens=2)
    for name in ("a", "b"):
        tokens.put(name, claims(name, expires=1e12))
    assert tokens.get("a", now=0.0) is not None  # a used: b is now the oldest
    tokens.put("c", claims("c", expires=1e12))
    assert tokens.get("b", now=0.0) is None
    assert tokens.get("a", now=0.0) is not None
    assert tokens.get("c", now=0.0) is not None
