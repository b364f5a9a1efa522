"""JSON over HTTP for the carrier adapters (the standard library's client: the runtime has no
other). Anything that leaves the outcome unknown — no connection, a time-out, a 5xx, a body that
is not JSON — is CarrierUnavailable: the caller retries under the same command id."""

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from application.carriers import CarrierUnavailable


def call(
    method: str,
    url: str,
    *,
    query: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float,
) -> tuple[int, Any]:
    """(status, parsed JSON body) for 2xx and 4xx answers; CarrierUnavailable otherwise."""
    if query:
        url = f"{url}?{urlencode(query)}"
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
    request.add_header("accept", "application/json")
    if data is not None:
        request.add_header("content-type", "application/json; charset=utf-8")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (settings check the scheme)
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        raise CarrierUnavailable(f"{method} {url.split('?')[0]}: {exc}") from None
    if status >= 500 or status == 429:
        raise CarrierUnavailable(f"{method} {url.split('?')[0]}: HTTP {status}")
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        raise CarrierUnavailable(
            f"{method} {url.split('?')[0]}: not JSON (HTTP {status})"
        ) from None
