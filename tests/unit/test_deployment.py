"""The deployment files say what docs/operations.md says they do: the compose file's services,
health checks and start order, the image's non-root user and contents, the systemd units; and the
operations guide documents every setting and every metric."""

import configparser
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from api import settings_doc
from application.settings import Settings
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy" / "systemd"


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_runs_postgres_migrations_api_and_one_worker() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "migrate", "api", "worker"}
    db, migrate, api, worker = (services[s] for s in ("db", "migrate", "api", "worker"))

    assert db["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert "archive_mode=on" in db["command"]
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    for service, command in ((api, "serve"), (worker, "worker")):
        assert service["command"] == [command]
        assert service["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        assert service["restart"] == "unless-stopped"
        assert service["init"] is True
        assert "FENRUN_DATABASE_URL" in service["environment"]
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    metrics_port = worker["environment"]["FENRUN_WORKER_METRICS_PORT"]
    assert f"127.0.0.1:{metrics_port}/metrics" in " ".join(worker["healthcheck"]["test"])
    assert "replicas" not in json.dumps(worker)  # one worker per job


def test_compose_has_no_default_password() -> None:
    text = (ROOT / "compose.yaml").read_text()
    assert "${FENRUN_DB_PASSWORD:?" in text
    assert not re.search(r"PASSWORD:\s*[A-Za-z0-9]", text)


def test_compose_settings_are_real_settings() -> None:
    known = {f"FENRUN_{name.upper()}" for name in Settings.model_fields}
    for name, service in compose()["services"].items():
        if name == "db":
            continue
        assert set(service.get("environment", {})) <= known, name
    example = (DEPLOY / "fenrun.env.example").read_text()
    assert set(re.findall(r"^#? ?(FENRUN_[A-Z_]+)=", example, re.MULTILINE)) <= known


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    done = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "compose.yaml"), "config", "--quiet"],
        env={"FENRUN_DB_PASSWORD": "x", "PATH": "/usr/bin:/bin:/usr/local/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), per stage."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_the_image_is_slim_runs_as_a_user_and_checks_readiness() -> None:
    *_, final = dockerfile_stages()
    text = (ROOT / "Dockerfile").read_text()
    assert "python:3.11-slim" in text
    assert "pip install --require-hashes --no-deps -r /tmp/runtime.txt" in text
    assert "requirements/dev.txt" not in text
    [user] = [line.split()[1] for line in final if line.startswith("USER ")]
    assert user not in ("root", "0")
    [check] = [line for line in final if line.startswith("HEALTHCHECK ")]
    assert "/readyz" in check
    assert any(line.startswith("ENTRYPOINT ") and "api.cli" in line for line in final)


def test_the_image_copies_what_the_service_reads() -> None:
    *_, final = dockerfile_stages()
    copied = {
        line.split()[1] for line in final if line.startswith("COPY ") and "--from" not in line
    }
    wanted = {"api", "application", "domain", "projections", "migrations"}
    assert wanted <= copied
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") + 1 :][: len(wanted) + 1] == [
        "!api/",
        "!application/",
        "!domain/",
        "!projections/",
        "!migrations/",
        "!requirements/runtime.txt",
    ]


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / name).read_text())
    return parser


def test_systemd_units_run_as_fenrun_and_start_in_order() -> None:
    for name, command in (
        ("fenrun-api@.service", "fenrun serve"),
        ("fenrun-worker.service", "fenrun worker"),
        ("fenrun-migrate.service", "fenrun migrate"),
    ):
        service = unit(name)["Service"]
        assert service["User"] == "fenrun", name
        assert service["ExecStart"].endswith(command), name
        assert service["EnvironmentFile"] == "/etc/fenrun/fenrun.env"
        assert service["NoNewPrivileges"] == "yes"
    assert unit("fenrun-api@.service")["Service"]["Environment"] == "FENRUN_PORT=%i"
    assert unit("fenrun-migrate.service")["Service"]["Type"] == "oneshot"
    for name in ("fenrun-api@.service", "fenrun-worker.service"):
        assert unit(name)["Unit"]["Requires"] == "fenrun-migrate.service"
        assert unit(name)["Service"]["KillSignal"] == "SIGTERM"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    # verify wants the programs and the environment file to exist: point them at stand-ins.
    units = []
    for source in DEPLOY.glob("*.service"):
        text = source.read_text().replace("/opt/fenrun/.venv/bin/fenrun", "/bin/true")
        text = text.replace("EnvironmentFile=/etc", "EnvironmentFile=-/etc")
        target = tmp_path / source.name.replace("@.", "@8001.")
        target.write_text(text)
        units.append(str(target))
    done = subprocess.run(
        ["systemd-analyze", "verify", *units], capture_output=True, text=True, cwd=tmp_path
    )
    ours = [line for line in done.stderr.splitlines() if str(tmp_path) in line]
    assert ours == []
    assert done.returncode == 0, done.stderr


def test_the_operations_guide_lists_every_setting() -> None:
    document = settings_doc.DOC.read_text()
    assert settings_doc.render(document) == document, "run python -m api.settings_doc --write"
    for name in Settings.model_fields:
        assert f"`FENRUN_{name.upper()}`" in document


def test_the_operations_guide_lists_every_metric() -> None:
    source = (ROOT / "api" / "observability" / "metrics.py").read_text()
    defined = set(re.findall(r'"(fenrun_[a-z_]+)"', source))
    defined |= {
        f"fenrun_{kind}_lag_{unit}" for kind in ("view", "policy") for unit in ("events", "seconds")
    }
    document = settings_doc.DOC.read_text()
    counters = {
        "fenrun_graphql_operations",
        "fenrun_failures",
        "fenrun_job_runs",
        "fenrun_events_appended",
        "fenrun_pinned_reads",
        "fenrun_large_withdrawals",
    }
    for metric in defined:
        shown = f"{metric}_total" if metric in counters else metric
        assert f"`{shown}`" in document, metric


def test_migrations_that_cannot_be_found_are_an_error(tmp_path: Path) -> None:
    from api.migrate import migrate

    with pytest.raises(FileNotFoundError, match="no migrations"):
        migrate("postgresql://nobody@127.0.0.1:1/none", tmp_path)


@pytest.mark.slow
def test_the_wheel_ships_graphiqls_assets(tmp_path: Path) -> None:
    import sys
    import zipfile

    # Built from a copy: setuptools writes build/ beside the sources.
    source = tmp_path / "src"
    for name in ("api", "application", "domain", "projections"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(wheels)],
        check=True,
        capture_output=True,
    )
    [wheel] = wheels.glob("fenrun-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    static = ROOT / "api" / "static"
    wanted = {f"api/static/{p.relative_to(static)}" for p in static.rglob("*") if p.is_file()}
    assert wanted <= shipped


def test_the_default_data_folder_is_per_user(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from application import service_settings as settings

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert settings.default_data_dir() == tmp_path / "fenrun"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setattr(settings.os, "geteuid", lambda: 0)
    assert settings.default_data_dir() == Path("/var/lib/fenrun")  # root: no passage via /root
    monkeypatch.setattr(settings.os, "geteuid", lambda: 1000)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert settings.default_data_dir() == tmp_path / "home" / ".local" / "share" / "fenrun"
