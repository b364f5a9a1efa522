"""GraphiQL renders without the internet: its page names only this service's URLs, every asset
it names is served, and each is the exact file strawberry's page expects (same integrity hash)."""

import base64
import hashlib
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from strawberry.http.ides import get_graphql_ide_html

from api.app import create_app
from tests.e2e.conftest import GraphQLClient, running


class Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        url = named.get("src") or named.get("href")
        if url is not None:
            self.found.append((url, named.get("integrity")))


def assets(page: str) -> list[tuple[str, str | None]]:
    parser = Assets()
    parser.feed(page)
    return parser.found


def sri(body: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


def test_the_page_loads_nothing_from_elsewhere(gql: GraphQLClient) -> None:
    page = gql.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # No absolute or protocol-relative URL anywhere in the page, not only in src/href.
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page.text, re.IGNORECASE)

    found = assets(page.text)
    scripts = [url for url, _ in found if url.endswith(".js")]
    styles = [url for url, _ in found if url.endswith(".css")]
    assert len(scripts) == 4
    assert len(styles) == 2
    for url, integrity in found:
        if url.startswith("data:"):
            continue
        assert url.startswith("/static/graphiql/"), url
        served = gql.http.get(url)
        assert served.status_code == 200, url
        assert integrity == sri(served.content), url


def test_the_assets_are_the_files_strawberrys_page_names() -> None:
    # strawberry's page loads the same files from a CDN, each pinned by its integrity hash.
    theirs = {integrity for _, integrity in assets(get_graphql_ide_html("graphiql")) if integrity}
    ours = {integrity for _, integrity in assets(_our_page()) if integrity}
    assert ours <= theirs
    assert len(ours) == 6  # all but js-cookie (Django's CSRF cookie), which we do not need


def _our_page() -> str:
    from api.http import STATIC

    return (STATIC / "graphiql.html").read_text()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_the_page_renders_in_a_browser(fenrun, tmp_path: Path) -> None:
    """Headless Chromium loads the page: GraphiQL's editor is drawn (React ran, the CSS and the
    plugin loaded with their integrity checked) and the schema was fetched. A browser started
    from the command line cannot be given a token for the page's requests, so the service runs
    without authentication here (loopback); with it, the page loads the same and its requests
    carry the token pasted into its headers."""
    open_settings = fenrun.settings.model_copy(update={"auth": "off"})
    with running(create_app(open_settings, fenrun=fenrun)) as server:
        _render(server, tmp_path)


def _render(server: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"{server}/graphql",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = done.stdout
    assert 'class="graphiql-editors' in dom, done.stderr[-2000:]
    assert "graphiql-explorer" in dom  # the explorer plugin
    assert "Loading..." not in dom
