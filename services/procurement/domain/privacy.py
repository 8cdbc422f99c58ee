"""Data-subject requests: procurement holds supplier contact addresses; purchase records are kept."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlmodel import col, select

from hanse.events import utcnow
from hanse.privacy import Retained, pseudonym
from services.compliance.contract import PrivacyRequestOpened
from services.procurement.config import UoW
from services.procurement.contract import PrivacyAnswered
from services.procurement.models import PurchaseOrder, Supplier

KEPT_YEARS = 10
WHY_KEPT = "§147 AO / §257 HGB: purchase orders and goods receipts are commercial records, kept 10 years"


async def answer_privacy_request(uow: UoW, request: PrivacyRequestOpened) -> PrivacyAnswered:
    """Find suppliers whose contact address is the person's; on erasure pseudonymise it, keep the orders."""
    session = uow.session
    email = request.email.strip().lower()
    suppliers = (
        await session.exec(select(Supplier).where(func.lower(Supplier.email) == email).with_for_update())
    ).all()
    ids = [s.id for s in suppliers]
    orders = 0
    if ids:
        orders = int(
            await session.scalar(
                select(func.count()).select_from(PurchaseOrder).where(col(PurchaseOrder.supplier_id).in_(ids))
            )
            or 0
        )
    export = {}
    if request.kind == "access":
        export = {
            "suppliers": [
                {"id": s.id, "name": s.name, "email": s.email, "country": s.country, "status": s.status}
                for s in suppliers
            ],
            "purchase_orders": orders,
        }
    pseudonymised = 0
    retained: list[Retained] = []
    if request.kind == "erasure":
        for supplier in suppliers:
            supplier.email = pseudonym(email, uow.settings.signing_secret())
            session.add(supplier)
            pseudonymised += 1
        if orders:
            until = (utcnow() + timedelta(days=365 * KEPT_YEARS)).date()
            retained.append(Retained(what=f"{orders} purchase orders of the supplier", why=WHY_KEPT, until=until))
    answer = PrivacyAnswered(
        request_id=request.request_id,
        kind=request.kind,
        department="procurement",
        records=len(suppliers),
        pseudonymised=pseudonymised,
        retained=retained,
        export=export,
    )
    await uow.publish(answer)
    return answer
