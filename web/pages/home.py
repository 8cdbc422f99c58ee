"""Home: the dashboard every signed-in user lands on, one card per department view their roles open.

Each card is one API call, taken only when the gateway's role matrix lets the user make it (a card
the user may not see is left out, not shown as an error); the calls run in parallel. A department
that does not answer costs its own card ("not available"), not the page.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from starlette.responses import Response

from web.core import PREFIX, ConsoleProblem, ConsoleRouter, Viewer, page
from web.i18n import N_
from web.nav import api_roles

log = logging.getLogger("hanse.console.home")
router = ConsoleRouter()

ORDERS_SUMMARY = "/api/v1/sales/orders/summary"
REVENUE = "/api/v1/finance/reports/revenue"
AGING = "/api/v1/finance/reports/aging"
REVIEWS = "/api/v1/compliance/reviews"
TICKETS = "/api/v1/sales/tickets"

REVIEWS_COUNTED = 50  # the review queue has no count: its first page is counted, "50+" beyond it
REVIEWS_SHOWN = 5
TICKETS_SHOWN = 5

ORDER_STATUSES = {
    "placed": N_("Placed"),
    "on_hold": N_("On hold"),
    "rejected": N_("Rejected"),
    "backordered": N_("Backordered"),
    "confirmed": N_("Confirmed"),
    "ready_to_ship": N_("Ready to ship"),
    "shipped": N_("Shipped"),
    "delivered": N_("Delivered"),
    "completed": N_("Completed"),
    "cancelled": N_("Cancelled"),
}
AGING_BUCKETS = {
    "current": N_("Not yet due"),
    "1-30": N_("1–30 days"),
    "31-60": N_("31–60 days"),
    "61-90": N_("61–90 days"),
    "90+": N_("Over 90 days"),
}
PRIORITIES = {"low": N_("low"), "normal": N_("normal"), "high": N_("high"), "urgent": N_("urgent")}


async def _card(viewer: Viewer, path: str, **params: Any) -> Any:
    """The card's data, or None when its department did not answer or refused (the page still shows)."""
    try:
        return await viewer.get(path, **params)
    except ConsoleProblem as exc:
        log.warning("home card %s not shown: %s (%s)", path, exc.message, exc.detail)
        return None


def _amount(value: Any) -> Decimal:
    try:
        return Decimal(str((value or {}).get("amount", "0")))
    except (InvalidOperation, AttributeError):
        return Decimal(0)


@router.get(f"{PREFIX}/")
async def home(viewer: Annotated[Viewer, page()]) -> Response:
    today = datetime.now(viewer.formats.zone).date()
    wanted: dict[str, Any] = {}
    if viewer.allowed(api_roles(ORDERS_SUMMARY)):
        wanted["orders"] = _card(viewer, ORDERS_SUMMARY)
    if viewer.allowed(api_roles(REVENUE)):
        month = {"from": today.replace(day=1).isoformat(), "to": today.isoformat()}
        wanted["revenue"] = _card(viewer, REVENUE, group_by="month", **month)
    if viewer.allowed(api_roles(AGING)):
        wanted["aging"] = _card(viewer, AGING)
    if viewer.allowed(api_roles(REVIEWS)):
        wanted["reviews"] = _card(viewer, REVIEWS, limit=REVIEWS_COUNTED)
    if viewer.allowed(api_roles(TICKETS)):
        # The queue's own order: breached first, then the nearest running deadline.
        wanted["tickets"] = _card(viewer, TICKETS, status="open", limit=TICKETS_SHOWN)
    found = dict(zip(wanted, await asyncio.gather(*wanted.values()), strict=True))
    cards = {key: _present(viewer, key, data) for key, data in found.items()}
    return viewer.render(
        "home.html",
        {
            "cards": cards,
            "month": viewer.formats.day(today.replace(day=1)),
            "today": viewer.formats.day(today),
            "order_statuses": ORDER_STATUSES,
            "priorities": PRIORITIES,
        },
    )


def _present(viewer: Viewer, key: str, data: Any) -> dict[str, Any] | None:
    """What the template shows of one card (None: the department did not answer)."""
    if data is None:
        return None
    if key == "orders":
        counts = data.get("by_status", {})
        return {"counts": [(status, counts.get(status, 0)) for status in ORDER_STATUSES], "total": data.get("total", 0)}
    if key == "revenue":
        rows = data.get("items", [])
        currency = next((r["revenue"].get("currency") for r in rows if r.get("revenue")), None)
        return {"amount": sum((_amount(r.get("revenue")) for r in rows), Decimal(0)), "currency": currency}
    if key == "aging":
        return _aging(viewer, data)
    if key == "reviews":
        items = data.get("items", [])
        # The queue is oldest first; the card names the newest few (what arrived since one last looked).
        newest = items[-REVIEWS_SHOWN:][::-1]
        return {"count": len(items), "more": bool(data.get("next_cursor")), "newest": newest}
    if key == "tickets":
        return {"items": data.get("items", [])}
    return data


def _aging(viewer: Viewer, report: dict[str, Any]) -> dict[str, Any]:
    currency = report.get("currency")
    totals = report.get("totals", {})
    buckets = report.get("buckets", list(AGING_BUCKETS))
    labels = [viewer.text(AGING_BUCKETS.get(b, b)) for b in buckets]
    amounts = [_amount(totals.get(b)) for b in buckets]
    chart = {
        "type": "bar",
        "data": {
            "labels": labels,
            "datasets": [
                {
                    "label": viewer.text(N_("Open receivables (%(currency)s)")) % {"currency": currency or ""},
                    "data": [float(a) for a in amounts],
                    "backgroundColor": ["#17652f", "#0b5cad", "#7a4d00", "#a4161a", "#5c0a0c"],
                }
            ],
        },
        "options": {
            "animation": False,
            "responsive": True,
            "aspectRatio": 2,
            "plugins": {"legend": {"display": False}},
            "scales": {"y": {"beginAtZero": True}},
        },
    }
    return {
        "rows": list(zip(labels, amounts, strict=True)),
        "currency": currency,
        "total": _amount(report.get("total")),
        "chart": chart,
        "at": report.get("at"),
    }
