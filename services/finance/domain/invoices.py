"""Invoices: the proforma on clearance, voiding and credit notes when an order closes, gap-free numbers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.db import next_in_series, upsert
from hanse.errors import PermanentEventError
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.money import ecb_rate, round_money
from services.finance import views
from services.finance.config import UoW
from services.finance.contract import (
    CreditNoteIssued,
    InvoiceIssued,
    InvoiceKind,
    InvoicePaid,
    InvoiceVoided,
    LetterOfCreditRecorded,
    PaymentReceived,
)
from services.finance.domain import ledger, rules
from services.finance.domain.rules import (
    RECEIVABLES,
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

FinanceEvent = InvoiceIssued | InvoicePaid | InvoiceVoided | PaymentReceived | CreditNoteIssued | LetterOfCreditRecorded

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


async def lock_order(session: AsyncSession, order_id: str) -> OrderFile:
    """The order's file, created if new and row-locked, so one order's events apply one at a time."""
    await session.exec(
        upsert(session, OrderFile.__table__)
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
    """Take the next number of the kind's series and year, in the caller's transaction (gap-free)."""
    series = SERIES[kind]
    sequence = await next_in_series(session, InvoiceCounter, series, year)
    return series, sequence, format_number(series, year, sequence)


async def _issue(
    uow: UoW, kind: InvoiceKind, now: datetime, status_override: str | None = None, **fields: Any
) -> Invoice:
    """Number, store, post and announce a new invoice of `kind` in the caller's transaction."""
    series, sequence, number = await next_number(uow.session, kind, now.year)
    invoice = Invoice(
        id=new_id("inv"),
        number=number,
        series=series,
        year=now.year,
        sequence=sequence,
        kind=kind,
        status=status_override or "issued",
        issued_at=now,
        paid_at=now if status_override == "paid" else None,
        **fields,
    )
    uow.session.add(invoice)
    await uow.session.flush()
    await ledger.post_invoice(uow.session, invoice)
    await announce(uow, views.invoice_issued(invoice))
    if kind == "credit_note":
        await announce(uow, views.credit_note_issued(invoice))
    return invoice


async def _invoice_of(session: AsyncSession, order_id: str, kind: InvoiceKind, ref: str = "") -> Invoice | None:
    query = select(Invoice).where(Invoice.order_id == order_id, Invoice.kind == kind, Invoice.ref == ref)
    return (await session.exec(query)).first()


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
    proforma = await _issue(
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
        named_place=order.named_place,
        language=order.language,
        buyer_name=order.company,
        buyer_email=order.email,
        payment_terms=order.payment_terms,
        lines=_with_duty_rates(figures.lines, imports),
        base_currency=base,
        fx_rate=fx_rate,
        fx_rate_date=fx_date,
        total_base=total_base,
        order_fx=[fx.model_dump(mode="json") for fx in order.fx],
        due_date=due_date(now.date(), order.payment_terms),
    )
    if file.shipment_id is not None:
        # The booking overtook the clearance (another topic): the commercial invoice is due now.
        await issue_commercial(uow, order.order_id, file.shipment_id, now)
    return proforma


# What the commercial invoice takes over from the proforma: the parties, the terms, the figures.
COMMERCIAL_TERMS = CREDITED_TERMS | {
    "goods",
    "freight",
    "insurance",
    "subtotal",
    "tax",
    "customs_duty",
    "import_vat",
    "duty",
    "total",
    "vat_note",
    "import_vat_rate",
    "customs_value",
    "lines",
    "named_place",
    "language",
    "buyer_name",
    "buyer_email",
}


async def issue_commercial(uow: UoW, order_id: str, shipment_id: str, now: datetime | None = None) -> Invoice | None:
    """The shipment was booked: issue the commercial invoice (INV) that supersedes the proforma.

    Its figures are the proforma's; its ECB rate is the issue day's. What was paid on the
    proforma is carried over; the proforma keeps its status, points to the commercial invoice
    (`superseded_by_id`), is open no more and takes no payments. In the ledger the proforma's
    entry is reversed, the commercial invoice posted, and the carried payments revalued (FX).
    Returns None when the order is closed or its proforma has not arrived yet (it follows then).
    """
    session = uow.session
    file = await lock_order(session, order_id)
    if file.shipment_id is None:
        file.shipment_id, file.booked_at = shipment_id, utcnow()
        session.add(file)
    if file.closed_at is not None:
        return None
    existing = await _invoice_of(session, order_id, "commercial")
    if existing is not None:
        return existing
    proforma = (
        await session.exec(
            select(Invoice)
            .where(Invoice.order_id == order_id, Invoice.kind == "proforma")
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if proforma is None or proforma.status == "void":
        return None
    now = now or utcnow()
    base = proforma.base_currency
    try:
        fx_rate, fx_date, total_base = _fx_to_base(proforma.total, proforma.currency, base, now.date())
    except ValueError as exc:
        raise PermanentEventError(f"order {order_id}: {exc}") from None
    carried = proforma.paid_amount
    settled = carried >= proforma.total
    paid_base = rules.receivable_share(total_base, ZERO, carried, proforma.total, base)
    commercial = await _issue(
        uow,
        "commercial",
        now,
        **proforma.model_dump(include=COMMERCIAL_TERMS),
        fx_rate=fx_rate,
        fx_rate_date=fx_date,
        total_base=total_base,
        paid_amount=carried,
        paid_base=paid_base,
        due_date=proforma.due_date if settled else due_date(now.date(), proforma.payment_terms),
        status_override="paid" if settled else None,
    )
    original = await ledger.entry_of(session, proforma.id, "invoice")
    if original is not None:
        await ledger.post_reversal(
            session,
            original,
            on=now.date(),
            memo=f"{proforma.number} superseded by {commercial.number}",
            source="supersede",
        )
    await ledger.post(
        session,
        rules.fx_difference(RECEIVABLES, proforma.paid_base - paid_base),
        on=now.date(),
        memo=f"FX on payments carried from {proforma.number} to {commercial.number}",
        source="fx",
        source_id=commercial.id,
        currency=base,
    )
    # The proforma keeps its status (issued or paid) as a record of what was asked for; it
    # takes no more payments and is open no more (`superseded_by_id`).
    proforma.superseded_by_id = commercial.id
    session.add(proforma)
    await session.flush()
    return commercial


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
            .where(
                Invoice.order_id == order_id,
                col(Invoice.kind).in_(["proforma", "commercial"]),
                # A superseded proforma's payments live on in the commercial invoice.
                col(Invoice.superseded_by_id).is_(None),
            )
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
            await ledger.post_void(session, invoice, invoice.voided_at.date())
            await announce(uow, views.invoice_voided(invoice))
        if received > 0:
            note = await issue_credit_note(uow, invoice, received, reason)
            if note is not None:
                changed.append(note)
    return changed


async def issue_credit_note(uow: UoW, invoice: Invoice, refund: Decimal, reason: str) -> Invoice | None:
    """Credit `refund` of a paid (or part-paid, then voided) invoice: one cancellation credit note per order."""
    if await _invoice_of(uow.session, invoice.order_id, "credit_note", "cancellation") is not None:
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
        named_place=invoice.named_place,
        language=invoice.language,
        buyer_name=invoice.buyer_name,
        buyer_email=invoice.buyer_email,
        ref="cancellation",
        due_date=now.date(),
    )


async def credit_return(uow: UoW, order_id: str, return_id: str, returned: dict[str, int]) -> Invoice | None:
    """A return was inspected: credit the received quantity at the invoiced unit price plus its VAT.

    One credit note per return (`ref` = the return id), against the order's live invoice (the
    commercial one, else the proforma). Import charges the seller bore (DDP) are not credited:
    they were paid to customs. None if the order has no invoice or nothing of it came back.
    """
    session = uow.session
    await lock_order(session, order_id)
    if await _invoice_of(session, order_id, "credit_note", return_id) is not None:
        return None
    invoice = await _invoice_of(session, order_id, "commercial") or await _invoice_of(session, order_id, "proforma")
    if invoice is None or invoice.status == "void":
        return None
    cur = invoice.currency
    lines = rules.returned_lines(invoice.lines, returned, cur)
    if not lines:
        return None
    subtotal = sum((Decimal(line["amount"]) for line in lines), ZERO)
    tax = round_money(subtotal * invoice.vat_rate, cur)
    total = subtotal + tax
    now = utcnow()
    total_base = round_money(total * invoice.fx_rate, invoice.base_currency) if invoice.fx_rate is not None else total
    return await _issue(
        uow,
        "credit_note",
        now,
        **invoice.model_dump(include=CREDITED_TERMS),
        **dict.fromkeys(("goods", "freight", "insurance", "customs_duty", "import_vat", "duty"), ZERO),
        subtotal=-subtotal,
        tax=-tax,
        total=-total,
        vat_note=f"Credit note for invoice {invoice.number}: goods returned ({return_id})"
        + (f". {invoice.vat_note}" if invoice.vat_note else ""),
        lines=lines,
        fx_rate=invoice.fx_rate,
        fx_rate_date=invoice.fx_rate_date,
        total_base=-total_base,
        credited_invoice_id=invoice.id,
        named_place=invoice.named_place,
        language=invoice.language,
        buyer_name=invoice.buyer_name,
        buyer_email=invoice.buyer_email,
        return_id=return_id,
        ref=return_id,
        due_date=now.date(),
    )
