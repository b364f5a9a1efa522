"""A logged failure never carries what its frames held: a request's bearer token, a signature
or a payee's personal data would otherwise reach the logs with every traceback."""

import io
import json

import pytest
import structlog

from api.observability.logs import configure_logging

SECRET = "Bearer eyJ-the-token-itself"


def fail_holding_a_secret() -> None:
    headers = {"authorization": SECRET}
    raise RuntimeError(f"failed with {len(headers)} header")


@pytest.fixture(autouse=True)
def logs_as_the_suite_had_them() -> object:
    yield None
    configure_logging("auto", "warning")  # tests/conftest.py's


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_traceback_is_logged_without_its_frames_locals(fmt: str) -> None:
    out = io.StringIO()
    configure_logging(fmt, "info", out)  # type: ignore[arg-type]
    try:
        fail_holding_a_secret()
    except RuntimeError:
        structlog.get_logger("test").exception("request.failed")
    text = out.getvalue()
    assert "fail_holding_a_secret" in text  # the traceback is there ...
    assert "eyJ-the-token-itself" not in text  # ... its locals are not
    if fmt == "json":
        assert json.loads(text.splitlines()[-1])["event"] == "request.failed"
