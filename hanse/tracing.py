"""OpenTelemetry traces across HTTP, the outbox and Kafka; off (no spans at all) unless OTEL_* asks.

The spans, written by hand (the instrumentation packages would wrap far more than we need):
a SERVER span per HTTP request (the gateway's and each service's EdgeMiddleware), a CLIENT span
for the gateway's upstream call, which carries `traceparent` to the service; a PRODUCER span per
event the outbox relay publishes and a CONSUMER span per event a consumer handles. An event's
CloudEvent `traceparent` is the span it was written in (the request or the handler), and both
the publish span and every consumer's process span are its children, so one request's events and
all their consequences in every department form one trace. The Kafka record header `traceparent`
names the publish span; a process span links to it.

Tracing is on when `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, `console`); the standard
OTEL_* variables configure the rest (endpoint, headers, sampler, batch processor, service name).
Off, `tracer()` returns None and callers skip span code entirely, so the request path pays one
dictionary lookup.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, StatusCode, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "Span",
    "SpanKind",
    "Tracer",
    "configure",
    "current_context",
    "current_traceparent",
    "enabled",
    "extract",
    "headers_traceparent",
    "link_to",
    "set_error",
    "span",
    "trace",
    "trace_id_of",
    "traceparent_of",
    "tracer",
    "use",
]

_propagator = TraceContextTextMapPropagator()
# The provider our spans go to; None = tracing off. Not only the global one: a test installs its
# own (in-memory exporter) with `use()` and removes it again, which the set-once global forbids.
_provider: TracerProvider | None = None
_tracers: dict[str, Tracer] = {}
_configured = False
EXPORTERS = ("otlp", "console", "none")


def use(provider: TracerProvider | None) -> None:
    """Send Hanse's spans to `provider` (None: tracing off)."""
    global _provider
    _provider = provider
    _tracers.clear()


def enabled() -> bool:
    return _provider is not None


def tracer(service: str) -> Tracer | None:
    """The service's tracer (instrumentation scope `hanse.<service>`), or None when tracing is off."""
    if _provider is None:
        return None
    found = _tracers.get(service)
    if found is None:
        found = _tracers[service] = _provider.get_tracer(f"hanse.{service}")
    return found


def configure(service: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Once per process: install the SDK when OTEL_TRACES_EXPORTER names an exporter; True if tracing is on.

    Unlike the SDK's own default (`otlp`), an unset OTEL_TRACES_EXPORTER means `none`: a process
    never tries to reach a collector nobody started. OTEL_SDK_DISABLED=true wins over everything.
    """
    global _configured
    if _configured or _provider is not None:
        return _provider is not None
    _configured = True
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "none").split(",") if n.strip()]
    unknown = [n for n in names if n not in EXPORTERS]
    if unknown:
        raise ValueError(f"OTEL_TRACES_EXPORTER: unsupported exporter {unknown[0]!r} (use otlp, console or none)")
    names = [n for n in names if n != "none"]
    if not names:
        return False
    # Imported only when tracing is on: the SDK and the exporter cost start-up time and memory.
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by Resource.create; ours is the default.
    name = environ.get("OTEL_SERVICE_NAME") or f"hanse-{service}"
    provider = SdkTracerProvider(resource=Resource.create({SERVICE_NAME: name, "service.namespace": "hanse"}))
    for exporter_name in names:
        if exporter_name == "otlp":
            protocol = environ.get(
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            )
            if protocol != "http/protobuf":
                raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL: only http/protobuf is installed, not {protocol!r}")
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # Endpoint, headers, timeout and compression come from OTEL_EXPORTER_OTLP_(TRACES_)*.
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    # Global too, so any library instrumented with the OTel API joins the same traces.
    trace.set_tracer_provider(provider)
    use(provider)
    return True


# -- W3C traceparent in and out -----------------------------------------------------------------


def extract(traceparent: str | bytes | None) -> Context:
    """A context whose parent is the span `traceparent` names; an empty one (a new trace) if none or invalid."""
    if not traceparent:
        return Context()
    if isinstance(traceparent, bytes):
        traceparent = traceparent.decode("latin-1")
    return _propagator.extract({"traceparent": traceparent}, context=Context())


def traceparent_of(span: Span) -> str | None:
    """The W3C traceparent naming `span`, or None when it is not a valid (recording or remote) span."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=trace.set_span_in_context(span, Context()))
    return carrier.get("traceparent")


def current_context() -> Context:
    """The context this code runs in: a request's or a handler's span, or none (a job: a new trace)."""
    return otel_context.get_current()


def current_traceparent() -> str | None:
    """The traceparent of the span this code runs in (a request's, a handler's), or None outside one."""
    current = trace.get_current_span()
    if not current.get_span_context().is_valid:
        return None
    return traceparent_of(current)


def trace_id_of(traceparent: str | None) -> str | None:
    """The 32-hex trace id of a traceparent (for log lines when no span is recording)."""
    context = trace.get_current_span(extract(traceparent)).get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def headers_traceparent(headers: Sequence[tuple[str, bytes]] | None) -> str | None:
    """The `traceparent` of Kafka record headers, if any."""
    for key, value in headers or ():
        if key == "traceparent":
            return value.decode("latin-1")
    return None


# -- spans ----------------------------------------------------------------------------------------


@contextmanager
def span(
    tracer_: Tracer,
    name: str,
    *,
    parent: Context,
    kind: SpanKind,
    attributes: Mapping[str, Any] | None = None,
    links: Sequence[Link] = (),
) -> Iterator[Span]:
    """Start a span under `parent` and make it current (events written inside carry it) until the block ends."""
    started = tracer_.start_span(name, context=parent, kind=kind, attributes=attributes, links=links)
    token = otel_context.attach(trace.set_span_in_context(started, parent))
    try:
        yield started
    except BaseException as exc:
        started.record_exception(exc)
        set_error(started, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        otel_context.detach(token)
        started.end()


def set_error(target: Span, description: str) -> None:
    target.set_status(StatusCode.ERROR, description)


def link_to(traceparent: str | None) -> list[Link]:
    """A link to the span `traceparent` names (the Kafka header's publish span), or none."""
    context = trace.get_current_span(extract(traceparent)).get_span_context()
    return [Link(context)] if context.is_valid else []
