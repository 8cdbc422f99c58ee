"""Letters of credit: an order with terms letter_of_credit is booked only under a valid, covering L/C."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.events import utcnow
from services.logistics.domain import rules
from services.logistics.models import FulfilmentOrder, LetterOfCredit


async def letter_of_credit_refusal(session: AsyncSession, order: FulfilmentOrder) -> str | None:
    rows = (await session.exec(select(LetterOfCredit).where(LetterOfCredit.order_id == order.order_id))).all()
    credits = [rules.Credit(r.id, r.amount, r.currency, r.expiry_date, r.latest_shipment_date) for r in rows]
    return rules.letter_of_credit_refusal(credits, order.currency, order.total_amount, utcnow().date())
