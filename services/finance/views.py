"""Finance rows as answers and as event payloads: every shape finance shows is built here."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hanse.money import Money, round_money
from hanse.views import from_row
from services.finance.contract import (
    CreditNoteIssued,
    InvoiceIssued,
    InvoicePaid,
    InvoiceVoided,
    LetterOfCreditRecorded,
    PaymentReceived,
    SupplierBillRecorded,
)
from services.finance.contract import InvoiceLine as IssuedLine
from services.finance.domain.rules import CHART, ZERO, open_amount
from services.finance.models import (
    Invoice,
    InvoicePublic,
    LedgerEntry,
    LedgerEntryPublic,
    LedgerLine,
    LedgerLinePublic,
    LetterOfCredit,
    LetterOfCreditPublic,
    Payment,
    PaymentPublic,
    ProviderEvent,
    ProviderEventPublic,
    SupplierBill,
    SupplierBillPublic,
    TrialBalance,
    TrialBalanceAccount,
)

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
    due = open_amount(invoice.kind, invoice.status, invoice.total, invoice.paid_amount, invoice.superseded_by_id)
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


def pdf_path(invoice_id: str) -> str:
    return f"/api/v1/finance/invoices/{invoice_id}/pdf"


def invoice_issued(invoice: Invoice) -> InvoiceIssued:
    """What logistics prints the commercial invoice from and sales mails: lines, Incoterm, the PDF's path."""
    lines = [
        IssuedLine(
            sku=line["sku"],
            description=line.get("name") or line["sku"],
            hs_code=line.get("hs_code", ""),
            origin_country=line.get("origin_country", ""),
            quantity=int(line["quantity"]),
            unit_price=Decimal(line["unit_price"]),
            amount=Decimal(line["amount"]),
        )
        for line in invoice.lines
    ]
    return from_row(
        InvoiceIssued,
        invoice_public(invoice),
        invoice_id=invoice.id,
        lines=lines,
        issue_date=invoice.issued_at.date(),
        pdf_path=pdf_path(invoice.id),
    )


def credit_note_issued(note: Invoice) -> CreditNoteIssued:
    cur = note.currency
    total_base = note.total_base if note.total_base is not None else note.total
    return CreditNoteIssued(
        credit_note_id=note.id,
        number=note.number,
        invoice_id=note.credited_invoice_id or "",
        order_id=note.order_id,
        account_id=note.account_id,
        currency=cur,
        subtotal=money(note.subtotal, cur),
        tax=money(note.tax, cur),
        total=money(note.total, cur),
        total_base=money(total_base, note.base_currency),
        reason="return" if note.return_id else "cancellation",
        return_id=note.return_id,
    )


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


def entry_public(entry: LedgerEntry, lines: list[LedgerLine]) -> LedgerEntryPublic:
    cur = entry.currency
    return LedgerEntryPublic(
        **entry.model_dump(include={"id", "date", "memo", "source", "source_id", "currency", "reverses_id"}),
        lines=[
            LedgerLinePublic(
                account=line.account, debit=round_money(line.debit, cur), credit=round_money(line.credit, cur)
            )
            for line in lines
        ],
    )


def trial_balance(sums: dict[str, tuple[Decimal, Decimal]], at: date, base: str) -> TrialBalance:
    """Every account of the chart, touched or not, with its debit and credit totals and balance."""
    accounts = []
    for code, account in sorted(CHART.items()):
        debit, credit = sums.get(code, (ZERO, ZERO))
        debit, credit = round_money(debit, base), round_money(credit, base)
        accounts.append(
            TrialBalanceAccount(
                account=code, name=account.name, type=account.type, debit=debit, credit=credit, balance=debit - credit
            )
        )
    return TrialBalance(
        at=at,
        currency=base,
        accounts=accounts,
        total_debit=sum((a.debit for a in accounts), ZERO),
        total_credit=sum((a.credit for a in accounts), ZERO),
    )


def provider_event_public(event: ProviderEvent) -> ProviderEventPublic:
    amount = money(event.amount, event.currency) if event.amount is not None and event.currency else None
    return ProviderEventPublic.model_validate({**event.model_dump(exclude={"amount", "payload"}), "amount": amount})


def letter_of_credit_public(credit: LetterOfCredit) -> LetterOfCreditPublic:
    return LetterOfCreditPublic.model_validate(
        {**credit.model_dump(exclude={"amount", "currency"}), "amount": money(credit.amount, credit.currency)}
    )


def letter_of_credit_recorded(credit: LetterOfCredit) -> LetterOfCreditRecorded:
    return from_row(LetterOfCreditRecorded, letter_of_credit_public(credit), letter_of_credit_id=credit.id)


def supplier_bill_public(bill: SupplierBill) -> SupplierBillPublic:
    cur = bill.currency
    amounts = {name: money(getattr(bill, name), cur) for name in ("net", "tax", "total")}
    return SupplierBillPublic.model_validate({**bill.model_dump(exclude=set(amounts)), **amounts})


def supplier_bill_recorded(bill: SupplierBill) -> SupplierBillRecorded:
    return from_row(SupplierBillRecorded, supplier_bill_public(bill), bill_id=bill.id)
