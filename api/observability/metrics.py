"""Every metric Fenrun exports, in one place (Prometheus text format at /metrics).

Counted where they happen, in this process: GraphQL operations by name, type and outcome with
their latency, failures of background work, scheduled job runs. Read from the database when
scraped, so that every API process reports the same truth: events appended to the log, each
policy's and view's lag, failing views and policies, unfreeze requests waiting for approval.
"""

import threading
import time
from collections.abc import Iterator

import structlog
from graphql import FieldNode, OperationDefinitionNode
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.types.execution import ExecutionContext

from projections.health import Backlog, Operations
from projections.replica import ReadRouter, ReplicaLag

log = structlog.get_logger(__name__)
__all__ = ["CONTENT_TYPE_LATEST", "FAILURES", "JOB_RUNS", "OperationMetrics", "scrape"]

GRAPHQL_OPERATIONS = Counter(
    "fenrun_graphql_operations",
    "GraphQL operations by operation name, type and outcome"
    " (ok, user_error: a payload with userErrors, error, invalid: refused before execution).",
    ["operation", "type", "outcome"],
)
GRAPHQL_DURATION = Histogram(
    "fenrun_graphql_operation_duration_seconds",
    "Time to parse, validate and execute a GraphQL operation.",
    ["operation", "type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
FAILURES = Counter(
    "fenrun_failures",
    "Unexpected failures by component (catch_up, worker, job, http; mutation_payload: a"
    " committed write whose payload could not read its views).",
    ["component"],
)
JOB_RUNS = Counter("fenrun_job_runs", "Scheduled job runs by job and outcome.", ["job", "outcome"])
PINNED_READS = Counter(
    "fenrun_pinned_reads",
    "Read positions pinned by GraphQL requests, by the server that answered them (primary,"
    " replica) and why (caught_up, replica_behind, replica_unreachable, no_replica).",
    ["server", "reason"],
)
LARGE_WITHDRAWALS = Counter(
    "fenrun_large_withdrawals",
    "Withdrawals requested at or above the large-withdrawal alert amount (withdrawal limits).",
)

# Operation names come from clients: past this many distinct ones, new names count as "other".
MAX_OPERATION_NAMES = 200
_names: set[str] = set()


class OperationMetrics(SchemaExtension):
    """Counts and times every GraphQL operation (a schema extension: one per request)."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            context = self.execution_context
            kind = _operation_type(context)
            name = _operation_name(context)
            GRAPHQL_OPERATIONS.labels(name, kind, _outcome(context)).inc()
            GRAPHQL_DURATION.labels(name, kind).observe(time.perf_counter() - started)


def _operation_type(context: ExecutionContext) -> str:
    try:
        return context.operation_type.value
    except RuntimeError:  # no document (it did not parse), or no such operation in it
        return "unknown"


def _operation_name(context: ExecutionContext) -> str:
    """The operation's own name; for an anonymous one, its root fields (bounded by the schema)."""
    document = context.graphql_document
    if document is None or _operation_type(context) == "unknown":
        return "unparsed"
    name = context.operation_name
    if name is None:
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        fields = sorted(
            {s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)}
        )
        name = "+".join(fields[:3]) + ("+..." if len(fields) > 3 else "") or "anonymous"
    if name not in _names and len(_names) >= MAX_OPERATION_NAMES:
        return "other"
    _names.add(name)
    return name


def _outcome(context: ExecutionContext) -> str:
    # A document that did not parse is invalid too (the parser cache reports it as a result's
    # error, not as a pre-execution error).
    if context.pre_execution_errors or context.graphql_document is None:
        return "invalid"
    result = context.result
    if result is None or result.errors:
        return "error"
    data = result.data or {}
    if any(isinstance(payload, dict) and payload.get("userErrors") for payload in data.values()):
        return "user_error"
    return "ok"


class _Backlog(Collector):
    """The database-derived metrics, from the snapshot the last scrape read."""

    def __init__(self) -> None:
        self.snapshot: Backlog | None = None
        self.database_up = False

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "fenrun_database_up", "Whether the last scrape reached the database."
        )
        up.add_metric([], 1 if self.database_up else 0)
        yield up
        found = self.snapshot
        if found is None or not self.database_up:
            return
        yield CounterMetricFamily(
            "fenrun_events_appended",
            "Events appended to the log by every writer (the log's head position).",
            value=found.log_head,
        )
        for kind, lags in (("view", found.views), ("policy", found.policies)):
            events = GaugeMetricFamily(
                f"fenrun_{kind}_lag_events", f"Events the {kind} has yet to process.", labels=[kind]
            )
            seconds = GaugeMetricFamily(
                f"fenrun_{kind}_lag_seconds",
                f"Recorded time between the log's head and the first event the {kind} has yet to"
                " process.",
                labels=[kind],
            )
            for lag in lags:
                events.add_metric([lag.name], lag.events)
                seconds.add_metric([lag.name], lag.seconds)
            yield events
            yield seconds
        failing = GaugeMetricFamily(
            "fenrun_view_failing", "1 when the view's last batch failed.", labels=["view"]
        )
        for lag in found.views:
            failing.add_metric([lag.name], 1 if lag.name in found.failing_views else 0)
        yield failing
        stopped = GaugeMetricFamily(
            "fenrun_policy_failing",
            "1 when the policy stopped before an event it fails on.",
            labels=["policy"],
        )
        for lag in found.policies:
            stopped.add_metric([lag.name], 1 if lag.name in found.failing_policies else 0)
        yield stopped
        pending = GaugeMetricFamily(
            "fenrun_pending_approvals", "Unfreeze requests waiting for finance's decision."
        )
        pending.add_metric([], found.pending_approvals)
        yield pending
        amount = GaugeMetricFamily("fenrun_pending_approval_amount_fen", "Their amount, in fen.")
        amount.add_metric([], found.pending_approval_fen)
        yield amount


class _Replica(Collector):
    """The replica's lag, from the last scrape (nothing when no replica is configured)."""

    def __init__(self) -> None:
        self.configured = False
        self.lag: ReplicaLag | None = None  # None: the last scrape could not read it

    def collect(self) -> Iterator[Metric]:
        if not self.configured:
            return
        up = GaugeMetricFamily("fenrun_replica_up", "Whether the last scrape reached the replica.")
        up.add_metric([], 0 if self.lag is None else 1)
        yield up
        if self.lag is None:
            return
        events = GaugeMetricFamily(
            "fenrun_replica_lag_events",
            "Log positions the replica's views have yet to process that the primary's have.",
        )
        events.add_metric([], self.lag.events)
        yield events
        seconds = GaugeMetricFamily(
            "fenrun_replica_replay_lag_seconds",
            "Since the commit of the last transaction the replica replayed (0 when it has"
            " replayed all it received).",
        )
        seconds.add_metric([], self.lag.seconds)
        yield seconds


_BACKLOG = _Backlog()
_REPLICA = _Replica()
# Apart from the process's own metrics: only /metrics refreshes them, and the worker's metrics
# server (the default registry) must not report a stale or unread backlog.
_BACKLOG_REGISTRY = CollectorRegistry()
_BACKLOG_REGISTRY.register(_BACKLOG)
_BACKLOG_REGISTRY.register(_REPLICA)
_scraping = threading.Lock()


def scrape(read: Operations | None, reads: ReadRouter | None = None) -> bytes:
    """The metrics page; blocking (it reads the database): call it from a worker thread."""
    with _scraping:
        if read is not None:
            try:
                _BACKLOG.snapshot = read.backlog()
                _BACKLOG.database_up = True
            except Exception:
                log.warning("metrics.database_unreachable", exc_info=True)
                _BACKLOG.database_up = False
        if reads is not None:
            _scrape_replica(reads)
        return generate_latest(REGISTRY) + generate_latest(_BACKLOG_REGISTRY)


def _scrape_replica(reads: ReadRouter) -> None:
    _REPLICA.configured = reads.replica is not None
    if not _REPLICA.configured:
        return
    try:
        _REPLICA.lag = reads.lag()
    except Exception:
        log.warning("metrics.replica_unreachable", exc_info=True)
        _REPLICA.lag = None


def count_failure(component: str) -> None:
    FAILURES.labels(component).inc()


def count_large_withdrawal() -> None:
    LARGE_WITHDRAWALS.inc()


def job_run(job: str, outcome: str) -> None:
    JOB_RUNS.labels(job, outcome).inc()


def count_read(server: str, reason: str) -> None:
    PINNED_READS.labels(server, reason).inc()
