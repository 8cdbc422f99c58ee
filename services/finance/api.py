"""HTTP routes of the finance service under /api/v1/finance."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse
from sqlmodel import col, select

from hanse.app import SessionDep
from hanse.auth import Principal, require_roles
from hanse.errors import DomainError, Unavailable
from hanse.events import utcnow
from hanse.http import client_address
from hanse.pagination import Cursor, Limit, Page, get_or_404, paginate
from hanse.ratelimit import RateLimiter
from services.finance import views
from services.finance.config import FinanceConfig, UoW, UoWDep, WritingUoWDep
from services.finance.contract import InvoiceKind
from services.finance.domain import bills, credits, documents, exports, ledger, payments, providers, reports, rules
from services.finance.domain import webhooks as webhooks_domain
from services.finance.models import (
    AgingReport,
    BillPaymentCreate,
    BillStatus,
    ForecastWeek,
    Invoice,
    InvoicePublic,
    InvoiceStatus,
    LedgerEntry,
    LedgerEntryPublic,
    LedgerLine,
    LetterOfCredit,
    LetterOfCreditCreate,
    LetterOfCreditPublic,
    Payment,
    PaymentCreate,
    PaymentPublic,
    PresentationCreate,
    ProviderEvent,
    ProviderEventPublic,
    RevenueRow,
    SupplierBill,
    SupplierBillPublic,
    TrialBalance,
)

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


@router.get(
    "/invoices/{invoice_id}/pdf",
    summary="The invoice or credit note as PDF (produced once, the same file every time)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, 404: {"description": "unknown invoice"}},
)
async def invoice_pdf(invoice_id: str, uow: WritingUoWDep, _: Reader) -> Response:
    invoice = await get_or_404(uow.session, Invoice, invoice_id, what="invoice", field="invoice_id")
    document = await documents.invoice_pdf(uow, invoice)  # the first request renders and stores it
    await uow.commit()
    disposition = f'inline; filename="{document.filename}"'
    return Response(document.content, media_type=document.content_type, headers={"Content-Disposition": disposition})


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


# -- the ledger -------------------------------------------------------------------------------------

From = Annotated[date | None, Query(alias="from", description="first day, inclusive")]
To = Annotated[date | None, Query(alias="to", description="last day, inclusive")]
AccountFilter = Annotated[str | None, Query(max_length=8, description="an account of the chart")]


@router.get("/ledger/entries", summary="Journal entries in the base currency, oldest first")
async def list_entries(
    session: SessionDep,
    _: Finance,
    start: From = None,
    end: To = None,
    account: AccountFilter = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[LedgerEntryPublic]:
    rules.check_range(start, end, limit_years=False)
    rules.check_account(account)
    query = select(LedgerEntry)
    if start is not None:
        query = query.where(col(LedgerEntry.date) >= start)
    if end is not None:
        query = query.where(col(LedgerEntry.date) <= end)
    if account is not None:
        touching = select(LedgerLine.entry_id).where(LedgerLine.account == account)
        query = query.where(col(LedgerEntry.id).in_(touching))
    page = await paginate(session, query, col(LedgerEntry.id), cursor, limit)
    lines = await ledger.lines_of(session, [entry.id for entry in page.items])
    return page.map(lambda entry: views.entry_public(entry, lines.get(entry.id, [])))


@router.get("/ledger/trial-balance", summary="Debit and credit per account up to a day")
async def trial_balance(
    session: SessionDep, uow: UoWDep, _: Finance, at: Annotated[date | None, Query()] = None
) -> TrialBalance:
    at = at or utcnow().date()
    return views.trial_balance(await ledger.balances(session, at), at, uow.settings.base_currency)


# -- reports ----------------------------------------------------------------------------------------


@router.get("/reports/aging", summary="Open receivables per account in five buckets by days past due")
async def aging_report(
    session: SessionDep, uow: UoWDep, _: Finance, at: Annotated[date | None, Query()] = None
) -> AgingReport:
    return AgingReport.model_validate(await reports.aging(session, at or utcnow().date(), uow.settings.base_currency))


@router.get("/reports/revenue", summary="Net revenue per month, buyer country or currency (base currency)")
async def revenue_report(
    session: SessionDep,
    uow: UoWDep,
    _: Finance,
    group_by: Annotated[Literal["month", "country", "currency"], Query()] = "month",
    start: From = None,
    end: To = None,
) -> Page[RevenueRow]:
    end = end or utcnow().date()
    start = start or end.replace(month=1, day=1)
    rules.check_range(start, end)
    rows = await reports.revenue(session, group_by, start, end, uow.settings.base_currency)
    return Page[RevenueRow](items=[RevenueRow.model_validate(row) for row in rows])


@router.get("/reports/cash-forecast", summary="Expected receipts and payments per week from due dates")
async def cash_forecast_report(
    session: SessionDep, uow: UoWDep, _: Finance, weeks: Annotated[int, Query(ge=1, le=104)] = 12
) -> Page[ForecastWeek]:
    rows = await reports.cash_forecast(session, utcnow().date(), weeks, uow.settings.base_currency)
    return Page[ForecastWeek](items=[ForecastWeek.model_validate(row) for row in rows])


# -- exports for the accountant --------------------------------------------------------------------


def _export_range(start: date | None, end: date | None) -> tuple[date, date]:
    end = end or utcnow().date()
    start = start or end.replace(month=1, day=1)
    rules.check_range(start, end)
    return start, end


@router.get(
    "/exports/journal.csv",
    summary="The journal as CSV (one row per entry line)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_journal_csv(session: SessionDep, _: Finance, start: From = None, end: To = None) -> Response:
    start, end = _export_range(start, end)
    body = await exports.journal_csv(session, start, end)
    name = f"journal-{start}-{end}.csv"
    return Response(
        body, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get(
    "/exports/quickbooks.iif",
    summary="The journal as QuickBooks IIF (!TRNS, !SPL, !ENDTRNS)",
    response_class=Response,
    responses={200: {"content": {"application/x-iif": {}}}},
)
async def export_quickbooks_iif(session: SessionDep, _: Finance, start: From = None, end: To = None) -> Response:
    start, end = _export_range(start, end)
    body = await exports.quickbooks_iif(session, start, end)
    name = f"journal-{start}-{end}.iif"
    return Response(
        body,
        media_type="application/x-iif; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- letters of credit --------------------------------------------------------------------------------

BillReader = Annotated[Principal, require_roles("finance", "procurement")]
LcReader = Annotated[Principal, require_roles("finance", "logistics", "sales")]


@router.post(
    "/letters-of-credit",
    status_code=201,
    summary="Record the letter of credit securing an order with terms letter_of_credit",
    responses={409: {"description": "the order's terms are not letter_of_credit"}, 422: {"description": "bad L/C"}},
)
async def create_letter_of_credit(data: LetterOfCreditCreate, uow: UoWDep, _: Finance) -> LetterOfCreditPublic:
    credit = await credits.record(uow, data)
    await uow.commit()
    return views.letter_of_credit_public(credit)


@router.get("/letters-of-credit", summary="Letters of credit, filtered by order")
async def list_letters_of_credit(
    session: SessionDep, _: LcReader, order_id: IdFilter = None, cursor: Cursor = None, limit: Limit = 50
) -> Page[LetterOfCreditPublic]:
    filters = {LetterOfCredit.order_id: order_id}
    page = await paginate(session, select(LetterOfCredit), col(LetterOfCredit.id), cursor, limit, filters=filters)
    return page.map(views.letter_of_credit_public)


@router.get("/letters-of-credit/{letter_of_credit_id}", summary="One letter of credit")
async def get_letter_of_credit(letter_of_credit_id: str, session: SessionDep, _: LcReader) -> LetterOfCreditPublic:
    credit = await get_or_404(
        session, LetterOfCredit, letter_of_credit_id, what="letter of credit", field="letter_of_credit_id"
    )
    return views.letter_of_credit_public(credit)


@router.post(
    "/letters-of-credit/{letter_of_credit_id}/presentations",
    status_code=201,
    summary="Documents presented under the L/C: the bank pays and the invoice is settled",
    responses={404: {"description": "unknown L/C"}, 409: {"description": "settled, expired, or nothing open"}},
)
async def present_documents(
    letter_of_credit_id: str, data: PresentationCreate, uow: UoWDep, who: Finance
) -> LetterOfCreditPublic:
    credit = await credits.present(uow, letter_of_credit_id, data, who.subject)
    await uow.commit()
    return views.letter_of_credit_public(credit)


# -- supplier bills -----------------------------------------------------------------------------------


@router.get("/bills", summary="Supplier bills, filtered by purchase order or status")
async def list_bills(
    session: SessionDep,
    _: BillReader,
    purchase_order_id: IdFilter = None,
    supplier_id: IdFilter = None,
    status: Annotated[BillStatus | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[SupplierBillPublic]:
    filters = {
        SupplierBill.purchase_order_id: purchase_order_id,
        SupplierBill.supplier_id: supplier_id,
        SupplierBill.status: status,
    }
    page = await paginate(session, select(SupplierBill), col(SupplierBill.id), cursor, limit, filters=filters)
    return page.map(views.supplier_bill_public)


@router.get("/bills/{bill_id}", summary="One supplier bill", responses={404: {"description": "unknown bill"}})
async def get_bill(bill_id: str, session: SessionDep, _: BillReader) -> SupplierBillPublic:
    return views.supplier_bill_public(await get_or_404(session, SupplierBill, bill_id, what="bill", field="bill_id"))


@router.post(
    "/bills/{bill_id}/payments",
    summary="Pay a supplier bill in full",
    responses={404: {"description": "unknown bill"}, 409: {"description": "the bill is paid"}},
)
async def pay_bill(bill_id: str, data: BillPaymentCreate, uow: UoWDep, _: Finance) -> SupplierBillPublic:
    bill = await bills.pay_bill(uow, bill_id, data)
    await uow.commit()
    return views.supplier_bill_public(bill)


# -- payment providers' webhooks (public: the signature is the authentication) -----------------------

webhooks = APIRouter(prefix="/api/v1/finance/webhooks", tags=["finance"])
WEBHOOK_ANSWERS = {400: {"description": "bad signature: nothing changed"}, 429: {"description": "rate limited"}}


def _limit(request: Request) -> None:
    config: FinanceConfig = request.app.state.config
    limiter: RateLimiter = request.app.state.webhook_limiter
    limiter.enforce(client_address(request, behind_gateway=config.behind_gateway), "webhook deliveries")


RateLimited = Depends(_limit)


def _keys(request: Request) -> tuple[FinanceConfig, Path]:
    """The finance config and where dev keys go; in prod a provider without its setting is refused."""
    return request.app.state.config, request.app.state.settings.data_dir


def _unconfigured(request: Request, setting: str) -> None:
    if request.app.state.settings.env == "prod":
        raise Unavailable(f"{setting} is not set: this provider is not configured", field=setting)


async def _receive(uow: UoW, delivery: providers.Delivery) -> dict[str, str]:
    event = await webhooks_domain.receive(uow, delivery)
    await uow.commit()
    return {"id": event.id, "status": event.status}


@webhooks.post(
    "/stripe", summary="Stripe events (Stripe-Signature)", responses=WEBHOOK_ANSWERS, dependencies=[RateLimited]
)
async def stripe_webhook(request: Request, uow: UoWDep) -> dict[str, str]:
    config, data_dir = _keys(request)
    secret = config.stripe_webhook_secret
    if not secret:
        _unconfigured(request, "HANSE_STRIPE_WEBHOOK_SECRET")
        secret = providers.dev_stripe_secret(data_dir)
    body = await request.body()
    try:
        delivery = providers.verify_stripe(body, request.headers.get("stripe-signature"), secret)
    except providers.BadSignature as exc:
        raise DomainError(str(exc), field="Stripe-Signature") from None
    return await _receive(uow, delivery)


@webhooks.post(
    "/paypal", summary="PayPal events (transmission signature)", responses=WEBHOOK_ANSWERS, dependencies=[RateLimited]
)
async def paypal_webhook(request: Request, uow: UoWDep) -> dict[str, str]:
    config, data_dir = _keys(request)
    if config.paypal_webhook_id and config.paypal_cert_file:
        webhook_id, cert = config.paypal_webhook_id, config.paypal_cert_file.read_bytes()
    else:
        _unconfigured(request, "HANSE_PAYPAL_CERT_FILE")
        webhook_id, cert = providers.dev_paypal(data_dir)
    body = await request.body()
    try:
        delivery = providers.verify_paypal(body, request.headers, webhook_id, cert)
    except providers.BadSignature as exc:
        raise DomainError(str(exc), field="PAYPAL-TRANSMISSION-SIG") from None
    return await _receive(uow, delivery)


@webhooks.post(
    "/alipay",
    summary="Alipay notifications (RSA2); answers the plain text `success` Alipay expects",
    response_class=PlainTextResponse,
    responses=WEBHOOK_ANSWERS,
    dependencies=[RateLimited],
)
async def alipay_webhook(request: Request, uow: UoWDep) -> PlainTextResponse:
    config, data_dir = _keys(request)
    if config.alipay_public_key_file:
        public_key = config.alipay_public_key_file.read_bytes()
    else:
        _unconfigured(request, "HANSE_ALIPAY_PUBLIC_KEY_FILE")
        public_key = providers.dev_alipay_public_key(data_dir)
    body = await request.body()
    try:
        delivery = providers.verify_alipay(body, public_key)
    except providers.BadSignature as exc:
        raise DomainError(str(exc), field="sign") from None
    await _receive(uow, delivery)
    return PlainTextResponse("success")


@router.get("/provider-events", summary="Provider deliveries: applied, ignored, or kept for review")
async def list_provider_events(
    session: SessionDep,
    _: Finance,
    status: Annotated[Literal["applied", "review", "ignored"] | None, Query()] = None,
    provider: Annotated[Literal["stripe", "paypal", "alipay"] | None, Query()] = None,
    invoice_id: IdFilter = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ProviderEventPublic]:
    filters = {ProviderEvent.status: status, ProviderEvent.provider: provider, ProviderEvent.invoice_id: invoice_id}
    page = await paginate(session, select(ProviderEvent), col(ProviderEvent.id), cursor, limit, filters=filters)
    return page.map(views.provider_event_public)
