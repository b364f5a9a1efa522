"""The jobs table (migrations/0011_jobs.sql): start, claim, report progress, finish, forget.

Claims are serialized by an advisory lock so that `max_running` holds across every process that
runs jobs; a job whose process stopped sending heartbeats is queued again (a simulation writes
nothing, so running it again is safe), at most MAX_ATTEMPTS times.
"""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson
from psycopg import Connection
from psycopg.rows import dict_row

from domain.errors import IdempotencyKeyReused

QUEUED, RUNNING, SUCCEEDED, FAILED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED"
MAX_ATTEMPTS = 3
_CLAIM_LOCK = 0x4A4F4253  # "JOBS": one claim at a time, across processes
CHANNEL = "fenrun_jobs"  # NOTIFY: a job was queued or a slot freed
_THIS_RUN = "id = %s AND status = 'RUNNING' AND attempts = %s"
_COLUMNS = (
    "id, kind, status, input, position, started_by, idempotency_key, progress, error, attempts,"
    " queued_at, started_at, finished_at"
)


class Connections(Protocol):
    def connection(self) -> Any: ...


@dataclass(frozen=True)
class Job:
    id: uuid.UUID
    kind: str
    status: str
    input: dict[str, Any]
    position: int
    started_by: str
    idempotency_key: str | None
    progress: float
    error: dict[str, Any] | None
    attempts: int
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in (SUCCEEDED, FAILED)

    @classmethod
    def of(cls, row: dict[str, Any]) -> "Job":
        error = row["error"]
        return cls(
            **{k: row[k] for k in row if k not in ("input", "error")},
            input=orjson.loads(row["input"]),
            error=orjson.loads(error) if error else None,
        )


def encode(value: object) -> str:
    """JSON text; orjson escapes control characters, so the text column takes any string."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def job_id(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


class JobStore:
    def __init__(self, connections: Connections) -> None:
        self.connections = connections

    def _one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        with self.connections.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, params)
            return cur.fetchone() if cur.description else None

    def start(
        self, kind: str, input: dict[str, Any], position: int, started_by: str, key: str | None
    ) -> Job:
        """Queues a job; the same key from the same client with the same input gives the job
        it started first, with another input IdempotencyKeyReused."""
        text = encode(input)
        digest = hashlib.sha256(f"{kind}\n{text}".encode()).hexdigest()
        row = self._one(
            f"INSERT INTO jobs (id, kind, input, digest, position, started_by, idempotency_key)"
            f" VALUES (%s, %s, %s, %s, %s, %s, %s)"
            f" ON CONFLICT (started_by, idempotency_key) DO NOTHING RETURNING {_COLUMNS}",
            (uuid.uuid4(), kind, text, digest, position, started_by, key),
        )
        if row is not None:
            self._one(f"NOTIFY {CHANNEL}")
        else:
            row = self._one(
                f"SELECT {_COLUMNS}, digest FROM jobs WHERE started_by = %s"
                " AND idempotency_key = %s",
                (started_by, key),
            )
            assert row is not None  # jobs are forgotten only once finished and old
            if row.pop("digest") != digest:
                raise IdempotencyKeyReused(key or "")
        return Job.of(row)

    def get(self, id: uuid.UUID) -> Job | None:
        row = self._one(f"SELECT {_COLUMNS} FROM jobs WHERE id = %s", (id,))
        return Job.of(row) if row else None

    def result(self, id: uuid.UUID) -> dict[str, Any] | None:
        row = self._one("SELECT result FROM jobs WHERE id = %s", (id,))
        return orjson.loads(row["result"]) if row and row["result"] else None

    def claim(self, max_running: int) -> Job | None:
        """The oldest queued job, now running, unless `max_running` jobs already run."""
        with self.connections.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_CLAIM_LOCK,))
            cur.execute("SELECT count(*) AS n FROM jobs WHERE status = 'RUNNING'")
            running = cur.fetchone()
            if running is None or running["n"] >= max_running:
                return None
            cur.execute(
                "UPDATE jobs SET status = 'RUNNING', started_at = now(), heartbeat_at = now(),"
                " attempts = attempts + 1 WHERE id = (SELECT id FROM jobs WHERE status = 'QUEUED'"
                " ORDER BY queued_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
                f" RETURNING {_COLUMNS}"
            )
            row = cur.fetchone()
            return Job.of(row) if row else None

    def progress(self, id: uuid.UUID, fraction: float, attempt: int) -> bool:
        """Records the fraction done; False when the job is no longer this run's."""
        row = self._one(
            "UPDATE jobs SET progress = greatest(progress, %s), heartbeat_at = now()"
            f" WHERE {_THIS_RUN} RETURNING id",
            (max(0.0, min(1.0, fraction)), id, attempt),
        )
        return row is not None

    def heartbeat(self, ids: list[uuid.UUID]) -> None:
        if ids:
            self._one(
                "UPDATE jobs SET heartbeat_at = now() WHERE id = ANY(%s) AND status = 'RUNNING'",
                (ids,),
            )

    def succeed(self, id: uuid.UUID, result: object, attempt: int) -> None:
        self._finish("status = 'SUCCEEDED', progress = 1, result = %s", encode(result), id, attempt)

    def fail(
        self,
        id: uuid.UUID,
        code: str,
        message: str,
        field: str | None = None,
        *,
        attempt: int | None = None,
    ) -> None:
        """Fails the job (that run of it, when `attempt` is given; else whatever it is doing)."""
        error = encode({"code": code, "field": field, "message": message})
        if attempt is not None:
            self._finish("status = 'FAILED', error = %s", error, id, attempt)
            return
        self._one(
            "UPDATE jobs SET status = 'FAILED', error = %s, finished_at = now()"
            " WHERE id = %s AND status IN ('QUEUED', 'RUNNING')",
            (error, id),
        )

    def _finish(self, assignments: str, value: str, id: uuid.UUID, attempt: int) -> None:
        # Runners waiting for a free slot hear of it at once (api/jobs/runner.py).
        with self.connections.connection() as conn:
            conn.execute(
                f"UPDATE jobs SET {assignments}, finished_at = now() WHERE {_THIS_RUN}",
                (value, id, attempt),
            )
            conn.execute(f"NOTIFY {CHANNEL}")

    def requeue(self, id: uuid.UUID) -> None:
        """A run stopped on purpose (its process is shutting down): not counted as an attempt."""
        self._one(
            "UPDATE jobs SET status = 'QUEUED', progress = 0, started_at = NULL,"
            " attempts = attempts - 1 WHERE id = %s AND status = 'RUNNING'",
            (id,),
        )

    def recover(self, stale_seconds: float) -> int:
        """Jobs whose process went silent: queued again, or failed after MAX_ATTEMPTS."""
        with self.connections.connection() as conn:
            return _recover(conn, stale_seconds)

    def forget(self, older_than_seconds: float) -> int:
        """Deletes jobs finished longer ago than that (their results expire)."""
        with self.connections.connection() as conn:
            done = conn.execute(
                "DELETE FROM jobs WHERE finished_at < now() - make_interval(secs => %s)",
                (older_than_seconds,),
            )
            return done.rowcount


def _recover(conn: Connection[Any], stale_seconds: float) -> int:
    stale = "status = 'RUNNING' AND heartbeat_at < now() - make_interval(secs => %s)"
    failed = conn.execute(
        f"UPDATE jobs SET status = 'FAILED', finished_at = now(), error = %s"
        f" WHERE {stale} AND attempts >= %s",
        (
            encode(
                {
                    "code": "JOB_INTERRUPTED",
                    "field": None,
                    "message": f"the job was interrupted {MAX_ATTEMPTS} times (its process"
                    " stopped): start it again",
                }
            ),
            stale_seconds,
            MAX_ATTEMPTS,
        ),
    ).rowcount
    queued = conn.execute(
        f"UPDATE jobs SET status = 'QUEUED', progress = 0, started_at = NULL WHERE {stale}",
        (stale_seconds,),
    ).rowcount
    return failed + queued
