"""Log lines as JSON (or readable console lines in dev) with the service, request, correlation and trace ids.

Every logger goes through one structlog pipeline: the stdlib loggers the code already uses
(`logging.getLogger("hanse.outbox")`) as well as structlog's own. The ids come from context
variables, set where the work starts: the EdgeMiddleware (request id, `X-Correlation-ID`), the
gateway's proxy, and the consumer per event (the CloudEvent's `correlationid`). The trace and
span ids are those of the current OpenTelemetry span; with tracing off, a consumer's lines
carry the trace id of the event's `traceparent`, so they still join the event's trace.
"""

from __future__ import annotations

import logging
import os
import sys
from contextvars import ContextVar
from typing import Any, TextIO

import orjson
import structlog
from opentelemetry import trace

__all__ = ["FORMATS", "configure_logging", "correlation_id", "request_id", "service", "trace_id"]

FORMATS = ("json", "console")

# Where the work comes from; each is None when not known.
service: ContextVar[str | None] = ContextVar("hanse_service", default=None)
request_id: ContextVar[str | None] = ContextVar("hanse_request_id", default=None)
correlation_id: ContextVar[str | None] = ContextVar("hanse_correlation_id", default=None)
# A trace id known without a recording span (the event being handled while tracing is off).
trace_id: ContextVar[str | None] = ContextVar("hanse_trace_id", default=None)

_process_service: str | None = None


def add_context(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Add service, request_id, correlation_id, trace_id and span_id where they are known."""
    # One process runs one service; in tests several run in one process and the variable tells them apart.
    name = service.get() or _process_service or os.environ.get("HANSE_SERVICE")
    if name:
        event_dict.setdefault("service", name)
    value = request_id.get()
    if value:
        event_dict.setdefault("request_id", value)
    value = correlation_id.get()
    if value:
        event_dict.setdefault("correlation_id", value)
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict.setdefault("trace_id", format(span_context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(span_context.span_id, "016x"))
    else:
        value = trace_id.get()
        if value:
            event_dict.setdefault("trace_id", value)
    return event_dict


_FIRST = ("timestamp", "level", "logger", "service", "message")


def _json(data: dict[str, Any], **_kw: Any) -> str:
    # The fixed fields first, so a person reading raw lines finds them; then the rest as logged.
    ordered = {key: data.pop(key) for key in _FIRST if key in data}
    ordered.update(data)
    # default=str: an exception or Decimal passed as an `extra` field must not break the log line.
    return orjson.dumps(ordered, default=str).decode()


def default_format(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """HANSE_LOG_FORMAT, else `console` in dev (a person reads `make dev`'s terminal) and `json` elsewhere."""
    chosen = environ.get("HANSE_LOG_FORMAT", "").strip().lower()
    if chosen:
        if chosen not in FORMATS:
            raise ValueError(f"HANSE_LOG_FORMAT: {chosen!r} is not one of {', '.join(FORMATS)}")
        return chosen
    return "console" if environ.get("HANSE_ENV", "dev") == "dev" else "json"


def configure_logging(
    service_name: str | None = None,
    level: str = "INFO",
    *,
    fmt: str | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Route every stdlib and structlog logger through one handler on `stream` (stderr); returns it."""
    global _process_service
    _process_service = service_name
    fmt = fmt or default_format()
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")
    shared: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        timestamper,
        add_context,
    ]
    renderer: Any
    if fmt == "json":
        # `message`, not structlog's `event`: log stores expect it, and "event" means a CloudEvent here.
        final: list[Any] = [
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
        ]
        renderer = structlog.processors.JSONRenderer(serializer=_json)
    else:
        final = []
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final, renderer],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return handler
