"""Spans of the code under test, caught by the OpenTelemetry SDK's in-memory exporter (the exporter, not a fake)."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator

import structlog
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hanse import logs, tracing


@contextlib.contextmanager
def spans_in_memory() -> Iterator[InMemorySpanExporter]:
    """Tracing on: Hanse's spans go to an in-memory exporter, and off again after."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    try:
        yield exporter
    finally:
        tracing.use(None)
        provider.shutdown()


@contextlib.contextmanager
def captured_logs(level: str = "INFO", fmt: str = "json") -> Iterator[io.StringIO]:
    """Configure Hanse's logging as a process does, onto a buffer; put the test run's logging back after."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    handler = logs.configure_logging(level=level, fmt=fmt, stream=buffer)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        for saved in saved_handlers:
            root.addHandler(saved)
        root.setLevel(saved_level)
        structlog.reset_defaults()
