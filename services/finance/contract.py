"""Events the finance department publishes (topic hanse.finance)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from hanse.events import EventPayload
from hanse.money import DecimalStr, Money

InvoiceKind = Literal["proforma", "commercial", "credit_note"]


class InvoiceIssued(EventPayload, event_type="finance.invoice.issued.v1", subject="invoice_id"):
    invoice_id: str
    number: str
    kind: InvoiceKind
    order_id: str
    account_id: str
    currency: str
    subtotal: Money
    tax: Money
    duty: Money
    total: Money
    vat_treatment: str
    due_date: date | None = None
    # Added fields (optional, backward compatible): the rate behind `tax`, the note printed on
    # the invoice (reverse charge, export), the ECB rate to the base currency, and for a credit
    # note the invoice it credits.
    vat_rate: DecimalStr | None = None
    vat_note: str | None = None
    total_base: Money | None = None
    fx_rate: DecimalStr | None = None
    fx_rate_date: date | None = None
    credited_invoice_id: str | None = None


class PaymentReceived(EventPayload, event_type="finance.payment.received.v1", subject="payment_id"):
    payment_id: str
    invoice_id: str
    order_id: str
    amount: Money
    method: str
    reference: str
    open_amount: Money


class InvoicePaid(EventPayload, event_type="finance.invoice.paid.v1", subject="invoice_id"):
    """The invoice is settled; `total_base` is the total in the base currency (ECB rate)."""

    invoice_id: str
    order_id: str
    total: Money
    total_base: Money
    fx_rate: DecimalStr
    fx_rate_date: date


class InvoiceVoided(EventPayload, event_type="finance.invoice.voided.v1", subject="invoice_id"):
    invoice_id: str
    order_id: str
    reason: str
