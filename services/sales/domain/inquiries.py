"""Inquiries (RFQ): received from the storefront or staff, screened by compliance, quoted, won or lost."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exists, or_
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.db import claim
from hanse.errors import Conflict, Invalid
from hanse.events import utcnow
from hanse.ids import new_id
from services.compliance.contract import ScreeningCompleted
from services.sales import contract
from services.sales.config import UoW
from services.sales.domain.catalogue import catalogue_of
from services.sales.domain.rules import incoterm
from services.sales.models import Inquiry, InquiryCreate, InquiryLineRow, Quote

BLOCKED = "blocked by compliance screening"


async def receive_inquiry(uow: UoW, data: InquiryCreate) -> tuple[Inquiry, list[InquiryLineRow], dict[str, int]]:
    """Record an RFQ and have compliance screen the party; a line below the MOQ is kept (quoted at the MOQ)."""
    if data.incoterm is not None:
        data = data.model_copy(update={"incoterm": incoterm(data.incoterm)})  # 422 naming incoterm
    catalogue = await catalogue_of(uow.session, sorted({line.sku for line in data.lines}))
    for i, line in enumerate(data.lines):
        if line.sku not in catalogue:
            raise Invalid(f"no product with sku {line.sku!r}", field=f"lines.{i}.sku")
    now = utcnow()
    inquiry = Inquiry(**data.model_dump(exclude={"lines"}), id=new_id("inq"), created_at=now, updated_at=now)
    uow.session.add(inquiry)
    await uow.session.flush()
    lines = [
        InquiryLineRow(inquiry_id=inquiry.id, line_no=i, sku=line.sku, quantity=line.quantity)
        for i, line in enumerate(data.lines)
    ]
    uow.session.add_all(lines)
    await uow.publish(
        contract.InquiryReceived(
            inquiry_id=inquiry.id,
            company=inquiry.company,
            contact_name=inquiry.contact_name,
            email=inquiry.email,
            country=inquiry.country,
            language=inquiry.language,
            lines=[contract.InquiryLine(sku=ln.sku, quantity=ln.quantity) for ln in lines],
        ),
        correlation_id=inquiry.id,
    )
    return inquiry, lines, {sku: item.moq for sku, item in catalogue.items()}


async def lines_of(session: AsyncSession, inquiry_ids: Sequence[str]) -> dict[str, list[InquiryLineRow]]:
    found: dict[str, list[InquiryLineRow]] = {i: [] for i in inquiry_ids}
    if inquiry_ids:
        query = select(InquiryLineRow).where(InquiryLineRow.inquiry_id.in_(list(inquiry_ids)))
        for line in await session.exec(query.order_by(InquiryLineRow.inquiry_id, InquiryLineRow.line_no)):
            found[line.inquiry_id].append(line)
    return found


async def quote_ids_of(session: AsyncSession, inquiry_ids: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {i: [] for i in inquiry_ids}
    if inquiry_ids:
        query = select(Quote.id, Quote.inquiry_id).where(Quote.inquiry_id.in_(list(inquiry_ids)))  # type: ignore[union-attr]
        for quote_id, inquiry_id in await session.exec(query.order_by(Quote.id)):
            found[inquiry_id].append(quote_id)
    return found


async def inquiry_to_quote(uow: UoW, inquiry_id: str) -> tuple[Inquiry, list[InquiryLineRow]]:
    """The inquiry a quote is to answer: it must exist and not be lost."""
    inquiry = await uow.session.get(Inquiry, inquiry_id)
    if inquiry is None:
        raise Invalid(f"no inquiry {inquiry_id!r}", field="inquiry_id")
    if inquiry.status == "lost":
        raise Conflict(f"inquiry {inquiry_id} is lost ({inquiry.lost_reason})", field="inquiry_id")
    return inquiry, (await lines_of(uow.session, [inquiry_id]))[inquiry_id]


async def mark(uow: UoW, inquiry_id: str | None, status: str) -> None:
    """Quoted when a quote answers it, won when one is accepted; a won or lost inquiry stays so."""
    if inquiry_id is None:
        return
    inquiry = (await uow.session.exec(select(Inquiry).where(Inquiry.id == inquiry_id).with_for_update())).one_or_none()
    if inquiry is None or inquiry.status in ("won", "lost"):
        return
    if status == "quoted" and inquiry.status != "open":
        return
    inquiry.status, inquiry.updated_at = status, utcnow()
    uow.session.add(inquiry)


async def screened(uow: UoW, result: ScreeningCompleted) -> None:
    """Compliance screened an inquiry's party: blocked loses it; other subjects are not sales' business here."""
    if result.subject_type != "inquiry":
        return
    inquiry = (
        await uow.session.exec(select(Inquiry).where(Inquiry.id == result.subject_id).with_for_update())
    ).one_or_none()
    if inquiry is None:
        return  # an inquiry sales never recorded: nothing to mark
    inquiry.screening, inquiry.updated_at = result.result, utcnow()
    if result.result == "blocked" and inquiry.status != "won":
        inquiry.status, inquiry.lost_reason = "lost", BLOCKED
    uow.session.add(inquiry)


async def mark_lost_inquiries(uow: UoW) -> int:
    """The scheduler's job: a quoted inquiry whose every quote expired unaccepted is lost."""
    now = utcnow()
    alive = exists().where(
        Quote.inquiry_id == Inquiry.id,
        or_(Quote.status == "accepted", Quote.valid_until > now),
    )
    due = claim(select(Inquiry).where(Inquiry.status == "quoted", ~alive).order_by(Inquiry.id).limit(100))
    inquiries = (await uow.session.exec(due)).all()
    for inquiry in inquiries:
        inquiry.status, inquiry.lost_reason, inquiry.updated_at = "lost", "every quote expired", now
        uow.session.add(inquiry)
    return len(inquiries)
