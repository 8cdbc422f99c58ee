"""Events the finance department publishes (topic hanse.finance)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict

from hanse.events import EventPayload
from hanse.money import DecimalStr, Money
from hanse.privacy import PrivacyAnswer

InvoiceKind = Literal["proforma", "commercial", "credit_note"]


class InvoiceLine(BaseModel):
    """A goods line as printed on the invoice (customs read HS code, origin and value from it)."""

    model_config = ConfigDict(frozen=True)

    sku: str
    description: str
    hs_code: str
    origin_country: str
    quantity: int
    unit_price: DecimalStr
    amount: DecimalStr


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
    # Added: what logistics prints the commercial invoice from and the mail attaches.
    lines: list[InvoiceLine] = []
    incoterm: str | None = None
    named_place: str | None = None
    issue_date: date | None = None
    pdf_path: str | None = None  # the gateway path of the PDF: /api/v1/finance/invoices/{id}/pdf


class PaymentReceived(EventPayload, event_type="finance.payment.received.v1", subject="payment_id"):
    payment_id: str
    invoice_id: str
    order_id: str
    amount: Money
    method: str
    reference: str
    open_amount: Money
    provider: str | None = None  # stripe, paypal, alipay, or None for a payment recorded by staff


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


class CreditNoteIssued(EventPayload, event_type="finance.credit_note.issued.v1", subject="credit_note_id"):
    """A credit note (series CN) for a cancellation after invoicing or a return."""

    credit_note_id: str
    number: str
    invoice_id: str  # the invoice it credits
    order_id: str
    account_id: str
    currency: str
    subtotal: Money
    tax: Money
    total: Money
    total_base: Money
    reason: Literal["cancellation", "return"]
    return_id: str | None = None


class LetterOfCreditRecorded(EventPayload, event_type="finance.letter_of_credit.recorded.v1", subject="order_id"):
    """An L/C secures an order with terms `letter_of_credit`: logistics books only while it is valid
    (today <= expiry_date and <= latest_shipment_date) and covers the order total."""

    letter_of_credit_id: str
    order_id: str
    issuing_bank: str
    amount: Money
    expiry_date: date
    latest_shipment_date: date


class SupplierBillRecorded(EventPayload, event_type="finance.supplier_bill.recorded.v1", subject="bill_id"):
    bill_id: str
    supplier_id: str
    purchase_order_id: str
    currency: str
    total: Money
    due_date: date


class PrivacyAnswered(PrivacyAnswer, event_type="finance.privacy_request.answered.v1"):
    """Finance's answer: invoices and payments are kept 10 years (commercial and tax law)."""
