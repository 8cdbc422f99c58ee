"""Procurement: suppliers, purchase orders from draft to sent, goods received and their quality control."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Path, Query, Request
from starlette.responses import Response

from web.core import ConsoleRouter, Refused, Viewer, action, form_of, page
from web.i18n import N_
from web.nav import api_roles, section

router = ConsoleRouter()
SUPPLIERS = section("suppliers", "/console/procurement/suppliers", N_("Suppliers"), api="/api/v1/procurement/suppliers")
ORDERS = section(
    "purchase-orders",
    "/console/procurement/purchase-orders",
    N_("Purchase orders"),
    api="/api/v1/procurement/purchase-orders",
)
API = "/api/v1/procurement"
PAGE_SIZE = 25
NEW_ORDER_LINES = 3  # empty rows of the new-order form; rows left empty are not sent

BUYERS = api_roles(f"{API}/purchase-orders", "POST")
GOODS_IN = api_roles(f"{API}/purchase-orders/{{purchase_order_id}}/receipts", "POST")
INSPECTORS = api_roles(f"{API}/inspections/{{inspection_id}}/result", "POST")

SUPPLIER_STATUSES = {"pending": N_("Pending"), "approved": N_("Approved"), "blocked": N_("Blocked")}
ORDER_STATUSES = {
    "draft": N_("Draft"),
    "sent": N_("Sent"),
    "partially_received": N_("Partially received"),
    "received": N_("Received"),
    "closed": N_("Closed"),
    "cancelled": N_("Cancelled"),
}
PAYMENT_TERMS = ("prepaid", "net_15", "net_30", "net_45", "net_60", "net_90")
INCOTERMS = ("EXW", "FCA", "CPT", "CIP", "DAP", "DPU", "DDP", "FAS", "FOB", "CFR", "CIF")

Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,40}$")]
Cursor = Annotated[str | None, Query(max_length=200)]
SkuFilter = Annotated[str | None, Query(max_length=64)]
LINE_FIELD = re.compile(r"^lines\.(\d+)\.([a-z_]+)")


def _line_errors(errors: dict[str, str], rows: list[int]) -> dict[str, str]:
    """The API names `lines.<n>.<field>` of the lines it was sent; the form's rows are numbered
    with the empty ones, so `n` is mapped back to the row (and `unit_price.amount` to `unit_price`)."""
    mapped = dict(errors)
    for name, message in errors.items():
        found = LINE_FIELD.match(name)
        if found and int(found.group(1)) < len(rows):
            mapped.setdefault(f"lines.{rows[int(found.group(1))]}.{found.group(2)}", message)
    return mapped


def _next_url(path: str, filters: dict[str, str], cursor: str | None) -> str | None:
    """The next page's address: these filters and the API's cursor."""
    if not cursor:
        return None
    return f"{path}?{urlencode({**{k: v for k, v in filters.items() if v}, 'cursor': cursor})}"


# -- suppliers -------------------------------------------------------------------------------------


async def _suppliers_page(
    viewer: Viewer, filters: dict[str, str], cursor: str | None, extra: dict[str, Any] | None = None, status: int = 200
) -> Response:
    listing = await viewer.get(
        f"{API}/suppliers",
        status=filters["status"] or None,
        country=filters["country"] or None,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    context = {
        "listing": listing,
        "filters": filters,
        "next_url": _next_url(SUPPLIERS.path, filters, listing.get("next_cursor")),
        "statuses": SUPPLIER_STATUSES,
        "payment_terms": PAYMENT_TERMS,
        "can_create": viewer.allowed(BUYERS),
        "problem": None,
        **(extra or {}),
    }
    return viewer.render("procurement/suppliers.html", context, status=status)


@router.get(SUPPLIERS.path)
async def suppliers(
    viewer: Annotated[Viewer, page(*SUPPLIERS.roles)],
    status: Annotated[Literal["pending", "approved", "blocked", ""] | None, Query()] = None,
    country: Annotated[str | None, Query(max_length=2)] = None,
    cursor: Cursor = None,
) -> Response:
    return await _suppliers_page(viewer, {"status": status or "", "country": (country or "").upper()}, cursor)


@router.post(SUPPLIERS.path)
async def create_supplier(request: Request, viewer: Annotated[Viewer, action(*BUYERS)]) -> Response:
    form = await form_of(request)
    body = {
        "name": form.get("name", ""),
        "country": form.get("country", "").upper(),
        "currency": form.get("currency", "").upper(),
        "email": form.get("email", ""),
        "vat_id": form.get("vat_id") or None,
        "lead_time_days": form.get("lead_time_days", ""),
        "payment_terms": form.get("payment_terms", ""),
    }
    try:
        created = await viewer.send("POST", f"{API}/suppliers", json=body)
    except Refused as refused:
        extra = {"errors": refused.fields(), "values": form, "problem": refused.detail}
        return await _suppliers_page(viewer, {"status": "", "country": ""}, None, extra, status=refused.answer.status)
    return viewer.redirect(
        SUPPLIERS.path,
        flash=N_("Supplier %(name)s registered; compliance screens it before it is approved."),
        name=created["name"],
    )


# -- purchase orders -------------------------------------------------------------------------------


async def _orders_page(
    viewer: Viewer, filters: dict[str, str], cursor: str | None, extra: dict[str, Any] | None = None, status: int = 200
) -> Response:
    listing, known = await asyncio.gather(
        viewer.get(
            f"{API}/purchase-orders",
            status=filters["status"] or None,
            supplier_id=filters["supplier_id"] or None,
            sku=filters["sku"] or None,
            cursor=cursor,
            limit=PAGE_SIZE,
        ),
        viewer.get(f"{API}/suppliers", limit=200),
    )
    context = {
        "listing": listing,
        "suppliers": known["items"],
        "supplier_names": {s["id"]: s["name"] for s in known["items"]},
        "filters": filters,
        "next_url": _next_url(ORDERS.path, filters, listing.get("next_cursor")),
        "statuses": ORDER_STATUSES,
        "supplier_statuses": SUPPLIER_STATUSES,
        "incoterms": INCOTERMS,
        "line_rows": range(NEW_ORDER_LINES),
        "can_create": viewer.allowed(BUYERS),
        "problem": None,
        **(extra or {}),
    }
    return viewer.render("procurement/purchase_orders.html", context, status=status)


@router.get(ORDERS.path)
async def purchase_orders(
    viewer: Annotated[Viewer, page(*ORDERS.roles)],
    status: Annotated[
        Literal["draft", "sent", "partially_received", "received", "closed", "cancelled", ""] | None, Query()
    ] = None,
    supplier_id: Annotated[str | None, Query(max_length=40)] = None,
    sku: SkuFilter = None,
    cursor: Cursor = None,
) -> Response:
    filters = {"status": status or "", "supplier_id": supplier_id or "", "sku": (sku or "").strip()}
    return await _orders_page(viewer, filters, cursor)


@router.post(ORDERS.path)
async def create_purchase_order(request: Request, viewer: Annotated[Viewer, action(*BUYERS)]) -> Response:
    form = await form_of(request)
    currency = form.get("currency", "").upper()
    lines, rows = [], []
    for row in range(NEW_ORDER_LINES):
        sku, quantity, price = (form.get(f"lines.{row}.{k}", "") for k in ("sku", "quantity", "unit_price"))
        if not (sku or quantity or price):
            continue
        line: dict[str, Any] = {"sku": sku, "quantity": quantity}
        if price:
            line["unit_price"] = {"amount": price, "currency": currency}
        lines.append(line)
        rows.append(row)
    body = {
        "supplier_id": form.get("supplier_id", ""),
        "warehouse": form.get("warehouse", ""),
        "currency": currency,
        "incoterm": form.get("incoterm", ""),
        "lines": lines,
    }
    try:
        created = await viewer.send("POST", f"{API}/purchase-orders", json=body)
    except Refused as refused:
        errors = _line_errors(refused.fields(), rows)
        extra = {"errors": errors, "values": form, "problem": refused.detail}
        filters = {"status": "", "supplier_id": "", "sku": ""}
        return await _orders_page(viewer, filters, None, extra, status=refused.answer.status)
    return viewer.redirect(
        f"{ORDERS.path}/{created['id']}", flash=N_("Purchase order %(number)s drafted."), number=created["number"]
    )


async def _order_page(
    viewer: Viewer, order_id: str, extra: dict[str, Any] | None = None, status: int = 200
) -> Response:
    order, inspections = await asyncio.gather(
        viewer.get(f"{API}/purchase-orders/{order_id}"),
        viewer.get(f"{API}/inspections", purchase_order_id=order_id, limit=200)
        if viewer.allowed(INSPECTORS)
        else asyncio.sleep(0, {"items": []}),
    )
    supplier = await viewer.call("GET", f"{API}/suppliers/{order['supplier_id']}")
    context = {
        "order": order,
        "supplier": supplier.json() if supplier.ok else None,
        "inspections": inspections["items"],
        "statuses": ORDER_STATUSES,
        "supplier_statuses": SUPPLIER_STATUSES,
        "can_send": viewer.allowed(BUYERS),
        "can_receive": viewer.allowed(GOODS_IN),
        "can_inspect": viewer.allowed(INSPECTORS),
        "failed": None,
        "problem": None,
        **(extra or {}),
    }
    return viewer.render("procurement/purchase_order.html", context, status=status)


@router.get(ORDERS.path + "/{order_id}")
async def purchase_order(viewer: Annotated[Viewer, page(*ORDERS.roles)], order_id: Id) -> Response:
    return await _order_page(viewer, order_id)


@router.post(ORDERS.path + "/{order_id}/send")
async def send_purchase_order(viewer: Annotated[Viewer, action(*BUYERS)], order_id: Id) -> Response:
    try:
        sent = await viewer.send("POST", f"{API}/purchase-orders/{order_id}/send")
    except Refused as refused:
        extra = {"failed": "send", "errors": refused.fields(), "values": {}, "problem": refused.detail}
        return await _order_page(viewer, order_id, extra, status=refused.answer.status)
    return viewer.redirect(
        f"{ORDERS.path}/{order_id}", flash=N_("Purchase order %(number)s sent to the supplier."), number=sent["number"]
    )


@router.post(ORDERS.path + "/{order_id}/receipts")
async def record_receipt(request: Request, viewer: Annotated[Viewer, action(*GOODS_IN)], order_id: Id) -> Response:
    form = await form_of(request)
    lines, rows = [], []
    for name, value in form.items():
        found = re.fullmatch(r"lines\.(\d+)\.quantity", name)
        if found and value and value != "0":
            row = int(found.group(1))
            lines.append({"sku": form.get(f"lines.{row}.sku", ""), "quantity": value})
            rows.append(row)
    try:
        await viewer.send("POST", f"{API}/purchase-orders/{order_id}/receipts", json={"lines": lines})
    except Refused as refused:
        errors = _line_errors(refused.fields(), rows)
        extra = {"failed": "receipt", "errors": errors, "values": form, "problem": refused.detail}
        return await _order_page(viewer, order_id, extra, status=refused.answer.status)
    return viewer.redirect(
        f"{ORDERS.path}/{order_id}", flash=N_("Receipt recorded: the goods wait for quality control.")
    )


@router.post(ORDERS.path + "/{order_id}/inspections/{inspection_id}")
async def record_inspection(
    request: Request, viewer: Annotated[Viewer, action(*INSPECTORS)], order_id: Id, inspection_id: Id
) -> Response:
    form = await form_of(request)
    lines, rows = [], []
    for name, sku in form.items():
        found = re.fullmatch(r"lines\.(\d+)\.sku", name)
        if found:
            row = int(found.group(1))
            line = {
                "sku": sku,
                "accepted": form.get(f"lines.{row}.accepted", ""),
                "rejected": form.get(f"lines.{row}.rejected", ""),
                "notes": form.get(f"lines.{row}.notes") or None,
            }
            lines.append(line)
            rows.append(row)
    try:
        await viewer.send("POST", f"{API}/inspections/{inspection_id}/result", json={"lines": lines})
    except Refused as refused:
        errors = _line_errors(refused.fields(), rows)
        extra = {"failed": inspection_id, "errors": errors, "values": form, "problem": refused.detail}
        return await _order_page(viewer, order_id, extra, status=refused.answer.status)
    return viewer.redirect(
        f"{ORDERS.path}/{order_id}",
        flash=N_("Inspection recorded: accepted units are in stock, rejected ones go back to the supplier."),
    )
