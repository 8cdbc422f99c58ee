"""Business rules of the finance department: VAT, duty, invoice numbering, payments and voiding."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from stdnum.eu import vat as eu_vat

from hanse.errors import Conflict, Invalid, NotFound, PermanentEventError
from hanse.events import EventPayload, utcnow
from hanse.ids import new_id
from hanse.money import Money, ecb_rate, minor_unit, round_money
from hanse.settings import Settings
from services.finance.contract import InvoiceIssued, InvoicePaid, InvoiceVoided, PaymentReceived
from services.finance.models import (
    Invoice,
    InvoiceCounter,
    InvoicePublic,
    OrderFile,
    Payment,
    PaymentCreate,
    PaymentPublic,
)
from services.sales.contract import OrderTerms

Publish = Callable[[EventPayload], Awaitable[Any]]

DATA = Path(__file__).parent / "data"
SERIES = {"proforma": "PF", "commercial": "INV", "credit_note": "CN"}
ZERO = Decimal(0)


# -- rate tables ---------------------------------------------------------------------------------------


def _load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


_VAT = _load("vat_rates.json")
_DUTY = _load("duty_rates.json")

EU_VAT_RATES: dict[str, Decimal] = {c: Decimal(r) for c, r in _VAT["eu_standard"].items()}
NON_EU_VAT_RATES: dict[str, Decimal] = {c: Decimal(r) for c, r in _VAT["non_eu_standard"].items()}
NON_EU_DEFAULT_VAT = Decimal(_VAT["non_eu_default"])
EU_MEMBERS = frozenset(EU_VAT_RATES)
DEFAULT_DUTY = Decimal(_DUTY["default"])
DUTY_RATES: dict[str, tuple[Decimal, dict[str, Decimal]]] = {
    dest: (Decimal(entry["default"]), {ch: Decimal(r) for ch, r in entry["chapters"].items()})
    for dest, entry in _DUTY["destinations"].items()
}


def is_eu(country: str) -> bool:
    return country.upper() in EU_MEMBERS


def standard_vat_rate(country: str) -> Decimal:
    """The standard VAT/GST rate of a country: EU table, the non-EU table, else the default."""
    country = country.upper()
    if country in EU_VAT_RATES:
        return EU_VAT_RATES[country]
    return NON_EU_VAT_RATES.get(country, NON_EU_DEFAULT_VAT)


def duty_rate(destination: str, hs_code: str) -> Decimal:
    """Import duty rate for goods of `hs_code` (its chapter: the first two digits) entering `destination`."""
    destination = destination.upper()
    key = "EU" if destination in EU_MEMBERS else destination
    if key not in DUTY_RATES:
        return DEFAULT_DUTY
    default, chapters = DUTY_RATES[key]
    return chapters.get(hs_code.strip()[:2], default)


# -- VAT -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VatDecision:
    treatment: str  # domestic | reverse_charge | eu_b2c_destination | export_zero_rated
    rate: Decimal
    note: str | None = None


def vat_id_country(vat_id: str) -> str:
    prefix = eu_vat.compact(vat_id)[:2].upper()
    return "GR" if prefix == "EL" else prefix


def usable_vat_id(vat_id: str | None, vat_id_valid: bool, seller_country: str) -> bool:
    """Reverse charge needs a VAT id sales validated, that is well-formed, of another EU member."""
    if not vat_id or not vat_id_valid:
        return False
    try:
        if not eu_vat.is_valid(vat_id):
            return False
        country = vat_id_country(vat_id)
    except Exception:  # stdnum raises on odd input; an odd id is simply not usable
        return False
    return country in EU_MEMBERS and country != seller_country.upper()


def decide_vat(
    seller_country: str,
    buyer_country: str,
    destination_country: str,
    vat_id: str | None = None,
    vat_id_valid: bool = False,
) -> VatDecision:
    """Which VAT applies to a sale of goods (PRODUCT.md): domestic, reverse charge, B2C destination, export.

    The destination (where the goods go) decides whether it is an export: goods leaving the EU
    are zero-rated whoever the buyer is; goods staying in the seller's country are a domestic sale.
    """
    seller, buyer, dest = seller_country.upper(), buyer_country.upper(), destination_country.upper()
    home = VatDecision("domestic", standard_vat_rate(seller))
    if not is_eu(seller):
        # A seller outside the EU: its own VAT at home, everything else leaves the country.
        if dest == seller:
            return home
        return VatDecision("export_zero_rated", ZERO, f"Zero-rated export from {seller} to {dest}.")
    if not is_eu(dest):
        return VatDecision(
            "export_zero_rated",
            ZERO,
            f"Zero-rated export of goods to {dest} (Art. 146 Directive 2006/112/EC).",
        )
    if dest == seller or buyer == seller:
        return home
    if is_eu(buyer) and usable_vat_id(vat_id, vat_id_valid, seller):
        return VatDecision(
            "reverse_charge",
            ZERO,
            f"Reverse charge: VAT to be accounted for by the recipient, VAT id {eu_vat.compact(vat_id or '')} "
            "(Art. 196 Directive 2006/112/EC).",
        )
    rate = standard_vat_rate(dest)
    return VatDecision(
        "eu_b2c_destination", rate, f"VAT at the standard rate of {dest} ({(rate * 100).normalize():f} %)."
    )


# -- import charges (DDP) and the invoice figures --------------------------------------------------


def crosses_customs_border(seller_country: str, destination_country: str) -> bool:
    """Goods pay import duty and import VAT unless they stay home or move inside the EU customs union."""
    seller, dest = seller_country.upper(), destination_country.upper()
    return seller != dest and not (is_eu(seller) and is_eu(dest))


@dataclass(frozen=True)
class ImportCharges:
    customs_value: Decimal
    customs_duty: Decimal
    import_vat_rate: Decimal
    import_vat: Decimal
    line_duty_rates: tuple[Decimal, ...]

    @property
    def total(self) -> Decimal:
        return self.customs_duty + self.import_vat


def import_charges(order: OrderTerms, seller_country: str) -> ImportCharges | None:
    """Duty and import VAT the seller bears under DDP, or None when there are none to bear.

    Customs value = goods + freight + insurance; freight and insurance are apportioned to the
    lines by value, so each line pays the duty rate of its own HS chapter.
    """
    if order.incoterm.upper() != "DDP" or not crosses_customs_border(seller_country, order.destination_country):
        return None
    cur = order.currency.upper()
    dest = order.destination_country
    customs_value = order.total.amount
    amounts = [line.amount for line in order.lines]
    goods = sum(amounts, ZERO)
    rates = tuple(duty_rate(dest, line.hs_code) for line in order.lines)
    if goods > 0:
        duty = sum((rate * customs_value * amount / goods for rate, amount in zip(rates, amounts, strict=True)), ZERO)
    else:
        duty = duty_rate(dest, "") * customs_value
    customs_duty = round_money(duty, cur)
    import_vat_rate = standard_vat_rate(dest)
    import_vat = round_money((customs_value + customs_duty) * import_vat_rate, cur)
    return ImportCharges(customs_value, customs_duty, import_vat_rate, import_vat, rates)


@dataclass(frozen=True)
class InvoiceFigures:
    currency: str
    goods: Decimal
    freight: Decimal
    insurance: Decimal
    subtotal: Decimal
    vat: VatDecision
    tax: Decimal
    imports: ImportCharges | None
    duty: Decimal
    total: Decimal
    lines: list[dict[str, Any]]


def price_invoice(order: OrderTerms, seller_country: str) -> InvoiceFigures:
    """The invoice of an order: subtotal (goods + freight + insurance), tax, duty, total, per currency."""
    cur = order.currency.upper()
    moneys = {"total": order.total, "subtotal": order.subtotal, "freight": order.freight, "insurance": order.insurance}
    for name, money in moneys.items():
        if money is not None and money.currency != cur:
            raise ValueError(f"order {name} is in {money.currency}, the order in {order.currency}")
    for name, country in (("buyer_country", order.buyer_country), ("destination_country", order.destination_country)):
        if len(country) != 2 or not country.isalpha():
            raise ValueError(f"{name} {country!r} is not an ISO 3166 alpha-2 code")
    freight = round_money(order.freight.amount, cur) if order.freight else ZERO
    insurance = round_money(order.insurance.amount, cur) if order.insurance else ZERO
    subtotal = round_money(order.total.amount, cur)
    vat = decide_vat(seller_country, order.buyer_country, order.destination_country, order.vat_id, order.vat_id_valid)
    tax = round_money(subtotal * vat.rate, cur)
    imports = import_charges(order, seller_country)
    duty = imports.total if imports else ZERO
    lines = [
        {
            "sku": line.sku,
            "name": line.name,
            "quantity": line.quantity,
            "unit_price": str(line.unit_price),
            "amount": str(round_money(line.amount, cur)),
            "hs_code": line.hs_code,
            "origin_country": line.origin_country,
        }
        for line in order.lines
    ]
    return InvoiceFigures(
        currency=cur,
        goods=round_money(order.subtotal.amount, cur),
        freight=freight,
        insurance=insurance,
        subtotal=subtotal,
        vat=vat,
        tax=tax,
        imports=imports,
        duty=duty,
        total=subtotal + tax + duty,
        lines=lines,
    )


def credit_note_figures(
    subtotal: Decimal, tax: Decimal, duty: Decimal, total: Decimal, refund: Decimal, currency: str
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """Negative (subtotal, tax, duty, total) crediting `refund` of an invoice, split in its proportions.

    A fully paid invoice is credited exactly; a part payment is split pro rata, the tax taking
    the rounding so the parts always add up to the refund.
    """
    if total <= 0 or refund <= 0:
        return ZERO, ZERO, ZERO, ZERO
    if refund >= total:
        return -subtotal, -tax, -duty, -total
    share_subtotal = round_money(subtotal * refund / total, currency)
    share_duty = round_money(duty * refund / total, currency)
    share_tax = refund - share_subtotal - share_duty
    return -share_subtotal, -share_tax, -share_duty, -refund


def due_date(issued_on: date, payment_terms: str) -> date:
    """prepaid: due on issue; net_30: thirty days later."""
    if payment_terms == "net_30":
        return issued_on + timedelta(days=30)
    return issued_on


def format_number(series: str, year: int, sequence: int) -> str:
    return f"{series}-{year}-{sequence:06d}"


def open_amount(kind: str, status: str, total: Decimal, paid: Decimal) -> Decimal:
    """What is still to be collected; a credit note's (negative) total is what is owed to the buyer."""
    if status != "issued":
        return ZERO
    if kind == "credit_note":
        return total
    return total - paid


def check_payment(kind: str, status: str, currency: str, open_now: Decimal, amount: Money) -> None:
    """A payment must be in the invoice currency, positive, in minor units, and no more than is open."""
    if kind == "credit_note":
        raise Conflict("a credit note is refunded to the buyer, not paid", field="invoice_id")
    if status != "issued":
        raise Conflict(f"the invoice is {status} and takes no payments", field="invoice_id", status_now=status)
    if amount.currency != currency:
        raise Invalid(f"the invoice is in {currency}, the payment in {amount.currency}", field="amount.currency")
    if amount.amount > open_now:
        raise Invalid(f"{amount.amount} is more than the open amount {open_now} {currency}", field="amount.amount")


def check_amount(amount: Money) -> None:
    """Input rules needing no database: positive and no finer than the currency's minor unit."""
    if amount.amount <= 0:
        raise Invalid("amount must be greater than zero", field="amount.amount")
    exponent = amount.amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < minor_unit(amount.currency).as_tuple().exponent:
        raise Invalid(f"{amount.amount} has more decimals than {amount.currency} allows", field="amount.amount")


# -- presentation ----------------------------------------------------------------------------------------


def _money(amount: Decimal, currency: str) -> Money:
    value = round_money(amount, currency)
    return Money(amount=value if value != 0 else abs(value), currency=currency)


def invoice_public(invoice: Invoice) -> InvoicePublic:
    cur = invoice.currency
    return InvoicePublic(
        id=invoice.id,
        number=invoice.number,
        kind=invoice.kind,  # type: ignore[arg-type]
        status=invoice.status,  # type: ignore[arg-type]
        currency=cur,
        subtotal=_money(invoice.subtotal, cur),
        tax=_money(invoice.tax, cur),
        duty=_money(invoice.duty, cur),
        total=_money(invoice.total, cur),
        order_id=invoice.order_id,
        account_id=invoice.account_id,
        vat_treatment=invoice.vat_treatment,  # type: ignore[arg-type]
        vat_rate=invoice.vat_rate.normalize() if invoice.vat_rate else ZERO,
        vat_note=invoice.vat_note,
        goods=_money(invoice.goods, cur),
        freight=_money(invoice.freight, cur),
        insurance=_money(invoice.insurance, cur),
        customs_value=_money(invoice.customs_value, cur) if invoice.customs_value is not None else None,
        customs_duty=_money(invoice.customs_duty, cur),
        import_vat=_money(invoice.import_vat, cur),
        import_vat_rate=invoice.import_vat_rate.normalize() if invoice.import_vat_rate is not None else None,
        lines=[
            {
                **line,
                "unit_price": {"amount": line["unit_price"], "currency": cur},
                "amount": {"amount": line["amount"], "currency": cur},
            }
            for line in invoice.lines
        ],
        open_amount=_money(open_amount(invoice.kind, invoice.status, invoice.total, invoice.paid_amount), cur),
        paid_amount=_money(invoice.paid_amount, cur),
        base_currency=invoice.base_currency,
        fx_rate=invoice.fx_rate.normalize() if invoice.fx_rate is not None else None,
        fx_rate_date=invoice.fx_rate_date,
        total_base=_money(invoice.total_base, invoice.base_currency) if invoice.total_base is not None else None,
        order_fx=invoice.order_fx,
        seller_country=invoice.seller_country,
        buyer_country=invoice.buyer_country,
        destination_country=invoice.destination_country,
        vat_id=invoice.vat_id,
        incoterm=invoice.incoterm,
        payment_terms=invoice.payment_terms,
        credited_invoice_id=invoice.credited_invoice_id,
        issued_at=invoice.issued_at,
        due_date=invoice.due_date,
        paid_at=invoice.paid_at,
        voided_at=invoice.voided_at,
        void_reason=invoice.void_reason,
    )


def payment_public(payment: Payment) -> PaymentPublic:
    return PaymentPublic(
        id=payment.id,
        invoice_id=payment.invoice_id,
        order_id=payment.order_id,
        amount=_money(payment.amount, payment.currency),
        method=payment.method,  # type: ignore[arg-type]
        reference=payment.reference,
        received_at=payment.received_at,
        open_amount=_money(payment.open_amount, payment.currency),
    )


def issued_event(invoice: Invoice) -> InvoiceIssued:
    public = invoice_public(invoice)
    return InvoiceIssued(
        invoice_id=invoice.id,
        number=invoice.number,
        kind=public.kind,
        order_id=invoice.order_id,
        account_id=invoice.account_id,
        currency=invoice.currency,
        subtotal=public.subtotal,
        tax=public.tax,
        duty=public.duty,
        total=public.total,
        vat_treatment=invoice.vat_treatment,
        due_date=invoice.due_date,
        vat_rate=public.vat_rate,
        vat_note=invoice.vat_note,
        total_base=public.total_base,
        fx_rate=public.fx_rate,
        fx_rate_date=invoice.fx_rate_date,
        credited_invoice_id=invoice.credited_invoice_id,
    )


# -- with the database -------------------------------------------------------------------------------------


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


def _fx_to_base(amount: Decimal, currency: str, base: str, on: date) -> tuple[Decimal | None, date | None, Decimal]:
    if currency == base:
        return None, None, amount
    fx = ecb_rate(currency, base, on)
    return fx.rate, fx.rate_date, round_money(amount * fx.rate, base)


async def issue_proforma(
    session: AsyncSession, order: OrderTerms, settings: Settings, publish: Publish, now: datetime | None = None
) -> Invoice | None:
    """Issue the order's one proforma invoice; None when the order was cancelled or rejected first."""
    file = await lock_order(session, order.order_id)
    if file.closed_at is not None:
        return None
    existing = (
        await session.exec(select(Invoice).where(Invoice.order_id == order.order_id, Invoice.kind == "proforma"))
    ).first()
    if existing is not None:
        return existing
    try:
        figures = price_invoice(order, settings.seller_country)
    except ValueError as exc:
        raise PermanentEventError(f"order {order.order_id}: {exc}") from None
    now = now or utcnow()
    base = settings.base_currency
    try:
        fx_rate, fx_date, total_base = _fx_to_base(figures.total, figures.currency, base, now.date())
    except ValueError as exc:
        raise PermanentEventError(f"order {order.order_id}: {exc}") from None
    series, sequence, number = await next_number(session, "proforma", now.year)
    imports = figures.imports
    invoice = Invoice(
        id=new_id("inv"),
        number=number,
        series=series,
        year=now.year,
        sequence=sequence,
        kind="proforma",
        status="issued",
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
        seller_country=settings.seller_country.upper(),
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
        issued_at=now,
        due_date=due_date(now.date(), order.payment_terms),
    )
    session.add(invoice)
    await session.flush()
    await publish(issued_event(invoice))
    return invoice


def _with_duty_rates(lines: list[dict[str, Any]], imports: ImportCharges | None) -> list[dict[str, Any]]:
    if imports is None:
        return lines
    return [{**line, "duty_rate": str(rate)} for line, rate in zip(lines, imports.line_duty_rates, strict=True)]


async def close_order(session: AsyncSession, order_id: str, reason: str, publish: Publish) -> list[Invoice]:
    """An order was cancelled or rejected: tombstone it, void what is open, credit what was paid.

    Returns the invoices changed or issued (voided invoices and credit notes).
    """
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
            await publish(InvoiceVoided(invoice_id=invoice.id, order_id=order_id, reason=reason))
        if received > 0:
            note = await issue_credit_note(session, invoice, received, reason, publish)
            if note is not None:
                changed.append(note)
    return changed


async def issue_credit_note(
    session: AsyncSession, invoice: Invoice, refund: Decimal, reason: str, publish: Publish
) -> Invoice | None:
    """Credit `refund` of a paid (or part-paid, then voided) invoice: one credit note per order."""
    existing = (
        await session.exec(select(Invoice).where(Invoice.order_id == invoice.order_id, Invoice.kind == "credit_note"))
    ).first()
    if existing is not None:
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
    series, sequence, number = await next_number(session, "credit_note", now.year)
    note = Invoice(
        id=new_id("inv"),
        number=number,
        series=series,
        year=now.year,
        sequence=sequence,
        kind="credit_note",
        status="issued",
        order_id=invoice.order_id,
        account_id=invoice.account_id,
        currency=cur,
        goods=ZERO,
        freight=ZERO,
        insurance=ZERO,
        subtotal=subtotal,
        tax=tax,
        customs_duty=ZERO,
        import_vat=ZERO,
        duty=duty,
        total=total,
        vat_treatment=invoice.vat_treatment,
        vat_rate=invoice.vat_rate,
        vat_note=f"Credit note for invoice {invoice.number}: {reason}",
        seller_country=invoice.seller_country,
        buyer_country=invoice.buyer_country,
        destination_country=invoice.destination_country,
        vat_id=invoice.vat_id,
        incoterm=invoice.incoterm,
        payment_terms=invoice.payment_terms,
        lines=[],
        base_currency=invoice.base_currency,
        fx_rate=fx_rate,
        fx_rate_date=fx_date,
        total_base=total_base,
        order_fx=invoice.order_fx,
        credited_invoice_id=invoice.id,
        issued_at=now,
        due_date=now.date(),
    )
    session.add(note)
    await session.flush()
    await publish(issued_event(note))
    return note


async def get_invoice(session: AsyncSession, invoice_id: str) -> Invoice:
    invoice = await session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound(f"no invoice {invoice_id}", field="invoice_id")
    return invoice


async def get_payment(session: AsyncSession, payment_id: str) -> Payment:
    payment = await session.get(Payment, payment_id)
    if payment is None:
        raise NotFound(f"no payment {payment_id}", field="payment_id")
    return payment


async def receive_payment(
    session: AsyncSession, data: PaymentCreate, received_by: str, settings: Settings, publish: Publish
) -> Payment:
    """Book a payment against an issued invoice; the payment that settles it marks it paid."""
    check_amount(data.amount)
    invoice = (
        await session.exec(
            select(Invoice)
            .where(Invoice.id == data.invoice_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if invoice is None:
        raise Invalid(f"no invoice {data.invoice_id}", field="invoice_id")
    cur = invoice.currency
    total = round_money(invoice.total, cur)
    open_before = open_amount(invoice.kind, invoice.status, total, round_money(invoice.paid_amount, cur))
    check_payment(invoice.kind, invoice.status, cur, open_before, data.amount)
    amount = round_money(data.amount.amount, cur)
    now = utcnow()
    invoice.paid_amount = round_money(invoice.paid_amount, cur) + amount
    open_after = total - invoice.paid_amount
    payment = Payment(
        id=new_id("pay"),
        invoice_id=invoice.id,
        order_id=invoice.order_id,
        amount=amount,
        currency=cur,
        method=data.method,
        reference=data.reference,
        open_amount=open_after,
        received_at=now,
        received_by=received_by,
    )
    if open_after == 0:
        invoice.status = "paid"
        invoice.paid_at = now
    session.add_all([invoice, payment])
    await session.flush()
    await publish(
        PaymentReceived(
            payment_id=payment.id,
            invoice_id=invoice.id,
            order_id=invoice.order_id,
            amount=_money(amount, cur),
            method=payment.method,
            reference=payment.reference,
            open_amount=_money(open_after, cur),
        )
    )
    if invoice.status == "paid":
        await publish(paid_event(invoice))
    return payment


def paid_event(invoice: Invoice) -> InvoicePaid:
    """The invoice total in the base currency at the ECB rate stored on the invoice (rate 1 if same)."""
    cur, base = invoice.currency, invoice.base_currency
    total = round_money(invoice.total, cur)
    if invoice.fx_rate is not None and invoice.fx_rate_date is not None:
        rate, rate_date = invoice.fx_rate, invoice.fx_rate_date
    else:
        rate, rate_date = Decimal(1), invoice.issued_at.date()
    return InvoicePaid(
        invoice_id=invoice.id,
        order_id=invoice.order_id,
        total=_money(total, cur),
        total_base=_money(total * rate, base),
        fx_rate=rate.normalize() if rate != 1 else Decimal(1),
        fx_rate_date=rate_date,
    )
