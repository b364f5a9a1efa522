"""What the embedded users' records answered, kept by version (api/auth/authenticator.py)."""

from api.auth.authenticator import KnownUsers
from api.auth.principal import Principal


def test_an_answer_is_given_only_at_the_version_it_was_worked_out_at() -> None:
    known = KnownUsers()
    finance = Principal("u")
    known.put("u", 3, finance)
    assert known.get("u", 3) is finance
    assert known.get("u", 4) is None  # the record moved: load it again
    assert known.get("v", 3) is None
    known.put("u", 4, "user 'u' is disabled")
    assert known.get("u", 4) == "user 'u' is disabled"
    assert known.get("u", 3) is None  # never an older answer


def test_the_least_recently_used_are_forgotten_past_the_bound() -> None:
    known = KnownUsers(max_users=2)
    known.put("a", 1, Principal("a"))
    known.put("b", 1, Principal("b"))
    assert known.get("a", 1) is not None  # a used: b is now the oldest
    known.put("c", 1, Principal("c"))
    assert known.get("b", 1) is None
    assert known.get("a", 1) is not None
    assert known.get("c", 1) is not None
