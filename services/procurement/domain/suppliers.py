"""Suppliers: registration (compliance screens each one), the screening outcome, prices per SKU."""

from __future__ import annotations

import logging

from sqlmodel import select

from hanse.errors import NotFound
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.pagination import get_or_404
from services.compliance.contract import ScreeningCompleted
from services.procurement import views
from services.procurement.config import UoW
from services.procurement.domain.rules import status_after_screening
from services.procurement.models import PriceIn, Supplier, SupplierCreate, SupplierPrice, SupplierUpdate

log = logging.getLogger("hanse.procurement")


async def register_supplier(uow: UoW, data: SupplierCreate) -> Supplier:
    """A new supplier starts `pending`; compliance screens it like a buyer and decides."""
    supplier = Supplier(id=new_id("sup"), status="pending", **data.model_dump())
    uow.session.add(supplier)
    await uow.session.flush()
    await uow.publish(views.supplier_registered(supplier), correlation_id=supplier.id)
    return supplier


async def update_supplier(uow: UoW, supplier_id: str, data: SupplierUpdate) -> Supplier:
    """Change a supplier's details. A new name or country is a new party to screen: the supplier is
    `pending` again (no order goes out) until compliance has screened it anew."""
    query = select(Supplier).where(Supplier.id == supplier_id).with_for_update()
    supplier = (await uow.session.exec(query)).first()
    if supplier is None:
        raise NotFound(f"no supplier {supplier_id}", field="supplier_id")
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    rescreen = any(field in changes and changes[field] != getattr(supplier, field) for field in ("name", "country"))
    for field, value in changes.items():
        setattr(supplier, field, value)
    if rescreen:
        supplier.status = "pending"
    uow.session.add(supplier)
    await uow.session.flush()
    if rescreen:
        await uow.publish(views.supplier_registered(supplier), correlation_id=supplier.id)
    return supplier


async def apply_screening(uow: UoW, screening: ScreeningCompleted) -> Supplier | None:
    """compliance.screening.completed.v1 about a supplier: clear approves, blocked blocks, review waits.

    A re-screening that blocks an approved supplier blocks it; the same outcome twice changes nothing.
    """
    if screening.subject_type != "supplier":
        return None
    query = select(Supplier).where(Supplier.id == screening.subject_id).with_for_update()
    supplier = (await uow.session.exec(query)).first()
    if supplier is None:
        log.warning("screening %s names unknown supplier %s", screening.check_id, screening.subject_id)
        return None
    status = status_after_screening(supplier.status, screening.result)
    if status == supplier.status and supplier.check_id == screening.check_id:
        return supplier
    supplier.status = status
    supplier.check_id = screening.check_id
    supplier.screening_reasons = list(screening.reasons)
    supplier.screened_at = utcnow()
    uow.session.add(supplier)
    return supplier


async def set_price(uow: UoW, supplier_id: str, sku: str, data: PriceIn) -> SupplierPrice:
    """The supplier's price and MOQ for a SKU (in any currency; a PO converts at the ECB rate)."""
    await get_or_404(uow.session, Supplier, supplier_id, what="supplier", field="supplier_id")
    price = await uow.session.get(SupplierPrice, (supplier_id, sku))
    if price is None:
        price = SupplierPrice(supplier_id=supplier_id, sku=sku, unit_price=0, currency=data.unit_price.currency)
    price.unit_price = data.unit_price.amount
    price.currency = data.unit_price.currency
    price.moq = data.moq
    price.updated_at = utcnow()
    uow.session.add(price)
    await uow.session.flush()
    return price
