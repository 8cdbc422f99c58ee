"""Reports the managers read: receivables aging, revenue, the cash-flow forecast (all in the base currency)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.money import Money, round_money
from services.finance.domain.rules import (
    AGING_BUCKETS,
    REVENUE,
    ZERO,
    aging_bucket,
    open_share,
    week_start,
)
from services.finance.models import Invoice, LedgerEntry, LedgerLine, Payment, SupplierBill

RECEIVABLE_KINDS = ("proforma", "commercial")


def _money(amount: Decimal, currency: str) -> Money:
    value = round_money(amount, currency)
    return Money(amount=value if value != 0 else abs(value), currency=currency)


# What the reports read of an invoice: the JSON columns (lines, FX details) are never decoded here.
_OPEN_COLUMNS = (
    Invoice.id,
    Invoice.kind,
    Invoice.account_id,
    Invoice.currency,
    Invoice.total,
    Invoice.total_base,
    Invoice.paid_amount,
    Invoice.due_date,
    Invoice.issued_at,
    Invoice.superseded_by_id,
)


async def _open_invoices_at(session: AsyncSession, at: date) -> list[tuple[Any, Decimal]]:
    """Invoices open on `at` with their open amount then (payments received up to that day).

    Three queries whatever the number of invoices. The database leaves out what cannot be open on
    `at`: invoices settled by then (`paid_at` is set when the payments reach the total, and a
    payment is recorded when it is received, so all of them were received by `paid_at`) and
    invoices voided by then.
    """
    until = datetime.combine(at, time.max, tzinfo=UTC)  # the end of `at` (no overflow on 9999-12-31)
    invoices = (
        await session.exec(
            select(*_OPEN_COLUMNS).where(
                col(Invoice.kind).in_(RECEIVABLE_KINDS),
                col(Invoice.issued_at) <= until,
                or_(col(Invoice.paid_at).is_(None), col(Invoice.paid_at) > until),
                or_(
                    col(Invoice.voided_at).is_(None),
                    col(Invoice.voided_at) > until,
                    col(Invoice.superseded_by_id).is_not(None),
                ),
            )
        )
    ).all()
    if not invoices:
        return []
    payments = (
        await session.exec(
            select(
                Payment.invoice_id,
                func.sum(case((col(Payment.received_at) <= until, Payment.amount), else_=0)),
                func.sum(Payment.amount),
            ).group_by(col(Payment.invoice_id))
        )
    ).all()
    paid = {invoice_id: Decimal(by_then or 0) for invoice_id, by_then, _ in payments}
    direct = {invoice_id: Decimal(ever or 0) for invoice_id, _, ever in payments}
    # A proforma is replaced by its commercial invoice on the day that was issued.
    replacements = {i.superseded_by_id for i in invoices if i.superseded_by_id}
    replaced_on = (
        {
            invoice_id: issued_at.date()
            for invoice_id, issued_at in (
                await session.exec(select(Invoice.id, Invoice.issued_at).where(col(Invoice.id).in_(replacements)))
            ).all()
        }
        if replacements
        else {}
    )
    out = []
    for invoice in invoices:
        replaced = replaced_on.get(invoice.superseded_by_id or "")
        if replaced is not None and replaced <= at:
            continue  # replaced by the commercial invoice by then: its payments live on there
        received = paid.get(invoice.id, ZERO)
        if invoice.kind == "commercial":
            # Payments carried from the proforma count from the day they were received.
            received += invoice.paid_amount - direct.get(invoice.id, ZERO)
        due = invoice.total - received
        if due > 0:
            out.append((invoice, due))
    return out


async def aging(session: AsyncSession, at: date, base: str) -> dict:
    """Open receivables on `at` per account in five buckets by days past due, in the base currency."""
    per_account: dict[str, dict[str, Decimal]] = defaultdict(lambda: dict.fromkeys(AGING_BUCKETS, ZERO))
    for invoice, due in await _open_invoices_at(session, at):
        total_base = invoice.total_base if invoice.total_base is not None else invoice.total
        amount = open_share(total_base, invoice.total, due, base)
        per_account[invoice.account_id][aging_bucket(invoice.due_date, at)] += amount
    totals = dict.fromkeys(AGING_BUCKETS, ZERO)
    accounts = []
    for account_id in sorted(per_account):
        amounts = per_account[account_id]
        for bucket, value in amounts.items():
            totals[bucket] += value
        accounts.append(
            {
                "account_id": account_id,
                "amounts": {b: _money(v, base) for b, v in amounts.items()},
                "total": _money(sum(amounts.values(), ZERO), base),
            }
        )
    return {
        "at": at,
        "currency": base,
        "buckets": list(AGING_BUCKETS),
        "accounts": accounts,
        "totals": {b: _money(v, base) for b, v in totals.items()},
        "total": _money(sum(totals.values(), ZERO), base),
    }


async def revenue(session: AsyncSession, group_by: str, start: date, end: date, base: str) -> list[dict]:
    """Net revenue (the revenue account of the ledger: invoices less voids, supersessions and credit
    notes) per month of the entry, buyer country or invoice currency, in the base currency."""
    rows = (
        await session.exec(
            select(LedgerEntry.date, Invoice.buyer_country, Invoice.currency, LedgerLine.credit, LedgerLine.debit)
            .join(LedgerEntry, col(LedgerEntry.id) == col(LedgerLine.entry_id))
            .join(Invoice, col(Invoice.id) == col(LedgerEntry.source_id))
            .where(LedgerLine.account == REVENUE, col(LedgerEntry.date) >= start, col(LedgerEntry.date) <= end)
        )
    ).all()
    sums: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for day, country, currency, credit, debit in rows:
        key = {"month": f"{day:%Y-%m}", "country": country, "currency": currency}[group_by]
        sums[key] += Decimal(credit) - Decimal(debit)
    return [{"key": key, "revenue": _money(sums[key], base)} for key in sorted(sums)]


async def cash_forecast(session: AsyncSession, today: date, weeks: int, base: str) -> list[dict]:
    """Expected receipts (open invoices) and payments (open supplier bills) per week by due date.

    Anything already overdue is expected in the first week; what falls due after the horizon is left out.
    """
    first = week_start(today)
    starts = [first + timedelta(weeks=n) for n in range(weeks)]
    receipts = dict.fromkeys(starts, ZERO)
    payments = dict.fromkeys(starts, ZERO)
    end = first + timedelta(weeks=weeks)
    for invoice, due in await _open_invoices_at(session, today):
        week = max(week_start(invoice.due_date), first)
        if week < end:
            total_base = invoice.total_base if invoice.total_base is not None else invoice.total
            receipts[week] += open_share(total_base, invoice.total, due, base)
    bills = (await session.exec(select(SupplierBill).where(SupplierBill.status == "open"))).all()
    for bill in bills:
        week = max(week_start(bill.due_date), first)
        if week < end:
            payments[week] += bill.total_base
    return [
        {
            "week_start": week,
            "receipts": _money(receipts[week], base),
            "payments": _money(payments[week], base),
            "net": _money(receipts[week] - payments[week], base),
        }
        for week in starts
    ]
