"""The sales service: its routes and event handlers, wired by the kernel."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from hanse.app import create_service
from hanse.ratelimit import RateLimiter
from hanse.scheduler import Job
from hanse.settings import Settings
from services.sales import api, handlers, models
from services.sales.config import SalesConfig
from services.sales.domain import inquiries, notify, tickets


def build(settings: Settings | None = None, config: SalesConfig | None = None) -> FastAPI:
    config = config or SalesConfig()
    app = create_service(
        "sales",
        routers=[api.router],
        handlers=handlers.HANDLERS,
        models=models,
        config=config,
        settings=settings,
        jobs=[
            Job("ticket-sla-breaches", every_seconds=config.sla_check_seconds, run=tickets.publish_breaches),
            Job("inquiries-lost", every_seconds=config.sla_check_seconds, run=inquiries.mark_lost_inquiries),
            Job("invoice-mail", every_seconds=config.invoice_mail_seconds, run=notify.send_invoice_mails, drain=True),
        ],
        templates=Path(__file__).parent / "templates",
    )
    # One limiter per app: its counters live in this process.
    app.state.inquiry_limiter = RateLimiter("inquiry-form", config.inquiry_rate_limit)
    return app


app = build()
