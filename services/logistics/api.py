"""HTTP routes of the logistics service under /api/v1/logistics."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Annotated, TypeVar

from fastapi import APIRouter, Header, Path, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from hanse.auth import Principal, require_roles
from hanse.errors import Invalid, NotFound, Unavailable
from hanse.http import client_address
from hanse.pagination import Cursor, Limit, Page, paginate
from services.logistics.config import UoW, UoWDep, WritingUoWDep
from services.logistics.domain import carriers, documents, freight, fulfilment, returns, rules, shipments, stock
from services.logistics.models import (
    CARRIER_ID,
    SKU_PATTERN,
    CarrierEventAccepted,
    CarrierEventCreate,
    DocumentPublic,
    FulfilmentPublic,
    RateQuotePublic,
    RateRequest,
    ReceiptCreate,
    ReceiptPublic,
    ReturnCreate,
    ReturnInspect,
    ReturnPublic,
    ReturnReceive,
    ReturnRequest,
    Shipment,
    ShipmentPublic,
    StockPublic,
    TrackingCreate,
    TrackingPublic,
    Warehouse,
    WarehouseCreate,
    WarehousePublic,
)

router = APIRouter(prefix="/api/v1/logistics", tags=["logistics"])

Operator = Annotated[Principal, require_roles("logistics")]
Reader = Annotated[Principal, require_roles("logistics", "sales", "compliance", "finance")]
ShipmentReader = Annotated[Principal, require_roles("logistics", "sales", "compliance", "finance", "partner")]
Tracker = Annotated[Principal, require_roles("logistics", "partner")]
Pricer = Annotated[Principal, require_roles("logistics", "sales")]

SkuPath = Annotated[str, Path(pattern=SKU_PATTERN, description="SKU")]
IdPath = Annotated[str, Path(min_length=1, max_length=64)]
KindPath = Annotated[str, Path(min_length=1, max_length=32, description="document kind")]
CarrierPath = Annotated[str, Path(min_length=1, max_length=32, description="carrier id, e.g. dhl-express")]

T = TypeVar("T")
# PostgreSQL aborts one of two transactions that wait on each other's rows (deadlock) or
# cannot be serialised; the lock order makes it rare, and a retry resolves it.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}


async def _commit_retrying(uow: UoW, work: Callable[[UoW], Awaitable[T]], attempts: int = 3) -> T:
    for attempt in range(1, attempts + 1):
        # A fresh unit per attempt, so a rolled-back attempt's event is never named as a later one's cause.
        attempt_uow = replace(uow, attempt=attempt)
        try:
            result = await work(attempt_uow)
            await attempt_uow.commit()
            return result
        except DBAPIError as exc:
            await attempt_uow.rollback()
            if getattr(exc.orig, "sqlstate", None) not in _RETRYABLE_SQLSTATES:
                raise
            if attempt == attempts:
                raise Unavailable("stock is busy; retry the request", field=None) from None
    raise AssertionError("unreachable")  # pragma: no cover


# -- warehouses --------------------------------------------------------------------------------------


@router.post("/warehouses", status_code=201, summary="Open a warehouse")
async def create_warehouse(body: WarehouseCreate, uow: UoWDep, _: Operator) -> WarehousePublic:
    warehouse = await stock.create_warehouse(uow, body)
    await uow.commit()
    return WarehousePublic.model_validate(warehouse)


@router.get("/warehouses", summary="Warehouses, by code")
async def list_warehouses(uow: UoWDep, _: Reader, cursor: Cursor = None, limit: Limit = 50) -> Page[WarehousePublic]:
    page = await paginate(uow.session, select(Warehouse), Warehouse.code, cursor, limit)
    return page.map(WarehousePublic.model_validate)


@router.get("/warehouses/{code}", summary="One warehouse")
async def get_warehouse(
    code: Annotated[str, Path(min_length=1, max_length=64)], uow: UoWDep, _: Reader
) -> WarehousePublic:
    return WarehousePublic.model_validate(await stock.get_warehouse(uow.session, code))


# -- stock -------------------------------------------------------------------------------------------


@router.post("/stock/receipts", status_code=201, summary="Receive stock (fills back-orders FCFS)")
async def receive_stock(body: ReceiptCreate, uow: UoWDep, _: Operator) -> ReceiptPublic:
    return await _commit_retrying(uow, lambda u: stock.receive_stock(u, body))


@router.get("/stock/{sku}", summary="Stock of a SKU; 404 when it was never received")
async def get_stock(sku: SkuPath, uow: UoWDep, _: Reader) -> StockPublic:
    return await stock.stock_of(uow.session, sku)


@router.get("/orders/{order_id}", summary="Reservation or back-order of an order")
async def get_order(order_id: IdPath, uow: UoWDep, _: Reader) -> FulfilmentPublic:
    return await fulfilment.fulfilment_of(uow.session, order_id)


# -- freight -----------------------------------------------------------------------------------------


@router.post("/rates", summary="Price freight from the rate table")
async def quote_freight(body: RateRequest, request: Request, _: Pricer) -> RateQuotePublic:
    # No unit of work: a quote reads the shipped tariff, not the database.
    return freight.quote_freight(body, request.app.state.settings)


# -- shipments ---------------------------------------------------------------------------------------


@router.get("/shipments", summary="Shipments, optionally of one order")
async def list_shipments(
    uow: UoWDep,
    _: ShipmentReader,
    order_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ShipmentPublic]:
    query = select(Shipment)
    if order_id is not None:
        query = query.where(Shipment.order_id == order_id)
    page = await paginate(uow.session, query, Shipment.id, cursor, limit)
    return Page(items=await shipments.with_milestones(uow.session, page.items), next_cursor=page.next_cursor)


@router.get("/shipments/{shipment_id}", summary="One shipment with its milestones")
async def get_shipment(shipment_id: IdPath, uow: UoWDep, _: ShipmentReader) -> ShipmentPublic:
    return await shipments.get_shipment(uow.session, shipment_id)


@router.post("/shipments/{shipment_id}/tracking", status_code=201, summary="Record a tracking milestone")
async def track_shipment(shipment_id: IdPath, body: TrackingCreate, uow: UoWDep, _: Tracker) -> TrackingPublic:
    return await _commit_retrying(uow, lambda u: shipments.record_milestone(u, shipment_id, body))


# -- documents ---------------------------------------------------------------------------------------


@router.get("/shipments/{shipment_id}/documents", summary="The documents compliance requires, and whether each exists")
async def list_documents(shipment_id: IdPath, uow: UoWDep, _: ShipmentReader) -> Page[DocumentPublic]:
    return Page(items=await documents.list_documents(uow, shipment_id), next_cursor=None)


@router.get(
    "/shipments/{shipment_id}/documents/{kind}",
    summary="One document as PDF (produced on first request, then served as stored)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def get_document(shipment_id: IdPath, kind: KindPath, uow: WritingUoWDep, _: ShipmentReader) -> Response:
    document = await documents.produce(uow, shipment_id, kind)
    await uow.commit()
    return Response(
        document.content,
        media_type=document.content_type,
        headers={"Content-Disposition": f'inline; filename="{document.filename}"'},
    )


# -- carrier events (public: the signature proves the sender) -------------------------------------------


@router.post("/carriers/{carrier}/events", status_code=202, summary="A carrier's signed tracking event")
async def carrier_event(
    carrier: CarrierPath,
    request: Request,
    uow: UoWDep,
    signature: Annotated[str | None, Header(alias=carriers.HEADER)] = None,
) -> CarrierEventAccepted:
    request.app.state.carrier_event_limiter.enforce(client_address(request, behind_gateway=True), "carrier events")
    if not re.match(CARRIER_ID, carrier) or rules.carrier(carrier) is None:
        raise NotFound(f"no carrier {carrier}", field="carrier")
    body = await request.body()
    carriers.verify(carriers.secret_of(uow.settings, uow.config, carrier), body, signature)
    try:
        event = CarrierEventCreate.model_validate_json(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or "body"
        raise Invalid(f"{field}: {error['msg']}", field=field) from None
    return await _commit_retrying(
        uow,
        lambda u: shipments.record_carrier_event(
            u, carrier, event.tracking_number, event.status, event.location, event.at
        ),
    )


# -- returns -----------------------------------------------------------------------------------------


@router.post("/returns", status_code=201, summary="Request a return (RMA) of delivered goods")
async def create_return(body: ReturnCreate, uow: UoWDep, _: Operator) -> ReturnPublic:
    created = await returns.request_return(uow, body)
    await uow.commit()
    return created


@router.get("/returns", summary="Returns, optionally of one order")
async def list_returns(
    uow: UoWDep,
    _: Reader,
    order_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ReturnPublic]:
    query = select(ReturnRequest)
    if order_id is not None:
        query = query.where(ReturnRequest.order_id == order_id)
    page = await paginate(uow.session, query, ReturnRequest.id, cursor, limit)
    return Page(items=await returns.returns_public(uow.session, page.items), next_cursor=page.next_cursor)


@router.get("/returns/{return_id}", summary="One return with its lines")
async def get_return(return_id: IdPath, uow: UoWDep, _: Reader) -> ReturnPublic:
    return await returns.get_return(uow.session, return_id)


@router.post("/returns/{return_id}/authorize", summary="Authorize a requested return")
async def authorize_return(return_id: IdPath, uow: UoWDep, _: Operator) -> ReturnPublic:
    done = await returns.authorize_return(uow, return_id)
    await uow.commit()
    return done


@router.post("/returns/{return_id}/receive", summary="Record the returned units that arrived")
async def receive_return(
    return_id: IdPath, uow: UoWDep, _: Operator, body: ReturnReceive | None = None
) -> ReturnPublic:
    return await _commit_retrying(uow, lambda u: returns.receive_return(u, return_id, body or ReturnReceive()))


@router.post("/returns/{return_id}/inspect", summary="Restock or scrap the received units")
async def inspect_return(return_id: IdPath, body: ReturnInspect, uow: UoWDep, _: Operator) -> ReturnPublic:
    return await _commit_retrying(uow, lambda u: returns.inspect_return(u, return_id, body))
