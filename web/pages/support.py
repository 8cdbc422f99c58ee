"""Support pages: the ticket queue with SLA clocks, one ticket's conversation, a new ticket."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote as quote_path

import babel.dates
from fastapi import Path, Query, Request
from starlette.responses import Response

from web.core import ConsoleRouter, Refused, Viewer, action, form_of, page
from web.i18n import N_, parse_instant
from web.nav import section

router = ConsoleRouter()

TICKETS = section("tickets", "/console/tickets", N_("Tickets"), api="/api/v1/sales/tickets")
PAGE_SIZE = 25
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Limit = Annotated[int, Query(ge=1, le=200)]

STATUSES = (("open", N_("open")), ("pending", N_("pending")), ("resolved", N_("resolved")), ("closed", N_("closed")))
PRIORITIES = (("low", N_("low")), ("normal", N_("normal")), ("high", N_("high")), ("urgent", N_("urgent")))
CHANNELS = (("email", N_("email")), ("web", N_("web")), ("phone", N_("phone")), ("chat", N_("chat")))
# The API's staff moves (services/sales/domain/sla.py STAFF_MOVES): only these buttons are offered.
MOVES = {"open": ("pending", "resolved", "closed"), "pending": ("resolved", "closed"), "resolved": ("closed",)}
MOVE_LABELS = {"pending": N_("Set pending"), "resolved": N_("Resolve"), "closed": N_("Close")}
AUTHORS = {"agent": N_("Agent"), "customer": N_("Customer")}


def _texts(viewer: Viewer, pairs: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    return [(value, viewer.text(label)) for value, label in pairs]


def sla_clock(viewer: Viewer, ticket: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The clock that runs: which deadline, when (the user's zone), and the time left or past it.

    First response until an agent answered, then resolution; none once resolved or closed.
    """
    now = now or datetime.now(UTC)
    status = ticket.get("status")
    if status in ("resolved", "closed"):
        return {"state": "stopped", "text": viewer.text(N_("Clock stopped")), "due": None, "which": None}
    if not ticket.get("first_responded_at"):
        which, due = viewer.text(N_("First response")), ticket.get("first_response_due")
    else:
        which, due = viewer.text(N_("Resolution")), ticket.get("resolution_due")
    moment = parse_instant(due)
    locale = viewer.formats.locale
    if moment is None:
        return {"state": "unknown", "text": "–", "due": None, "which": which}
    span = babel.dates.format_timedelta(abs(moment - now), threshold=1.5, locale=locale)
    if moment <= now or ticket.get("breached"):
        state = "breached"
        if moment <= now:
            text = viewer.text(N_("Breached %(time)s ago")) % {"time": span}
        else:
            text = viewer.text(N_("Breached earlier; %(time)s left")) % {"time": span}
    else:
        state, text = "running", viewer.text(N_("%(time)s left")) % {"time": span}
    if status == "pending" and ticket.get("first_responded_at"):
        text += " · " + viewer.text(N_("paused while pending"))
    return {"state": state, "text": text, "due": due, "which": which}


def _extra(viewer: Viewer) -> dict[str, Any]:
    labels = dict(STATUSES) | dict(PRIORITIES) | dict(CHANNELS) | AUTHORS
    return {
        "label": lambda value: viewer.text(labels[value]) if value in labels else str(value or "–"),
        "clock": lambda ticket: sla_clock(viewer, ticket),
    }


@router.get(TICKETS.path)
async def tickets_list(
    viewer: Annotated[Viewer, page(*TICKETS.roles)],
    status: str | None = None,
    breached: str | None = None,
    account: str | None = None,
    cursor: str | None = None,
    limit: Limit = PAGE_SIZE,
) -> Response:
    """The queue in the API's order: breached first, then the nearest running deadline."""
    listing = await viewer.get(
        "/api/v1/sales/tickets",
        status=status or None,
        breached=breached or None,
        account_id=account or None,
        cursor=cursor,
        limit=limit,
    )
    cursor_next = listing.get("next_cursor")
    return viewer.render(
        "support/tickets.html",
        {
            "listing": listing,
            "next_url": viewer.url_with(cursor=cursor_next) if cursor_next else None,
            "statuses": _texts(viewer, STATUSES),
            "breached_options": [
                ("", viewer.text(N_("Any"))),
                ("true", viewer.text(N_("Breached"))),
                ("false", viewer.text(N_("Not breached"))),
            ],
            "values": {"status": status or "", "breached": breached or "", "account": account or ""},
            **_extra(viewer),
        },
        partial="support/_tickets_results.html",
    )


def _new_form(viewer: Viewer, values: dict[str, str], errors: dict[str, str], problem: str | None) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "problem": problem,
        "priorities": _texts(viewer, PRIORITIES),
        "channels": _texts(viewer, CHANNELS),
    }


@router.get(TICKETS.path + "/new")
async def ticket_new(
    viewer: Annotated[Viewer, page(*TICKETS.roles)],
    account: Annotated[str | None, Query(max_length=64)] = None,
    order: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    values = {"account_id": account or "", "order_id": order or "", "priority": "normal", "channel": "phone"}
    return viewer.render("support/ticket_new.html", _new_form(viewer, values, {}, None))


@router.post(TICKETS.path)
async def ticket_create(request: Request, viewer: Annotated[Viewer, action(*TICKETS.roles)]) -> Response:
    form = await form_of(request)
    body = {name: form.get(name, "") for name in ("account_id", "subject", "body", "channel", "priority")}
    if form.get("order_id"):
        body["order_id"] = form["order_id"]
    try:
        ticket = await viewer.send("POST", "/api/v1/sales/tickets", json=body)
    except Refused as refused:
        context = _new_form(viewer, form, refused.fields(), refused.detail)
        return viewer.render("support/ticket_new.html", context, status=refused.answer.status)
    return viewer.redirect(f"{TICKETS.path}/{ticket['id']}", flash=N_("The ticket was opened."))


async def _ticket_page(
    viewer: Viewer,
    ticket_id: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    ticket = await viewer.get(f"/api/v1/sales/tickets/{quote_path(ticket_id, safe='')}")
    moves = [(move, viewer.text(MOVE_LABELS[move])) for move in MOVES.get(ticket["status"], ())]
    context = {
        "ticket": ticket,
        "moves": moves,
        "values": values or {},
        "errors": errors or {},
        "problem": problem,
        **_extra(viewer),
    }
    return viewer.render("support/ticket.html", context, status=status)


@router.get(TICKETS.path + "/{ticket_id}")
async def ticket_page(ticket_id: Id, viewer: Annotated[Viewer, page(*TICKETS.roles)]) -> Response:
    return await _ticket_page(viewer, ticket_id)


@router.post(TICKETS.path + "/{ticket_id}/reply")
async def ticket_reply(ticket_id: Id, request: Request, viewer: Annotated[Viewer, action(*TICKETS.roles)]) -> Response:
    form = await form_of(request)
    path = f"/api/v1/sales/tickets/{quote_path(ticket_id, safe='')}/messages"
    try:
        await viewer.send("POST", path, json={"body": form.get("body", ""), "author": "agent"})
    except Refused as refused:
        return await _ticket_page(
            viewer,
            ticket_id,
            values=form,
            errors=refused.fields(),
            problem=refused.detail,
            status=refused.answer.status,
        )
    return viewer.redirect(f"{TICKETS.path}/{ticket_id}", flash=N_("Your reply was sent."))


@router.post(TICKETS.path + "/{ticket_id}/status")
async def ticket_status(ticket_id: Id, request: Request, viewer: Annotated[Viewer, action(*TICKETS.roles)]) -> Response:
    form = await form_of(request)
    path = f"/api/v1/sales/tickets/{quote_path(ticket_id, safe='')}/status"
    try:
        await viewer.send("POST", path, json={"status": form.get("status", "")})
    except Refused as refused:
        return await _ticket_page(viewer, ticket_id, problem=refused.detail, status=refused.answer.status)
    return viewer.redirect(f"{TICKETS.path}/{ticket_id}", flash=N_("The ticket's status was changed."))
