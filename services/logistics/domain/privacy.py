"""Data-subject requests: logistics holds the consignee's contact on orders it ships."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func
from sqlmodel import col, select

from hanse.events import utcnow
from hanse.privacy import Retained, pseudonym
from services.compliance.contract import PrivacyRequestOpened
from services.logistics.config import UoW
from services.logistics.contract import PrivacyAnswered
from services.logistics.models import FulfilmentOrder

# Customs and export records (the consignee's company, destination and goods) must be kept.
RETENTION_WHY = "customs and export records: Union Customs Code art. 51 and §147 AO / §257 HGB (kept 10 years)"


async def answer_privacy_request(uow: UoW, request: PrivacyRequestOpened) -> None:
    """Find the orders shipped to the address; erasure pseudonymises it and keeps the customs records."""
    session = uow.session
    email = request.email.strip().lower()
    query = (
        select(FulfilmentOrder)
        .where(func.lower(col(FulfilmentOrder.consignee_email)) == email)
        .order_by(col(FulfilmentOrder.order_id))
    )
    orders = list((await session.exec(query)).all())
    export: dict = {}
    pseudonymised = 0
    retained: list[Retained] = []
    if request.kind == "access":
        export = {
            "orders": [
                {
                    "order_id": o.order_id,
                    "consignee": o.consignee,
                    "consignee_email": o.consignee_email,
                    "consignee_country": o.consignee_country,
                    "destination_country": o.destination_country,
                    "named_place": o.named_place,
                    "status": o.status,
                }
                for o in orders
            ]
        }
    else:
        stand_in = pseudonym(email, uow.settings.signing_secret())
        for order in orders:
            order.consignee_email = stand_in
            session.add(order)
            pseudonymised += 1
        if orders:
            today = utcnow().date()
            retained.append(
                Retained(
                    what=f"customs records of {len(orders)} orders (consignee company, destination, goods)",
                    why=RETENTION_WHY,
                    until=date(today.year + 10, 12, 31),
                )
            )
    answer = PrivacyAnswered(
        request_id=request.request_id,
        kind=request.kind,
        department="logistics",
        records=len(orders),
        pseudonymised=pseudonymised,
        retained=retained,
        export=export,
    )
    await uow.publish(answer, correlation_id=request.request_id)
