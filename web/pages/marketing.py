"""Campaigns: the list (by channel), a new-campaign form, and a campaign's performance (chart and table).

The performance is marketing's `GET /api/v1/marketing/campaigns/{id}/performance`: leads and
orders from real downstream results, revenue and spend in the base currency, ROAS. The page draws
it with Chart.js and shows the same figures as a table (the chart's accessible alternative).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request
from starlette.responses import Response

from web.core import PREFIX, ConsoleRouter, Refused, Viewer, action, form_of, page
from web.i18n import N_
from web.nav import section

router = ConsoleRouter()

CAMPAIGNS = section("campaigns", f"{PREFIX}/marketing/campaigns", N_("Campaigns"), api="/api/v1/marketing/campaigns")

PAGE_SIZE = 25
Cursor = Annotated[str | None, Query(max_length=200)]
Id = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
Channel = Literal["seo", "ppc", "social", "email", "marketplace", "trade_show"]

CHANNELS = {
    "seo": N_("SEO and content"),
    "ppc": N_("Paid search (PPC)"),
    "social": N_("Social media"),
    "email": N_("Email"),
    "marketplace": N_("Marketplace"),
    "trade_show": N_("Trade show"),
}
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "CNY", "JPY")


def channel_options(viewer: Viewer) -> list[tuple[str, str]]:
    return [(code, viewer.text(label)) for code, label in CHANNELS.items()]


def channel_label(viewer: Viewer) -> Any:
    return lambda code: viewer.text(CHANNELS.get(code, code))


@router.get(CAMPAIGNS.path)
async def campaigns(
    viewer: Annotated[Viewer, page(*CAMPAIGNS.roles)],
    channel: Annotated[Channel | None, Query()] = None,
    cursor: Cursor = None,
) -> Response:
    listing = await viewer.get("/api/v1/marketing/campaigns", channel=channel, cursor=cursor, limit=PAGE_SIZE)
    return viewer.render(
        "marketing/campaigns.html",
        {
            "listing": listing,
            "channel": channel,
            "channels": channel_options(viewer),
            "channel_label": channel_label(viewer),
        },
        partial="marketing/_campaign_rows.html",
    )


@router.get(CAMPAIGNS.path + "/new")
async def new_campaign(viewer: Annotated[Viewer, page(*CAMPAIGNS.roles)]) -> Response:
    return campaign_form(viewer, values={"budget_currency": "EUR", "channel": "seo"})


def campaign_form(
    viewer: Viewer,
    *,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    return viewer.render(
        "marketing/new_campaign.html",
        {
            "values": values,
            "errors": errors or {},
            "problem": problem,
            "channels": channel_options(viewer),
            "currencies": [(c, c) for c in CURRENCIES],
        },
        status=status,
    )


@router.post(CAMPAIGNS.path)
async def create_campaign(request: Request, viewer: Annotated[Viewer, action(*CAMPAIGNS.roles)]) -> Response:
    form = await form_of(request)
    body: dict[str, Any] = {
        "name": form.get("name", ""),
        "channel": form.get("channel", ""),
        "utm_campaign": form.get("utm_campaign", ""),
        "budget": {"amount": form.get("budget_amount", ""), "currency": form.get("budget_currency", "")},
    }
    for name in ("starts_on", "ends_on"):
        if form.get(name):
            body[name] = form[name]
    try:
        created = await viewer.send("POST", "/api/v1/marketing/campaigns", json=body)
    except Refused as refused:
        # `budget.amount` is the form's `budget_amount`; a message about the whole budget goes to the amount.
        errors: dict[str, str] = {}
        for name, message in refused.fields().items():
            key = name.replace(".", "_")
            errors.setdefault("budget_amount" if key == "budget" else key, message)
        known = {"name", "channel", "utm_campaign", "budget_amount", "budget_currency", "starts_on", "ends_on"}
        problem = None if known & errors.keys() else refused.detail
        return campaign_form(viewer, values=form, errors=errors, problem=problem, status=refused.answer.status)
    return viewer.redirect(
        f"{CAMPAIGNS.path}/{created['id']}", flash=N_("Campaign %(name)s created."), name=created["name"]
    )


@router.get(CAMPAIGNS.path + "/{campaign_id}")
async def campaign(campaign_id: Id, viewer: Annotated[Viewer, page(*CAMPAIGNS.roles)]) -> Response:
    path = f"/api/v1/marketing/campaigns/{campaign_id}"
    found, performance = await asyncio.gather(viewer.get(path), viewer.get(f"{path}/performance"))
    return viewer.render(
        "marketing/campaign.html",
        {
            "campaign": found,
            "performance": performance,
            "channel_label": channel_label(viewer),
            "funnel_chart": funnel_chart(viewer, performance),
            "money_chart": money_chart(viewer, performance),
        },
    )


def _amount(money: dict[str, Any] | None) -> float:
    try:
        return float(Decimal(str((money or {}).get("amount") or 0)))
    except InvalidOperation:
        return 0.0


def funnel_chart(viewer: Viewer, performance: dict[str, Any]) -> dict[str, Any]:
    """Leads → qualified → converted → orders, as bars."""
    labels = [
        viewer.text(N_("Leads")),
        viewer.text(N_("Qualified")),
        viewer.text(N_("Converted")),
        viewer.text(N_("Orders")),
    ]
    return {
        "type": "bar",
        "data": {
            "labels": labels,
            "datasets": [
                {
                    "label": viewer.text(N_("Count")),
                    "data": [
                        performance["leads"],
                        performance["qualified"],
                        performance["converted"],
                        performance["orders"],
                    ],
                    "backgroundColor": "#1f6feb",
                }
            ],
        },
        "options": {
            "animation": False,
            "plugins": {"legend": {"display": False}},
            "scales": {"y": {"beginAtZero": True, "ticks": {"precision": 0}}},
        },
    }


def money_chart(viewer: Viewer, performance: dict[str, Any]) -> dict[str, Any]:
    """Revenue against spend, in the base currency (ROAS is their ratio, shown in the table)."""
    currency = performance.get("currency") or ""
    return {
        "type": "bar",
        "data": {
            "labels": [viewer.text(N_("Revenue")), viewer.text(N_("Spend"))],
            "datasets": [
                {
                    "label": currency,
                    "data": [_amount(performance.get("revenue")), _amount(performance.get("spend"))],
                    "backgroundColor": ["#1a7f37", "#bc4c00"],
                }
            ],
        },
        "options": {
            "animation": False,
            "plugins": {"legend": {"display": False}},
            "scales": {"y": {"beginAtZero": True}},
        },
    }
