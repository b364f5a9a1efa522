"""Issue 9, finding 6: the actor header is read as the UTF-8 the client sent, or refused."""

import pytest

from api.observability.requests import ActorHeaderRefused, actor_of


def as_starlette_hands_it_over(raw: bytes) -> str:
    return raw.decode("latin-1")  # HTTP header bytes, as starlette decodes them


@pytest.mark.parametrize("actor", ["finance-1", "财务-1", "Zoë", "運営 😀"])
def test_a_non_ascii_actor_is_read_exactly(actor: str) -> None:
    assert actor_of(as_starlette_hands_it_over(actor.encode())) == actor


def test_bytes_that_are_not_utf8_are_refused_never_garbled() -> None:
    header = as_starlette_hands_it_over(b"caf\xe9")  # latin-1 bytes, not UTF-8
    with pytest.raises(ActorHeaderRefused):
        actor_of(header)


def test_no_header_names_nobody() -> None:
    assert actor_of(None) is None
    assert actor_of("") is None
