"""Dependencies: every package the code imports is declared (runtime for the service, dev for
tests), pinned exactly, and locked with hashes; `make run` installs the runtime lock only."""

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
DEV = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]]
OURS = {"api", "application", "domain", "projections", "tests", "bench"}


def imported(*folders: str) -> set[str]:
    """Top-level names of the third-party modules imported under these folders."""
    found = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name not in OURS}


def distributions(modules: set[str]) -> dict[str, set[str]]:
    by_module = packages_distributions()
    return {m: {canonicalize_name(d) for d in by_module.get(m, [])} for m in modules}


def names(requirements: list[Requirement]) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements}


def locked(path: Path) -> dict[str, str]:
    text = path.read_text()
    pins = dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+?)\s", text, re.MULTILINE))
    entries = re.split(r"\n(?=[a-z0-9])", text.split("\n", 2)[2])
    unhashed = [e.split()[0] for e in entries if e.strip() and "--hash=sha256:" not in e]
    assert unhashed == [], f"{path.name}: no hash for {unhashed}"
    return {canonicalize_name(k): v for k, v in pins.items()}


def test_every_import_of_the_service_is_a_declared_runtime_dependency() -> None:
    undeclared = {
        module: dists
        for module, dists in distributions(
            imported("api", "application", "projections", "domain")
        ).items()
        if not dists & names(RUNTIME)
    }
    assert undeclared == {}


def test_every_import_of_tests_and_benchmarks_is_declared() -> None:
    undeclared = {
        module: dists
        for module, dists in distributions(imported("tests", "bench")).items()
        if not dists & (names(RUNTIME) | names(DEV))
    }
    assert undeclared == {}


def test_dependencies_are_pinned_exactly_and_dev_tools_stay_out_of_the_runtime() -> None:
    for requirement in RUNTIME + DEV:
        [spec] = requirement.specifier
        assert spec.operator == "==", requirement
    assert not names(RUNTIME) & names(DEV)


def test_the_lock_files_hold_every_pin_with_hashes() -> None:
    runtime = locked(ROOT / "requirements" / "runtime.txt")
    dev = locked(ROOT / "requirements" / "dev.txt")
    for requirement in RUNTIME:
        assert runtime[canonicalize_name(requirement.name)] == str(requirement.specifier)[2:]
    for requirement in RUNTIME + DEV:
        assert dev[canonicalize_name(requirement.name)] == str(requirement.specifier)[2:]
    tools = {"pytest", "ruff", "hypothesis", "httpx", "import-linter", "pyyaml", "uv"}
    assert tools <= names(DEV)
    assert not tools & set(runtime)  # no test tool in what the service installs
    assert {k: v for k, v in dev.items() if k in runtime} == runtime  # the same runtime


def make_dry_run(target: str, tmp_path: Path) -> str:
    """What `make TARGET` would run on a fresh clone (a virtualenv that does not exist yet)."""
    done = subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_make_run_installs_the_runtime_lock_only(tmp_path: Path) -> None:
    installs = [
        line for line in make_dry_run("run", tmp_path).splitlines() if "pip install" in line
    ]
    assert installs == [
        f"{tmp_path}/venv/bin/python -m pip install --require-hashes --no-deps"
        " -r requirements/runtime.txt",
        f"{tmp_path}/venv/bin/python -m pip install --no-deps -e .",
    ]


def test_make_test_installs_the_dev_lock(tmp_path: Path) -> None:
    installs = [
        line for line in make_dry_run("test", tmp_path).splitlines() if "pip install" in line
    ]
    assert installs == [
        f"{tmp_path}/venv/bin/python -m pip install --require-hashes --no-deps"
        " -r requirements/dev.txt",
        f"{tmp_path}/venv/bin/python -m pip install --no-deps -e .",
    ]
