"""Logistics: stock by warehouse and SKU, shipments with their documents, and the milestones staff record."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request
from starlette.responses import Response

from web.core import ConsoleProblem, ConsoleRouter, Refused, Viewer, action, download, form_of, page
from web.i18n import N_
from web.nav import api_roles, section

router = ConsoleRouter()
STOCK = section("stock", "/console/logistics/stock", N_("Stock"), api="/api/v1/logistics/stock/{sku}")
SHIPMENTS = section("shipments", "/console/logistics/shipments", N_("Shipments"), api="/api/v1/logistics/shipments")
API = "/api/v1/logistics"
PAGE_SIZE = 20
# Shipments have no status filter in the API: the console filters each page it reads, so it reads big ones.
SHIPMENT_PAGE = 100
SKU = r"^[A-Za-z0-9._-]{1,64}$"


class DocumentNotReady(ConsoleProblem):
    status = 409
    title = N_("The document is not ready")


TRACKERS = api_roles(f"{API}/shipments/{{shipment_id}}/tracking", "POST")
ShipmentId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Cursor = Annotated[str | None, Query(max_length=200)]
MILESTONES = {
    "picked_up": N_("Picked up (dispatched)"),
    "in_transit": N_("In transit"),
    "customs_cleared": N_("Customs cleared"),
    "out_for_delivery": N_("Out for delivery"),
    "delivered": N_("Delivered"),
    "exception": N_("Exception"),
}
SHIPMENT_STATUSES = {
    "booked": N_("Booked"),
    "in_transit": N_("In transit"),
    "delivered": N_("Delivered"),
    "cancelled": N_("Cancelled"),
}


# -- stock -----------------------------------------------------------------------------------------


async def _stock_of(viewer: Viewer, sku: str) -> dict[str, Any] | None:
    """A SKU's stock, or None when it was never received (the API answers 404)."""
    answer = await viewer.call("GET", f"{API}/stock/{sku}")
    if answer.status == 404:
        return None
    if not answer.ok:
        return await viewer.get(f"{API}/stock/{sku}")  # the same refusal, as the page it becomes
    return answer.json()


@router.get(STOCK.path)
async def stock(
    viewer: Annotated[Viewer, page(*STOCK.roles)],
    sku: Annotated[str | None, Query(max_length=64)] = None,
    warehouse: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None,
) -> Response:
    sku = (sku or "").strip()
    if sku and not re.match(SKU, sku):
        raise ConsoleProblem(N_("The value of %(field)s was not accepted."), detail=sku, field="sku")
    if sku:
        known, found, product = await asyncio.gather(
            viewer.get(f"{API}/warehouses", limit=200),
            _stock_of(viewer, sku),
            viewer.call("GET", f"/api/v1/sales/products/{sku}"),
        )
        names = {sku: product.json().get("name")} if product.ok else {}
        levels = [(sku, found)]
        next_cursor = None
    else:
        known, products = await asyncio.gather(
            viewer.get(f"{API}/warehouses", limit=200),
            viewer.get("/api/v1/sales/products", cursor=cursor, limit=PAGE_SIZE),
        )
        names = {p["sku"]: p.get("name") for p in products["items"]}
        found_all = await asyncio.gather(*(_stock_of(viewer, p["sku"]) for p in products["items"]))
        levels = list(zip(names, found_all, strict=True))
        next_cursor = products.get("next_cursor")
    rows = []
    for item_sku, level in levels:
        per_warehouse = (level or {}).get("warehouses", [])
        if warehouse:
            per_warehouse = [w for w in per_warehouse if w["warehouse"] == warehouse]
        rows.append({"sku": item_sku, "name": names.get(item_sku), "level": level, "warehouses": per_warehouse})
    context = {
        "rows": rows,
        "warehouses": known["items"],
        "filters": {"sku": sku, "warehouse": warehouse or ""},
        "next_cursor": next_cursor,
    }
    return viewer.render("logistics/stock.html", context)


# -- shipments -------------------------------------------------------------------------------------


@router.get(SHIPMENTS.path)
async def shipments(
    viewer: Annotated[Viewer, page(*SHIPMENTS.roles)],
    status: Annotated[Literal["booked", "in_transit", "delivered", "cancelled", ""] | None, Query()] = None,
    order_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None,
) -> Response:
    listing = await viewer.get(f"{API}/shipments", order_id=order_id or None, cursor=cursor, limit=SHIPMENT_PAGE)
    items = [s for s in listing["items"] if not status or s["status"] == status]
    context = {
        "items": items,
        "next_cursor": listing.get("next_cursor"),
        "filters": {"status": status or "", "order_id": order_id or ""},
        "statuses": SHIPMENT_STATUSES,
    }
    return viewer.render("logistics/shipments.html", context)


async def _shipment_page(
    viewer: Viewer, shipment_id: str, extra: dict[str, Any] | None = None, status: int = 200
) -> Response:
    shipment, documents = await asyncio.gather(
        viewer.get(f"{API}/shipments/{shipment_id}"), viewer.get(f"{API}/shipments/{shipment_id}/documents")
    )
    context = {
        "shipment": shipment,
        "documents": documents["items"],
        "can_track": viewer.allowed(TRACKERS),
        "statuses": SHIPMENT_STATUSES,
        "milestones": MILESTONES,
        "failed": None,
        "problem": None,
        **(extra or {}),
    }
    return viewer.render("logistics/shipment.html", context, status=status)


@router.get(SHIPMENTS.path + "/{shipment_id}")
async def shipment(viewer: Annotated[Viewer, page(*SHIPMENTS.roles)], shipment_id: ShipmentId) -> Response:
    return await _shipment_page(viewer, shipment_id)


@router.get(SHIPMENTS.path + "/{shipment_id}/documents/{kind}")
async def document(
    viewer: Annotated[Viewer, page(*SHIPMENTS.roles)],
    shipment_id: ShipmentId,
    kind: Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[a-z_]+$")],
) -> Response:
    """The API's PDF, fetched with the user's token and handed on as a download."""
    answer = await viewer.call("GET", f"{API}/shipments/{shipment_id}/documents/{kind}")
    if answer.status in (403, 404):
        await viewer.get(f"{API}/shipments/{shipment_id}/documents/{kind}")  # the not-allowed or not-found page
    if not answer.ok or not answer.headers.get("content-type", "").startswith("application/pdf"):
        raise DocumentNotReady(
            N_("This document cannot be produced yet."), detail=str(answer.problem.get("detail") or "")
        )
    return download(answer.body, f"{shipment_id}-{kind}.pdf")


@router.post(SHIPMENTS.path + "/{shipment_id}/tracking")
async def track(viewer: Annotated[Viewer, action(*TRACKERS)], shipment_id: ShipmentId, request: Request) -> Response:
    form = await form_of(request)
    which = "dispatch" if form.get("form") == "dispatch" else "milestone"
    body = {"status": form.get("status", ""), "location": form.get("location") or None}
    try:
        answer = await viewer.send("POST", f"{API}/shipments/{shipment_id}/tracking", json=body)
    except Refused as refused:
        message = (
            N_("The shipment cannot be dispatched yet: %(detail)s")
            if refused.answer.status == 409
            else N_("The milestone was not recorded: %(detail)s")
        )
        extra = {
            "failed": which,
            "errors": refused.fields(),
            "values": form,
            "problem": viewer.text(message) % {"detail": refused.detail},
        }
        return await _shipment_page(viewer, shipment_id, extra, status=refused.answer.status)
    return viewer.redirect(
        f"{SHIPMENTS.path}/{shipment_id}",
        flash=N_("Milestone %(milestone)s recorded; the shipment is %(status)s."),
        milestone=viewer.text(MILESTONES.get(answer["status"], answer["status"])),
        status=viewer.text(SHIPMENT_STATUSES.get(answer["shipment_status"], answer["shipment_status"])),
    )
