"""Finance rows as answers and as event payloads: every shape finance shows is built here."""

from __future__ import annotations

from decimal import Decimal

from hanse.money import Money, round_money
from hanse.views import from_row
from services.finance.contract import InvoiceIssued, InvoicePaid, InvoiceVoided, PaymentReceived
from services.finance.domain.rules import open_amount
from services.finance.models import Invoice, InvoicePublic, Payment, PaymentPublic

# The invoice's amounts that are always present, all in the invoice currency.
INVOICE_AMOUNTS = (
    "subtotal",
    "tax",
    "duty",
    "total",
    "goods",
    "freight",
    "insurance",
    "customs_duty",
    "import_vat",
    "paid_amount",
)


def money(amount: Decimal, currency: str) -> Money:
    """Rounded to the currency's minor unit, and never "-0.00"."""
    value = round_money(amount, currency)
    return Money(amount=value if value != 0 else abs(value), currency=currency)


def _rate(rate: Decimal | None) -> Decimal | None:
    return rate.normalize() if rate is not None else None


def invoice_public(invoice: Invoice) -> InvoicePublic:
    cur = invoice.currency
    lines = [
        {
            **line,
            "unit_price": {"amount": line["unit_price"], "currency": cur},
            "amount": {"amount": line["amount"], "currency": cur},
        }
        for line in invoice.lines
    ]
    due = open_amount(invoice.kind, invoice.status, invoice.total, invoice.paid_amount)
    return InvoicePublic.model_validate(
        invoice,
        update={
            **{name: money(getattr(invoice, name), cur) for name in INVOICE_AMOUNTS},
            "customs_value": money(invoice.customs_value, cur) if invoice.customs_value is not None else None,
            "total_base": money(invoice.total_base, invoice.base_currency) if invoice.total_base is not None else None,
            "open_amount": money(due, cur),
            "vat_rate": invoice.vat_rate.normalize(),
            "import_vat_rate": _rate(invoice.import_vat_rate),
            "fx_rate": _rate(invoice.fx_rate),
            "lines": lines,
        },
    )


def payment_public(payment: Payment) -> PaymentPublic:
    cur = payment.currency
    return PaymentPublic.model_validate(
        payment, update={"amount": money(payment.amount, cur), "open_amount": money(payment.open_amount, cur)}
    )


def invoice_issued(invoice: Invoice) -> InvoiceIssued:
    return from_row(InvoiceIssued, invoice_public(invoice), invoice_id=invoice.id)


def payment_received(payment: Payment) -> PaymentReceived:
    return from_row(PaymentReceived, payment_public(payment), payment_id=payment.id)


def invoice_paid(invoice: Invoice) -> InvoicePaid:
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
        total=money(total, cur),
        total_base=money(total * rate, base),
        fx_rate=rate.normalize() if rate != 1 else Decimal(1),
        fx_rate_date=rate_date,
    )


def invoice_voided(invoice: Invoice) -> InvoiceVoided:
    return from_row(InvoiceVoided, invoice, invoice_id=invoice.id, reason=invoice.void_reason or "")
