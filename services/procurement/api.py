"""HTTP routes of the procurement service under /api/v1/procurement."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlmodel import col, select

from hanse.app import SessionDep
from hanse.auth import Principal, require_roles
from hanse.pagination import Cursor, Limit, Page, get_or_404, paginate
from services.procurement import views
from services.procurement.config import UoWDep, WritingUoWDep
from services.procurement.domain import purchase_orders, reorder, suppliers
from services.procurement.models import (
    Inspection,
    InspectionPublic,
    InspectionResult,
    InspectionStatus,
    PriceIn,
    PricePublic,
    PurchaseOrder,
    PurchaseOrderCreate,
    PurchaseOrderLine,
    PurchaseOrderPublic,
    PurchaseOrderStatus,
    Receipt,
    ReceiptCreate,
    ReceiptPublic,
    ReorderRule,
    ReorderRuleIn,
    ReorderRulePublic,
    ReturnNote,
    Supplier,
    SupplierBill,
    SupplierCreate,
    SupplierPrice,
    SupplierPublic,
    SupplierStatus,
    SupplierUpdate,
)

router = APIRouter(prefix="/api/v1/procurement", tags=["procurement"])

Buyer = Annotated[Principal, require_roles("procurement")]
# Warehouse staff receive goods and record QC too.
GoodsIn = Annotated[Principal, require_roles("procurement", "logistics")]
Reader = Annotated[Principal, require_roles("procurement", "finance", "logistics")]
IdFilter = Annotated[str | None, Query(min_length=1, max_length=64)]
SkuPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
SkuFilter = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


PDF = {200: {"content": {"application/pdf": {}}, "description": "the PDF"}}


# -- suppliers -----------------------------------------------------------------------------------------


@router.post("/suppliers", status_code=201, summary="Register a supplier (compliance screens it)")
async def create_supplier(data: SupplierCreate, uow: UoWDep, _: Buyer) -> SupplierPublic:
    supplier = await suppliers.register_supplier(uow, data)
    await uow.commit()
    return views.supplier_public(supplier)


@router.get("/suppliers", summary="Suppliers, filtered by status or country")
async def list_suppliers(
    session: SessionDep,
    _: Reader,
    status: SupplierStatus | None = None,
    country: Annotated[str | None, Query(min_length=2, max_length=2)] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[SupplierPublic]:
    filters = {Supplier.status: status, Supplier.country: country.upper() if country else None}
    page = await paginate(session, select(Supplier), col(Supplier.id), cursor, limit, filters=filters)
    return page.map(views.supplier_public)


@router.get("/suppliers/{supplier_id}", summary="One supplier and its prices", responses={404: {}})
async def get_supplier(supplier_id: str, session: SessionDep, _: Reader) -> SupplierPublic:
    supplier = await get_or_404(session, Supplier, supplier_id, what="supplier", field="supplier_id")
    prices = (await session.exec(select(SupplierPrice).where(SupplierPrice.supplier_id == supplier_id))).all()
    return views.supplier_public(supplier, prices)


@router.patch(
    "/suppliers/{supplier_id}",
    summary="Change a supplier's details (a new name or country is screened again)",
    responses={404: {"description": "unknown supplier"}, 422: {"description": "bad field"}},
)
async def patch_supplier(supplier_id: str, data: SupplierUpdate, uow: UoWDep, _: Buyer) -> SupplierPublic:
    supplier = await suppliers.update_supplier(uow, supplier_id, data)
    await uow.commit()
    return views.supplier_public(supplier)


@router.put(
    "/suppliers/{supplier_id}/prices/{sku}",
    summary="Set the supplier's price and MOQ for a SKU",
    responses={404: {"description": "unknown supplier"}, 422: {"description": "bad price"}},
)
async def put_price(supplier_id: str, sku: SkuPath, data: PriceIn, uow: UoWDep, _: Buyer) -> PricePublic:
    price = await suppliers.set_price(uow, supplier_id, sku, data)
    await uow.commit()
    return views.price_public(price)


# -- purchase orders -----------------------------------------------------------------------------------


async def _order_public(session: SessionDep, order: PurchaseOrder) -> PurchaseOrderPublic:
    lines = await purchase_orders.lines_of(session, order.id)
    receipts = (await session.exec(select(Receipt).where(Receipt.purchase_order_id == order.id))).all()
    notes = (await session.exec(select(ReturnNote).where(ReturnNote.purchase_order_id == order.id))).all()
    bills = (await session.exec(select(SupplierBill).where(SupplierBill.purchase_order_id == order.id))).all()
    return views.purchase_order_public(order, lines, receipts, notes, bills)


@router.post(
    "/purchase-orders",
    status_code=201,
    summary="Draft a purchase order",
    responses={409: {"description": "supplier blocked"}, 422: {"description": "bad order"}},
)
async def create_purchase_order(data: PurchaseOrderCreate, uow: UoWDep, who: Buyer) -> PurchaseOrderPublic:
    order = await purchase_orders.draft(uow, data, by=who.subject)
    answer = await _order_public(uow.session, order)
    await uow.commit()
    return answer


@router.get("/purchase-orders", summary="Purchase orders, filtered by status, supplier or SKU")
async def list_purchase_orders(
    session: SessionDep,
    _: Reader,
    status: PurchaseOrderStatus | None = None,
    supplier_id: IdFilter = None,
    sku: SkuFilter = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[PurchaseOrderPublic]:
    query = select(PurchaseOrder)
    if sku is not None:
        with_sku = select(PurchaseOrderLine.purchase_order_id).where(PurchaseOrderLine.sku == sku)
        query = query.where(col(PurchaseOrder.id).in_(with_sku))
    filters = {PurchaseOrder.status: status, PurchaseOrder.supplier_id: supplier_id}
    page = await paginate(session, query, col(PurchaseOrder.id), cursor, limit, filters=filters)
    ids = [order.id for order in page.items]
    lines: dict[str, list[PurchaseOrderLine]] = {order_id: [] for order_id in ids}
    if ids:
        rows = await session.exec(
            select(PurchaseOrderLine)
            .where(col(PurchaseOrderLine.purchase_order_id).in_(ids))
            .order_by(col(PurchaseOrderLine.position))
        )
        for line in rows.all():
            lines[line.purchase_order_id].append(line)
    return page.map(lambda order: views.purchase_order_public(order, lines[order.id]))


@router.get("/purchase-orders/{purchase_order_id}", summary="One purchase order", responses={404: {}})
async def get_purchase_order(purchase_order_id: str, session: SessionDep, _: Reader) -> PurchaseOrderPublic:
    order = await get_or_404(
        session, PurchaseOrder, purchase_order_id, what="purchase order", field="purchase_order_id"
    )
    return await _order_public(session, order)


@router.post(
    "/purchase-orders/{purchase_order_id}/send",
    summary="Send a draft to the supplier (mail with the PDF)",
    responses={404: {}, 409: {"description": "not a draft, or the supplier is blocked or not yet approved"}},
)
async def send_purchase_order(purchase_order_id: str, uow: UoWDep, _: Buyer) -> PurchaseOrderPublic:
    order = await purchase_orders.send(uow, purchase_order_id)
    answer = await _order_public(uow.session, order)
    await uow.commit()
    return answer


@router.post(
    "/purchase-orders/{purchase_order_id}/cancel",
    summary="Withdraw a draft, or a sent order of which nothing arrived",
    responses={404: {}, 409: {"description": "goods already arrived, or already closed"}},
)
async def cancel_purchase_order(purchase_order_id: str, uow: UoWDep, _: Buyer) -> PurchaseOrderPublic:
    order = await purchase_orders.cancel(uow, purchase_order_id)
    answer = await _order_public(uow.session, order)
    await uow.commit()
    return answer


@router.get(
    "/purchase-orders/{purchase_order_id}/pdf",
    summary="The purchase order as PDF, in the supplier's language",
    response_class=Response,
    responses={**PDF, 404: {}},
)
async def purchase_order_pdf(purchase_order_id: str, uow: WritingUoWDep, _: Reader) -> Response:
    order = await get_or_404(
        uow.session, PurchaseOrder, purchase_order_id, what="purchase order", field="purchase_order_id"
    )
    document = await purchase_orders.purchase_order_pdf(uow, order)
    await uow.commit()
    return Response(document.content, media_type=document.content_type)


@router.post(
    "/purchase-orders/{purchase_order_id}/receipts",
    status_code=201,
    summary="Goods arrived: they wait for QC and are not stock yet",
    responses={
        404: {},
        409: {"description": "order not sent, or supplier blocked"},
        422: {"description": "more than ordered"},
    },
)
async def create_receipt(purchase_order_id: str, data: ReceiptCreate, uow: UoWDep, who: GoodsIn) -> ReceiptPublic:
    receipt = await purchase_orders.receive(uow, purchase_order_id, data, by=who.subject)
    await uow.commit()
    return views.receipt_public(receipt)


# -- quality control -----------------------------------------------------------------------------------


async def _inspection_public(session: SessionDep, inspection: Inspection) -> InspectionPublic:
    order = await get_or_404(session, PurchaseOrder, inspection.purchase_order_id, what="purchase order", field="id")
    return views.inspection_public(inspection, order.currency)


@router.get("/inspections", summary="Inspections (the QC queue), filtered by status or purchase order")
async def list_inspections(
    session: SessionDep,
    _: GoodsIn,
    status: InspectionStatus | None = None,
    purchase_order_id: IdFilter = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[InspectionPublic]:
    filters = {Inspection.status: status, Inspection.purchase_order_id: purchase_order_id}
    page = await paginate(session, select(Inspection), col(Inspection.id), cursor, limit, filters=filters)
    return Page[InspectionPublic](
        items=[await _inspection_public(session, i) for i in page.items], next_cursor=page.next_cursor
    )


@router.get("/inspections/{inspection_id}", summary="One inspection", responses={404: {}})
async def get_inspection(inspection_id: str, session: SessionDep, _: GoodsIn) -> InspectionPublic:
    inspection = await get_or_404(session, Inspection, inspection_id, what="inspection", field="inspection_id")
    return await _inspection_public(session, inspection)


@router.post(
    "/inspections/{inspection_id}/result",
    summary="QC result: accepted units become stock and a supplier bill; rejected go back on a return note",
    responses={404: {}, 409: {"description": "already inspected"}, 422: {"description": "more than received"}},
)
async def record_inspection(inspection_id: str, data: InspectionResult, uow: UoWDep, who: GoodsIn) -> InspectionPublic:
    inspection = await purchase_orders.record_inspection(uow, inspection_id, data, by=who.subject)
    answer = await _inspection_public(uow.session, inspection)
    await uow.commit()
    return answer


@router.get(
    "/return-notes/{return_note_id}/pdf",
    summary="A return note (rejected units back to the supplier) as PDF",
    response_class=Response,
    responses={**PDF, 404: {}},
)
async def return_note_pdf(return_note_id: str, uow: WritingUoWDep, _: Reader) -> Response:
    note = await get_or_404(uow.session, ReturnNote, return_note_id, what="return note", field="return_note_id")
    document = await purchase_orders.return_note_pdf(uow, note)
    await uow.commit()
    return Response(document.content, media_type=document.content_type)


# -- reorder rules -------------------------------------------------------------------------------------


@router.put(
    "/reorder-rules/{sku}",
    summary="Set the reorder rule of a SKU in a warehouse",
    responses={422: {"description": "unknown warehouse or supplier"}},
)
async def put_reorder_rule(sku: SkuPath, data: ReorderRuleIn, uow: UoWDep, _: Buyer) -> ReorderRulePublic:
    rule = await reorder.put_rule(uow, sku, data)
    await uow.commit()
    return views.reorder_rule_public(rule)


@router.get("/reorder-rules", summary="Reorder rules, filtered by SKU or warehouse")
async def list_reorder_rules(
    session: SessionDep,
    _: Reader,
    sku: SkuFilter = None,
    warehouse: IdFilter = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ReorderRulePublic]:
    filters = {ReorderRule.sku: sku, ReorderRule.warehouse: warehouse}
    page = await paginate(session, select(ReorderRule), col(ReorderRule.id), cursor, limit, filters=filters)
    return page.map(views.reorder_rule_public)
