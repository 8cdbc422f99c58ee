"""HTTP routes of the finance service under /api/v1/finance."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlmodel import col, select

from hanse import outbox
from hanse.app import SessionDep
from hanse.auth import Principal, require_roles
from hanse.pagination import Cursor, Limit, Page, paginate
from services.finance import domain
from services.finance.contract import InvoiceKind, InvoicePaid, PaymentReceived
from services.finance.models import (
    Invoice,
    InvoicePublic,
    InvoiceStatus,
    Payment,
    PaymentCreate,
    PaymentPublic,
)

router = APIRouter(prefix="/api/v1/finance", tags=["finance"])

Reader = Annotated[Principal, require_roles("finance", "sales")]
Finance = Annotated[Principal, require_roles("finance")]
FinanceEvent = PaymentReceived | InvoicePaid
IdFilter = Annotated[str | None, Query(min_length=1, max_length=64)]


@router.get("/invoices", summary="Invoices, filtered by order, account, kind or status")
async def list_invoices(
    session: SessionDep,
    _: Reader,
    order_id: IdFilter = None,
    account_id: IdFilter = None,
    kind: InvoiceKind | None = None,
    status: InvoiceStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[InvoicePublic]:
    query = select(Invoice)
    if order_id is not None:
        query = query.where(Invoice.order_id == order_id)
    if account_id is not None:
        query = query.where(Invoice.account_id == account_id)
    if kind is not None:
        query = query.where(Invoice.kind == kind)
    if status is not None:
        query = query.where(Invoice.status == status)
    page = await paginate(session, query, col(Invoice.id), cursor, limit)
    return Page[InvoicePublic](items=[domain.invoice_public(i) for i in page.items], next_cursor=page.next_cursor)


@router.get("/invoices/{invoice_id}", summary="One invoice", responses={404: {"description": "unknown invoice"}})
async def get_invoice(invoice_id: str, session: SessionDep, _: Reader) -> InvoicePublic:
    return domain.invoice_public(await domain.get_invoice(session, invoice_id))


@router.post(
    "/payments",
    status_code=201,
    summary="Record a payment against an issued invoice",
    responses={409: {"description": "invoice void, paid, or a credit note"}, 422: {"description": "bad payment"}},
)
async def create_payment(data: PaymentCreate, request: Request, session: SessionDep, who: Finance) -> PaymentPublic:
    settings = request.app.state.settings

    def publish(payload: FinanceEvent) -> Awaitable[object]:
        # Every finance event names its order: that is the correlation id of the whole flow.
        return outbox.publish(session, payload, correlation_id=payload.order_id, settings=settings)

    payment = await domain.receive_payment(session, data, who.subject, settings, publish)
    await session.commit()
    return domain.payment_public(payment)


@router.get("/payments", summary="Payments, filtered by invoice or order")
async def list_payments(
    session: SessionDep,
    _: Finance,
    invoice_id: IdFilter = None,
    order_id: IdFilter = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[PaymentPublic]:
    query = select(Payment)
    if invoice_id is not None:
        query = query.where(Payment.invoice_id == invoice_id)
    if order_id is not None:
        query = query.where(Payment.order_id == order_id)
    page = await paginate(session, query, col(Payment.id), cursor, limit)
    return Page[PaymentPublic](items=[domain.payment_public(p) for p in page.items], next_cursor=page.next_cursor)


@router.get("/payments/{payment_id}", summary="One payment", responses={404: {"description": "unknown payment"}})
async def get_payment(payment_id: str, session: SessionDep, _: Finance) -> PaymentPublic:
    return domain.payment_public(await domain.get_payment(session, payment_id))
