"""Invoices: the proforma on clearance, voiding and credit notes when an order closes, gap-free numbers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import PermanentEventError
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.money import ecb_rate, round_money
from services.finance import views
from services.finance.config import UoW
from services.finance.contract import InvoiceIssued, InvoiceKind, InvoicePaid, InvoiceVoided, PaymentReceived
from services.finance.domain.rules import (
    SERIES,
    ZERO,
    ImportCharges,
    credit_note_figures,
    due_date,
    format_number,
    price_invoice,
)
from services.finance.models import Invoice, InvoiceCounter, OrderFile
from services.sales.contract import OrderTerms

FinanceEvent = InvoiceIssued | InvoicePaid | InvoiceVoided | PaymentReceived

# What a credit note takes over from the invoice it credits: the parties, the terms, the VAT.
CREDITED_TERMS = {
    "order_id",
    "account_id",
    "currency",
    "vat_treatment",
    "vat_rate",
    "seller_country",
    "buyer_country",
    "destination_country",
    "vat_id",
    "incoterm",
    "payment_terms",
    "base_currency",
    "order_fx",
}


async def announce(uow: UoW, event: FinanceEvent) -> None:
    """Publish a finance event: it carries its cause's correlation id, or (from HTTP) its order's."""
    await uow.publish(event, correlation_id=uow.correlation_id or event.order_id)


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def lock_order(session: AsyncSession, order_id: str) -> OrderFile:
    """The order's file, created if new and row-locked, so one order's events apply one at a time."""
    await session.exec(
        _insert(session, OrderFile.__table__)
        .values(order_id=order_id)
        .on_conflict_do_nothing(index_elements=["order_id"])
    )
    query = (
        select(OrderFile)
        .where(OrderFile.order_id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.exec(query)).one()


async def next_number(session: AsyncSession, kind: str, year: int) -> tuple[str, int, str]:
    """Take the next number of the kind's series and year, in the caller's transaction.

    The UPDATE locks the counter row until the caller commits (PostgreSQL; SQLite's BEGIN
    IMMEDIATE already serialises writers), and a rollback gives the number back: no gaps.
    """
    series = SERIES[kind]
    await session.exec(
        _insert(session, InvoiceCounter.__table__)
        .values(series=series, year=year, last=0)
        .on_conflict_do_nothing(index_elements=["series", "year"])
    )
    result = await session.exec(
        update(InvoiceCounter)
        .where(col(InvoiceCounter.series) == series, col(InvoiceCounter.year) == year)
        .values(last=InvoiceCounter.last + 1)
        .returning(InvoiceCounter.last)
    )
    sequence = int(result.scalar_one())
    return series, sequence, format_number(series, year, sequence)


async def _issue(uow: UoW, kind: InvoiceKind, now: datetime, **fields: Any) -> Invoice:
    """Number, store and announce a new invoice of `kind` in the caller's transaction."""
    series, sequence, number = await next_number(uow.session, kind, now.year)
    invoice = Invoice(
        id=new_id("inv"),
        number=number,
        series=series,
        year=now.year,
        sequence=sequence,
        kind=kind,
        status="issued",
        issued_at=now,
        **fields,
    )
    uow.session.add(invoice)
    await uow.session.flush()
    await announce(uow, views.invoice_issued(invoice))
    return invoice


async def _invoice_of(session: AsyncSession, order_id: str, kind: InvoiceKind) -> Invoice | None:
    return (await session.exec(select(Invoice).where(Invoice.order_id == order_id, Invoice.kind == kind))).first()


def _fx_to_base(amount: Decimal, currency: str, base: str, on: date) -> tuple[Decimal | None, date | None, Decimal]:
    if currency == base:
        return None, None, amount
    fx = ecb_rate(currency, base, on)
    return fx.rate, fx.rate_date, round_money(amount * fx.rate, base)


async def issue_proforma(uow: UoW, order: OrderTerms, now: datetime | None = None) -> Invoice | None:
    """Issue the order's one proforma invoice; None when the order was cancelled or rejected first."""
    file = await lock_order(uow.session, order.order_id)
    if file.closed_at is not None:
        return None
    existing = await _invoice_of(uow.session, order.order_id, "proforma")
    if existing is not None:
        return existing
    now = now or utcnow()
    base = uow.settings.base_currency
    try:
        figures = price_invoice(order, uow.settings.seller_country)
        fx_rate, fx_date, total_base = _fx_to_base(figures.total, figures.currency, base, now.date())
    except ValueError as exc:
        raise PermanentEventError(f"order {order.order_id}: {exc}") from None
    imports = figures.imports
    return await _issue(
        uow,
        "proforma",
        now,
        order_id=order.order_id,
        account_id=order.account_id,
        currency=figures.currency,
        goods=figures.goods,
        freight=figures.freight,
        insurance=figures.insurance,
        subtotal=figures.subtotal,
        tax=figures.tax,
        customs_duty=imports.customs_duty if imports else ZERO,
        import_vat=imports.import_vat if imports else ZERO,
        duty=figures.duty,
        total=figures.total,
        vat_treatment=figures.vat.treatment,
        vat_rate=figures.vat.rate,
        vat_note=figures.vat.note,
        import_vat_rate=imports.import_vat_rate if imports else None,
        customs_value=imports.customs_value if imports else None,
        seller_country=uow.settings.seller_country.upper(),
        buyer_country=order.buyer_country.upper(),
        destination_country=order.destination_country.upper(),
        vat_id=order.vat_id,
        incoterm=order.incoterm.upper(),
        payment_terms=order.payment_terms,
        lines=_with_duty_rates(figures.lines, imports),
        base_currency=base,
        fx_rate=fx_rate,
        fx_rate_date=fx_date,
        total_base=total_base,
        order_fx=[fx.model_dump(mode="json") for fx in order.fx],
        due_date=due_date(now.date(), order.payment_terms),
    )


def _with_duty_rates(lines: list[dict[str, Any]], imports: ImportCharges | None) -> list[dict[str, Any]]:
    if imports is None:
        return lines
    return [{**line, "duty_rate": str(rate)} for line, rate in zip(lines, imports.line_duty_rates, strict=True)]


async def close_order(uow: UoW, order_id: str, reason: str) -> list[Invoice]:
    """An order was cancelled or rejected: tombstone it, void what is open, credit what was paid.

    Returns the invoices changed or issued (voided invoices and credit notes).
    """
    session = uow.session
    file = await lock_order(session, order_id)
    if file.closed_at is None:
        file.closed_at = utcnow()
        file.close_reason = reason
        session.add(file)
    invoices = (
        await session.exec(
            select(Invoice)
            .where(Invoice.order_id == order_id, col(Invoice.kind).in_(["proforma", "commercial"]))
            .order_by(col(Invoice.issued_at))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    changed: list[Invoice] = []
    for invoice in invoices:
        received = invoice.paid_amount
        if invoice.status == "issued":
            invoice.status = "void"
            invoice.voided_at = utcnow()
            invoice.void_reason = reason
            session.add(invoice)
            changed.append(invoice)
            await session.flush()
            await announce(uow, views.invoice_voided(invoice))
        if received > 0:
            note = await issue_credit_note(uow, invoice, received, reason)
            if note is not None:
                changed.append(note)
    return changed


async def issue_credit_note(uow: UoW, invoice: Invoice, refund: Decimal, reason: str) -> Invoice | None:
    """Credit `refund` of a paid (or part-paid, then voided) invoice: one credit note per order."""
    if await _invoice_of(uow.session, invoice.order_id, "credit_note") is not None:
        return None
    cur = invoice.currency
    subtotal, tax, duty, total = credit_note_figures(
        round_money(invoice.subtotal, cur),
        round_money(invoice.tax, cur),
        round_money(invoice.duty, cur),
        round_money(invoice.total, cur),
        round_money(refund, cur),
        cur,
    )
    now = utcnow()
    fx_rate, fx_date, total_base = (
        (invoice.fx_rate, invoice.fx_rate_date, round_money(total * invoice.fx_rate, invoice.base_currency))
        if invoice.fx_rate is not None
        else (None, None, total)
    )
    return await _issue(
        uow,
        "credit_note",
        now,
        **invoice.model_dump(include=CREDITED_TERMS),
        # It credits money, not a delivery: no goods, freight or import charges of its own.
        **dict.fromkeys(("goods", "freight", "insurance", "customs_duty", "import_vat"), ZERO),
        subtotal=subtotal,
        tax=tax,
        duty=duty,
        total=total,
        vat_note=f"Credit note for invoice {invoice.number}: {reason}",
        lines=[],
        fx_rate=fx_rate,
        fx_rate_date=fx_date,
        total_base=total_base,
        credited_invoice_id=invoice.id,
        due_date=now.date(),
    )
