"""How the procurement department reacts to other departments' events."""

from __future__ import annotations

from hanse.consumer import Handler
from services.compliance.contract import PrivacyRequestOpened, ScreeningCompleted
from services.finance.contract import SupplierBillRecorded
from services.logistics.contract import StockReceived, StockReleased, StockReserved, StockShort
from services.procurement.config import UoW
from services.procurement.domain import privacy, purchase_orders, reorder, suppliers


async def on_screening_completed(uow: UoW, payload: ScreeningCompleted) -> None:
    """Only suppliers concern procurement; leads, accounts, inquiries and orders are others' business."""
    if payload.subject_type == "supplier":
        await suppliers.apply_screening(uow, payload)


async def on_stock_changed(uow: UoW, payload: StockReceived | StockReserved | StockShort | StockReleased) -> None:
    await reorder.on_stock_changed(uow, payload)


async def on_supplier_bill_recorded(uow: UoW, payload: SupplierBillRecorded) -> None:
    await purchase_orders.record_bill(uow, payload)


async def on_privacy_request(uow: UoW, payload: PrivacyRequestOpened) -> None:
    await privacy.answer_privacy_request(uow, payload)


HANDLERS: dict[str, Handler] = {
    ScreeningCompleted.event_type: on_screening_completed,
    StockReceived.event_type: on_stock_changed,
    StockReserved.event_type: on_stock_changed,
    StockShort.event_type: on_stock_changed,
    StockReleased.event_type: on_stock_changed,
    PrivacyRequestOpened.event_type: on_privacy_request,
    SupplierBillRecorded.event_type: on_supplier_bill_recorded,
}
