"""Prometheus metrics of one process: HTTP, outbox backlog, consumer lag, dead letters, mail."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        labels = {"service": service}
        r = self.registry
        self.http_requests = Counter("hanse_http_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.http_duration = Histogram(
            "hanse_http_request_duration_seconds",
            "HTTP request duration",
            ["method", "route"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.outbox_backlog = Gauge("hanse_outbox_backlog", "Outbox rows not yet published", registry=r)
        self.events_published = Counter(
            "hanse_events_published", "Events published by the outbox relay", ["type"], registry=r
        )
        self.events_handled = Counter(
            "hanse_events_handled",
            "Events taken by the consumer, by outcome (handled, duplicate, ignored, dead_lettered)",
            ["type", "outcome"],
            registry=r,
        )
        self.handler_retries = Counter("hanse_handler_retries", "Handler attempts that failed", registry=r)
        self.consumer_lag = Gauge(
            "hanse_consumer_lag", "Messages behind the partition end", ["topic", "partition"], registry=r
        )
        self.dlq_messages = Counter(
            "hanse_dlq_messages", "Messages sent to the dead-letter topic", ["reason"], registry=r
        )
        self.mail_sent = Counter("hanse_mail_sent", "Mail accepted by the SMTP server", ["template"], registry=r)
        self.mail_failed = Counter(
            "hanse_mail_failed", "Mail given up (refused, or out of attempts)", ["template"], registry=r
        )
        self.mail_retries = Counter("hanse_mail_retries", "Mail attempts that failed and will be retried", registry=r)
        self.mail_backlog = Gauge("hanse_mail_backlog", "Mail written and not yet sent or failed", registry=r)
        self.info = Gauge("hanse_service_info", "Service identity", list(labels), registry=r)
        self.info.labels(**labels).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
