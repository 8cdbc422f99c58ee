"""HTTP routes of the finance service under /api/v1/finance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import col, select

from hanse.app import SessionDep
from hanse.auth import Principal, require_roles
from hanse.pagination import Cursor, Limit, Page, get_or_404, paginate
from services.finance import views
from services.finance.config import UoWDep
from services.finance.contract import InvoiceKind
from services.finance.domain import payments
from services.finance.models import Invoice, InvoicePublic, InvoiceStatus, Payment, PaymentCreate, PaymentPublic

router = APIRouter(prefix="/api/v1/finance", tags=["finance"])

Reader = Annotated[Principal, require_roles("finance", "sales")]
Finance = Annotated[Principal, require_roles("finance")]
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
    filters = {Invoice.order_id: order_id, Invoice.account_id: account_id, Invoice.kind: kind, Invoice.status: status}
    page = await paginate(session, select(Invoice), col(Invoice.id), cursor, limit, filters=filters)
    return page.map(views.invoice_public)


@router.get("/invoices/{invoice_id}", summary="One invoice", responses={404: {"description": "unknown invoice"}})
async def get_invoice(invoice_id: str, session: SessionDep, _: Reader) -> InvoicePublic:
    return views.invoice_public(await get_or_404(session, Invoice, invoice_id, what="invoice", field="invoice_id"))


@router.post(
    "/payments",
    status_code=201,
    summary="Record a payment against an issued invoice",
    responses={409: {"description": "invoice void, paid, or a credit note"}, 422: {"description": "bad payment"}},
)
async def create_payment(data: PaymentCreate, uow: UoWDep, who: Finance) -> PaymentPublic:
    payment = await payments.receive_payment(uow, data, who.subject)
    await uow.commit()
    return views.payment_public(payment)


@router.get("/payments", summary="Payments, filtered by invoice or order")
async def list_payments(
    session: SessionDep,
    _: Finance,
    invoice_id: IdFilter = None,
    order_id: IdFilter = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[PaymentPublic]:
    filters = {Payment.invoice_id: invoice_id, Payment.order_id: order_id}
    page = await paginate(session, select(Payment), col(Payment.id), cursor, limit, filters=filters)
    return page.map(views.payment_public)


@router.get("/payments/{payment_id}", summary="One payment", responses={404: {"description": "unknown payment"}})
async def get_payment(payment_id: str, session: SessionDep, _: Finance) -> PaymentPublic:
    return views.payment_public(await get_or_404(session, Payment, payment_id, what="payment", field="payment_id"))
