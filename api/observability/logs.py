"""Logs: JSON lines for machines, a readable format on a terminal; one configuration for ours
(structlog) and for the libraries' (stdlib logging: uvicorn, psycopg, eventsourcing).

Every line carries what structlog's context variables hold: the request middleware binds the
request id and the actor, so every line logged while serving a request names them.
"""

import logging
import sys
from typing import Any, Literal, TextIO

import structlog

Format = Literal["auto", "json", "console"]


class _Stderr:
    """Whatever sys.stderr is when a line is written (a test runner swaps and closes it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(
    fmt: Format = "auto", level: str = "info", stream: TextIO | None = None
) -> None:
    """Logs go to ``stream`` (stderr: stdout carries the commands' JSON, for pipes and scripts)."""
    out: Any = stream or _Stderr()
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Any
    if console:
        # Tracebacks without their frames' locals: a frame may hold a request's headers (a
        # bearer token, a signature) or a payee's personal data, which logs must never carry.
        renderer = structlog.dev.ConsoleRenderer(
            colors=out.isatty(),
            exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False),
        )
    else:
        shared.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False, default=str)
    threshold = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(threshold)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own handlers would print a second, plain-text copy.
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
