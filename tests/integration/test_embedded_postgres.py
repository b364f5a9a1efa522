"""The embedded PostgreSQL path: first start initialises a cluster, a restart keeps its data."""

from __future__ import annotations

import os
import pathlib

import psycopg
import pytest

from api.embedded_db import start_embedded_postgres

pytestmark = pytest.mark.embedded


def test_data_survives_a_restart_and_a_stale_pidfile(tmp_path: pathlib.Path) -> None:
    data_dir = tmp_path / "fenrun-data"

    server = start_embedded_postgres(data_dir)
    try:
        assert server.url.startswith("postgresql://postgres@127.0.0.1:")
        assert server.url.endswith("/fenrun")
        with psycopg.connect(server.url) as conn:
            conn.execute("CREATE TABLE kept (id int PRIMARY KEY, note text)")
            conn.execute("INSERT INTO kept VALUES (1, 'still here')")
    finally:
        server.stop()

    # As after a crash: a postmaster.pid naming a live process that is not PostgreSQL.
    (data_dir / "pgdata" / "postmaster.pid").write_text(
        f"{os.getpid()}\n{data_dir}\n0\n5432\n\n127.0.0.1\n0 0\nready\n"
    )

    server = start_embedded_postgres(data_dir)
    try:
        with psycopg.connect(server.url) as conn:
            rows = conn.execute("SELECT id, note FROM kept").fetchall()
        assert rows == [(1, "still here")]
    finally:
        server.stop()
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()


def test_reuses_a_server_left_running(tmp_path: pathlib.Path) -> None:
    """A server left running by a crashed process is picked up again, not started twice."""
    data_dir = tmp_path / "fenrun-data"
    first = start_embedded_postgres(data_dir)
    try:
        second = start_embedded_postgres(data_dir)
        assert second.port == first.port
        with psycopg.connect(second.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        first.stop()
