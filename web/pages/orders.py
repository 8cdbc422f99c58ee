"""Sales pages: orders, an order's 360 with its live timeline, inquiries and quotes."""

from __future__ import annotations

import codecs
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import quote as quote_path

import orjson
from fastapi import Header, Path, Query, Request
from starlette.responses import Response, StreamingResponse

from web.core import SECURITY_HEADERS, ConsoleRouter, NotAllowed, PageNotFound, Refused, Viewer, action, form_of, page
from web.i18n import N_
from web.nav import section

router = ConsoleRouter()

ORDERS = section("orders", "/console/orders", N_("Orders"), api="/api/v1/sales/orders")
INQUIRIES = section("inquiries", "/console/inquiries", N_("Inquiries"), api="/api/v1/sales/inquiries")
QUOTES = section("quotes", "/console/quotes", N_("Quotes"), api="/api/v1/sales/quotes")
# The order 360 is the gateway's own API (gateway/overview.py): these roles may read it.
OVERVIEW_ROLES = ("compliance", "finance", "logistics", "sales")
SALES = QUOTES.roles

PAGE_SIZE = 25
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Limit = Annotated[int, Query(ge=1, le=200)]
Seq = Annotated[int | None, Query(ge=0, le=10**18)]
LINE_ROWS = 3

ORDER_STATUSES = (
    ("placed", N_("placed")),
    ("on_hold", N_("on hold")),
    ("rejected", N_("rejected")),
    ("backordered", N_("backordered")),
    ("confirmed", N_("confirmed")),
    ("ready_to_ship", N_("ready to ship")),
    ("shipped", N_("shipped")),
    ("delivered", N_("delivered")),
    ("completed", N_("completed")),
    ("cancelled", N_("cancelled")),
)
# The API's rule (services/sales/domain/rules.py CANCELLABLE): the button is offered only then.
CANCELLABLE = frozenset({"placed", "on_hold", "backordered", "confirmed", "ready_to_ship"})
INQUIRY_STATUSES = (("open", N_("open")), ("quoted", N_("quoted")), ("won", N_("won")), ("lost", N_("lost")))
QUOTE_STATUSES = {"issued": N_("issued"), "accepted": N_("accepted"), "expired": N_("expired")}
INCOTERMS = ("EXW", "FCA", "CPT", "CIP", "DAP", "DPU", "DDP", "FAS", "FOB", "CFR", "CIF")
MODES = (("sea", N_("sea")), ("air", N_("air")), ("courier", N_("courier")), ("road", N_("road")))
CARRIERS = (
    ("dhl-express", "DHL Express"),
    ("maersk", "Maersk"),
    ("lufthansa-cargo", "Lufthansa Cargo"),
    ("db-schenker", "DB Schenker"),
)
# What the timeline calls the events it knows; any other shows its CloudEvent type.
EVENT_LABELS = {
    "sales.quote.issued.v1": N_("Quote issued"),
    "sales.order.placed.v1": N_("Order placed"),
    "sales.order.status_changed.v1": N_("Order status changed"),
    "sales.order.cancelled.v1": N_("Order cancelled"),
    "compliance.screening.completed.v1": N_("Screened by compliance"),
    "compliance.documents.required.v1": N_("Trade documents required"),
    "compliance.licence.recorded.v1": N_("Export licence recorded"),
    "compliance.order.cleared.v1": N_("Cleared by compliance"),
    "compliance.order.held.v1": N_("Held by compliance"),
    "compliance.order.rejected.v1": N_("Rejected by compliance"),
    "logistics.stock.reserved.v1": N_("Stock reserved"),
    "logistics.stock.short.v1": N_("Stock short: back-ordered"),
    "logistics.shipment.booked.v1": N_("Shipment booked"),
    "logistics.shipment.tracked.v1": N_("Tracking milestone"),
    "logistics.shipment.dispatched.v1": N_("Shipment dispatched"),
    "logistics.shipment.delivered.v1": N_("Shipment delivered"),
    "logistics.shipment.cancelled.v1": N_("Shipment cancelled"),
    "logistics.stock.released.v1": N_("Stock released"),
    "logistics.return.requested.v1": N_("Return requested"),
    "logistics.return.inspected.v1": N_("Return inspected"),
    "finance.credit_note.issued.v1": N_("Credit note issued"),
    "finance.letter_of_credit.recorded.v1": N_("Letter of credit recorded"),
    "finance.invoice.issued.v1": N_("Invoice issued"),
    "finance.payment.received.v1": N_("Payment received"),
    "finance.invoice.paid.v1": N_("Invoice paid"),
    "finance.invoice.voided.v1": N_("Invoice voided"),
}
DEPARTMENT_NAMES = {
    "sales": N_("Sales"),
    "compliance": N_("Compliance"),
    "finance": N_("Finance"),
    "logistics": N_("Logistics"),
    "gateway": N_("The timeline"),
}


def _texts(viewer: Viewer, pairs: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    return [(value, viewer.text(label)) for value, label in pairs]


def _next_url(viewer: Viewer, listing: dict[str, Any]) -> str | None:
    cursor = listing.get("next_cursor")
    return viewer.url_with(cursor=cursor) if cursor else None


def _status_label(viewer: Viewer, status: str | None) -> str:
    labels = dict(ORDER_STATUSES) | dict(INQUIRY_STATUSES) | QUOTE_STATUSES
    return viewer.text(labels[status]) if status in labels else str(status or "–")


def _extra(viewer: Viewer) -> dict[str, Any]:
    """What every template of this area uses besides the foundation's context."""
    return {"status_label": lambda s: _status_label(viewer, s)}


# -- orders ------------------------------------------------------------------------------------------


@router.get(ORDERS.path)
async def orders_list(
    viewer: Annotated[Viewer, page(*ORDERS.roles)],
    status: str | None = None,
    account: str | None = None,
    q: Annotated[str | None, Query(max_length=64)] = None,
    cursor: str | None = None,
    limit: Limit = PAGE_SIZE,
) -> Response:
    """Filters are the API's (status, account); the search box finds one order by its id."""
    found = (q or "").strip()
    if found:
        answer = await viewer.call("GET", f"/api/v1/sales/orders/{quote_path(found, safe='')}")
        if answer.status == 403:
            raise NotAllowed(N_("Your roles do not allow this."))
        listing = {"items": [answer.json()] if answer.ok else [], "next_cursor": None}
    else:
        listing = await viewer.get(
            "/api/v1/sales/orders", status=status or None, account_id=account or None, cursor=cursor, limit=limit
        )
    return viewer.render(
        "orders/orders.html",
        {
            "listing": listing,
            "next_url": _next_url(viewer, listing),
            "statuses": _texts(viewer, ORDER_STATUSES),
            "values": {"status": status or "", "account": account or "", "q": found},
            **_extra(viewer),
        },
        partial="orders/_orders_results.html",
    )


def _unavailable(section: Any) -> str | None:
    """The department of a section the overview could not fill, else None."""
    if isinstance(section, dict) and section.get("status") == "unavailable" and "department" in section:
        return str(section["department"])
    return None


def _event_view(viewer: Viewer, seq: int, event: dict[str, Any]) -> dict[str, Any]:
    kind = str(event.get("type") or "")
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    label = EVENT_LABELS.get(kind)
    return {
        "seq": seq,
        "type": kind,
        "label": viewer.text(label) if label else kind,
        "time": event.get("time"),
        "source": event.get("source"),
        "status": data.get("status") if kind == "sales.order.status_changed.v1" else None,
        "reason": data.get("reason") if isinstance(data.get("reason"), str) else None,
    }


async def _overview_context(viewer: Viewer, order_id: str) -> dict[str, Any]:
    overview = await viewer.get(f"/api/v1/orders/{quote_path(order_id, safe='')}/overview")
    down = {
        name: _unavailable(overview.get(name))
        for name in ("order", "compliance", "invoices", "payments", "shipments", "timeline")
    }
    timeline = overview.get("timeline") if not down["timeline"] else []
    events = [_event_view(viewer, int(e["seq"]), e.get("event") or {}) for e in timeline or []]
    order = overview.get("order") if not down["order"] else None
    return {
        "order_id": order_id,
        "order": order,
        "overview": overview,
        "down": {k: viewer.text(DEPARTMENT_NAMES.get(v, v)) if v else None for k, v in down.items()},
        "events": events,
        "last_seq": max((e["seq"] for e in events), default=0),
        "cancellable": bool(order) and order.get("status") in CANCELLABLE and viewer.allowed(SALES),
        **_extra(viewer),
    }


@router.get(ORDERS.path + "/{order_id}")
async def order_360(order_id: Id, viewer: Annotated[Viewer, page(*OVERVIEW_ROLES)]) -> Response:
    context = await _overview_context(viewer, order_id)
    return viewer.render("orders/order.html", context)


@router.get(ORDERS.path + "/{order_id}/summary")
async def order_summary(order_id: Id, viewer: Annotated[Viewer, page(*OVERVIEW_ROLES)]) -> Response:
    """The 360 without its timeline: what the page fetches again when an event arrives."""
    context = await _overview_context(viewer, order_id)
    return viewer.render("orders/_order_summary.html", context)


@router.post(ORDERS.path + "/{order_id}/cancel")
async def order_cancel(order_id: Id, request: Request, viewer: Annotated[Viewer, action(*SALES)]) -> Response:
    form = await form_of(request)
    body = {"reason": form["reason"]} if form.get("reason") else None
    try:
        await viewer.send("POST", f"/api/v1/sales/orders/{quote_path(order_id, safe='')}/cancel", json=body)
    except Refused as refused:
        context = await _overview_context(viewer, order_id)
        context.update(problem=refused.detail, errors=refused.fields(), values=form)
        return viewer.render("orders/order.html", context, status=refused.answer.status)
    return viewer.redirect(f"{ORDERS.path}/{order_id}", flash=N_("The order was cancelled."))


_LAST_EVENT_ID = re.compile(r"^\d{1,18}$")


def _sse_blocks(buffer: str) -> tuple[list[str], str]:
    """Complete SSE messages in `buffer` (blank-line separated) and the incomplete rest."""
    text = buffer.replace("\r\n", "\n").replace("\r", "\n")
    *blocks, rest = text.split("\n\n")
    return blocks, rest


def _sse_fields(block: str) -> tuple[str | None, str]:
    """The `id` and the joined `data` of one SSE message (comments and other fields ignored)."""
    seq, data = None, []
    for line in block.split("\n"):
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id":
            seq = value
        elif name == "data":
            data.append(value)
    return seq, "\n".join(data)


@router.get(ORDERS.path + "/{order_id}/timeline")
async def order_timeline(
    order_id: Id,
    viewer: Annotated[Viewer, page(*OVERVIEW_ROLES)],
    after: Seq = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=18)] = None,
) -> Response:
    """The order's new events as SSE: each an `<li>` (event `timeline`, id its seq).

    Starts after the last event the page showed (`after`); a browser that reconnects sends
    Last-Event-ID, which wins, so nothing is lost or shown twice.
    """
    start = last_event_id if last_event_id and _LAST_EVENT_ID.match(last_event_id) else str(after or 0)
    template = viewer.console.templates.get_template("orders/_event.html")
    stack = contextlib.AsyncExitStack()
    status, _, chunks = await stack.enter_async_context(
        viewer.stream("/api/v1/events/stream", headers={"Last-Event-ID": start}, correlation_id=order_id)
    )
    if status != 200:
        await stack.aclose()
        if status == 403:
            raise NotAllowed(N_("Your roles do not allow this."))
        raise PageNotFound(N_("Nothing was found here."))

    async def messages() -> AsyncIterator[bytes]:
        buffer = ""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")  # a chunk may end inside a character
        try:
            yield b"retry: 3000\n\n"
            async for chunk in chunks:
                blocks, buffer = _sse_blocks(buffer + decoder.decode(chunk))
                for block in blocks:
                    seq, data = _sse_fields(block)
                    if not data or seq is None or not _LAST_EVENT_ID.match(seq):
                        yield b": keep-alive\n\n"
                        continue
                    try:
                        event = orjson.loads(data)
                    except orjson.JSONDecodeError:
                        continue
                    html = template.render(
                        viewer.context({"event": _event_view(viewer, int(seq), event), **_extra(viewer)})
                    )
                    lines = "".join(f"data: {line}\n" for line in html.strip().split("\n"))
                    yield f"id: {seq}\nevent: timeline\n{lines}\n".encode()
        finally:
            await stack.aclose()

    headers = {**SECURITY_HEADERS, "X-Accel-Buffering": "no"}
    return StreamingResponse(messages(), media_type="text/event-stream", headers=headers)


# -- inquiries ---------------------------------------------------------------------------------------


@router.get(INQUIRIES.path)
async def inquiries_list(
    viewer: Annotated[Viewer, page(*INQUIRIES.roles)],
    status: str | None = None,
    cursor: str | None = None,
    limit: Limit = PAGE_SIZE,
) -> Response:
    listing = await viewer.get("/api/v1/sales/inquiries", status=status or None, cursor=cursor, limit=limit)
    return viewer.render(
        "orders/inquiries.html",
        {
            "listing": listing,
            "next_url": _next_url(viewer, listing),
            "statuses": _texts(viewer, INQUIRY_STATUSES),
            "values": {"status": status or ""},
            **_extra(viewer),
        },
        partial="orders/_inquiries_results.html",
    )


@router.get(INQUIRIES.path + "/{inquiry_id}")
async def inquiry_page(inquiry_id: Id, viewer: Annotated[Viewer, page(*INQUIRIES.roles)]) -> Response:
    inquiry = await viewer.get(f"/api/v1/sales/inquiries/{quote_path(inquiry_id, safe='')}")
    return viewer.render("orders/inquiry.html", {"inquiry": inquiry, **_extra(viewer)})


# -- quotes ------------------------------------------------------------------------------------------


@router.get(QUOTES.path)
async def quotes_list(
    viewer: Annotated[Viewer, page(*QUOTES.roles)],
    account: str | None = None,
    cursor: str | None = None,
    limit: Limit = PAGE_SIZE,
) -> Response:
    listing = await viewer.get("/api/v1/sales/quotes", account_id=account or None, cursor=cursor, limit=limit)
    return viewer.render(
        "orders/quotes.html",
        {
            "listing": listing,
            "next_url": _next_url(viewer, listing),
            "values": {"account": account or ""},
            **_extra(viewer),
        },
        partial="orders/_quotes_results.html",
    )


def _quote_form(viewer: Viewer, values: dict[str, str], errors: dict[str, str], problem: str | None) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "problem": problem,
        "rows": range(LINE_ROWS),
        "incoterms": [("", viewer.text(N_("The account's sales frame")))] + [(t, t) for t in INCOTERMS],
        "modes": [("", viewer.text(N_("From the Incoterm and route"))), *_texts(viewer, MODES)],
        "carriers": [("", viewer.text(N_("The cheapest for the mode"))), *list(CARRIERS)],
    }


@router.get(QUOTES.path + "/new")
async def quote_new(
    viewer: Annotated[Viewer, page(*QUOTES.roles)],
    inquiry: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")] = None,
    account: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """An empty quote form, or one prefilled from an inquiry (its terms and lines)."""
    values: dict[str, str] = {"account_id": account or ""}
    if inquiry:
        asked = await viewer.get(f"/api/v1/sales/inquiries/{quote_path(inquiry, safe='')}")
        values.update(
            inquiry_id=asked["id"],
            incoterm=asked.get("incoterm") or "",
            destination_country=asked.get("destination_country") or asked.get("country") or "",
        )
        for i, line in enumerate(asked.get("lines", [])[:LINE_ROWS]):
            values[f"lines.{i}.sku"] = str(line["sku"])
            values[f"lines.{i}.quantity"] = str(line["quantity"])
    return viewer.render("orders/quote_new.html", _quote_form(viewer, values, {}, None))


@router.post(QUOTES.path)
async def quote_create(request: Request, viewer: Annotated[Viewer, action(*QUOTES.roles)]) -> Response:
    form = await form_of(request)
    body: dict[str, Any] = {
        "account_id": form.get("account_id", ""),
        "currency": form.get("currency", "").upper(),
        "named_place": form.get("named_place", ""),
        "destination_country": form.get("destination_country", "").upper(),
    }
    for name in ("incoterm", "mode", "carrier", "inquiry_id"):
        if form.get(name):
            body[name] = form[name].upper() if name == "incoterm" else form[name]
    rows = [i for i in range(LINE_ROWS) if form.get(f"lines.{i}.sku") or form.get(f"lines.{i}.quantity")]
    if rows or not form.get("inquiry_id"):
        body["lines"] = [
            {"sku": form.get(f"lines.{i}.sku", ""), "quantity": form.get(f"lines.{i}.quantity", "")} for i in rows
        ]
    try:
        quote = await viewer.send("POST", "/api/v1/sales/quotes", json=body)
    except Refused as refused:
        errors = _line_errors(refused.fields(), rows)
        if not body.get("lines") and "lines" in errors:
            errors["lines.0.sku"] = errors["lines"]
        return viewer.render(
            "orders/quote_new.html", _quote_form(viewer, form, errors, refused.detail), status=refused.answer.status
        )
    return viewer.redirect(f"{QUOTES.path}/{quote['id']}", flash=N_("The quote was issued."))


def _line_errors(errors: dict[str, str], rows: list[int]) -> dict[str, str]:
    """The API numbers the lines it was sent; the form's rows may have gaps: name the form's row."""
    found: dict[str, str] = {}
    for name, message in errors.items():
        parts = name.split(".")
        if len(parts) >= 2 and parts[0] == "lines" and parts[1].isdigit() and int(parts[1]) < len(rows):
            parts[1] = str(rows[int(parts[1])])
            if len(parts) == 2:  # the whole line: shown at its sku
                parts.append("sku")
        found[".".join(parts)] = message
    return found


@router.get(QUOTES.path + "/{quote_id}")
async def quote_page(quote_id: Id, viewer: Annotated[Viewer, page(*QUOTES.roles)]) -> Response:
    quote = await viewer.get(f"/api/v1/sales/quotes/{quote_path(quote_id, safe='')}")
    return viewer.render("orders/quote.html", {"quote": quote, "problem": None, **_extra(viewer)})


@router.post(QUOTES.path + "/{quote_id}/accept")
async def quote_accept(quote_id: Id, viewer: Annotated[Viewer, action(*QUOTES.roles)]) -> Response:
    path = f"/api/v1/sales/quotes/{quote_path(quote_id, safe='')}"
    try:
        order = await viewer.send("POST", path + "/accept")
    except Refused as refused:
        quote = await viewer.get(path)
        return viewer.render(
            "orders/quote.html",
            {"quote": quote, "problem": refused.detail, **_extra(viewer)},
            status=refused.answer.status,
        )
    return viewer.redirect(f"{ORDERS.path}/{order['id']}", flash=N_("The quote was accepted: the order is placed."))
