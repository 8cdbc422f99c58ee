"""The general ledger: one balanced entry in the base currency per document change, never edited.

Every invoice, credit note, void, payment, supplier bill and FX difference posts here, in the
transaction that changes the document. A correction is a new entry (a reversal), never an update.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import func, insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.events import utcnow
from hanse.ids import new_id
from services.finance.domain.rules import (
    CHART,
    RECEIVABLES,
    ZERO,
    credit_note_figures,
    debit_credit,
    in_base,
    invoice_amounts,
)
from services.finance.models import Invoice, LedgerEntry, LedgerLine


async def post(
    session: AsyncSession,
    amounts: dict[str, Decimal],
    *,
    on: date,
    memo: str,
    source: str,
    source_id: str,
    currency: str,
    reverses_id: str | None = None,
) -> LedgerEntry | None:
    """Write one entry of signed base amounts (debit > 0). It must balance; an empty one is skipped."""
    amounts = {a: v for a, v in amounts.items() if v != 0}
    if not amounts:
        return None
    unknown = set(amounts) - set(CHART)
    if unknown or sum(amounts.values(), ZERO) != 0:
        # A programming error, never input: refuse to write an unbalanced or unknown-account entry.
        raise ValueError(f"entry {memo!r} is unbalanced or names unknown accounts: {amounts}")
    entry = LedgerEntry(
        id=new_id("je"),
        date=on,
        memo=memo,
        source=source,
        source_id=source_id,
        currency=currency,
        reverses_id=reverses_id,
        posted_at=utcnow(),
    )
    # Written with two Core INSERTs (the lines as one multi-row VALUES), not through the ORM's flush:
    # entries are never changed after, and this runs on the order flow (clearance, payment, booking).
    await session.exec(insert(LedgerEntry.__table__).values(**entry.model_dump()))
    lines = []
    for account, value in sorted(amounts.items()):
        debit, credit = debit_credit(value)
        lines.append({"entry_id": entry.id, "account": account, "debit": debit, "credit": credit})
    await session.exec(insert(LedgerLine.__table__).values(lines))
    return entry


def invoice_base_amounts(invoice: Invoice) -> dict[str, Decimal]:
    """The invoice's (or credit note's) entry: receivables at its stored total_base."""
    total_base = invoice.total_base if invoice.total_base is not None else invoice.total
    return in_base(
        invoice_amounts(invoice.subtotal, invoice.tax, invoice.duty, invoice.total),
        invoice.fx_rate,
        invoice.base_currency,
        fixed={RECEIVABLES: total_base},
    )


async def post_invoice(session: AsyncSession, invoice: Invoice) -> LedgerEntry | None:
    what = "Credit note" if invoice.kind == "credit_note" else f"{invoice.kind.capitalize()} invoice"
    return await post(
        session,
        invoice_base_amounts(invoice),
        on=invoice.issued_at.date(),
        memo=f"{what} {invoice.number}",
        source="credit_note" if invoice.kind == "credit_note" else "invoice",
        source_id=invoice.id,
        currency=invoice.base_currency,
    )


async def entry_of(session: AsyncSession, source_id: str, source: str) -> LedgerEntry | None:
    query = select(LedgerEntry).where(LedgerEntry.source_id == source_id, LedgerEntry.source == source)
    return (await session.exec(query)).first()


async def post_void(session: AsyncSession, invoice: Invoice, on: date) -> LedgerEntry | None:
    """Reverse the open part of a voided invoice (what was paid stays, a credit note owes it back)."""
    cur = invoice.currency
    open_doc = invoice.total - invoice.paid_amount
    if open_doc <= 0:
        return None
    subtotal, tax, duty, total = credit_note_figures(
        invoice.subtotal, invoice.tax, invoice.duty, invoice.total, open_doc, cur
    )
    total_base = invoice.total_base if invoice.total_base is not None else invoice.total
    amounts = in_base(
        invoice_amounts(subtotal, tax, duty, total),
        invoice.fx_rate,
        invoice.base_currency,
        fixed={RECEIVABLES: -(total_base - invoice.paid_base)},
    )
    original = await entry_of(session, invoice.id, "invoice")
    return await post(
        session,
        amounts,
        on=on,
        memo=f"Void of {invoice.number}: {invoice.void_reason or ''}".strip(),
        source="void",
        source_id=invoice.id,
        currency=invoice.base_currency,
        reverses_id=original.id if original else None,
    )


async def post_reversal(
    session: AsyncSession, original: LedgerEntry, *, on: date, memo: str, source: str
) -> LedgerEntry | None:
    """The exact opposite of an entry: how a document posted in error is taken back."""
    lines = (await session.exec(select(LedgerLine).where(LedgerLine.entry_id == original.id))).all()
    amounts: dict[str, Decimal] = {}
    for line in lines:
        amounts[line.account] = amounts.get(line.account, ZERO) + line.credit - line.debit
    return await post(
        session,
        amounts,
        on=on,
        memo=memo,
        source=source,
        source_id=original.source_id,
        currency=original.currency,
        reverses_id=original.id,
    )


# -- reading the books --------------------------------------------------------------------------------


async def balances(session: AsyncSession, at: date | None = None) -> dict[str, tuple[Decimal, Decimal]]:
    """(debit, credit) sums per account over entries dated on or before `at`."""
    query = (
        select(LedgerLine.account, func.sum(LedgerLine.debit), func.sum(LedgerLine.credit))
        .join(LedgerEntry, col(LedgerEntry.id) == col(LedgerLine.entry_id))
        .group_by(col(LedgerLine.account))
    )
    if at is not None:
        query = query.where(col(LedgerEntry.date) <= at)
    rows = (await session.exec(query)).all()
    return {account: (Decimal(debit or 0), Decimal(credit or 0)) for account, debit, credit in rows}


async def lines_of(session: AsyncSession, entry_ids: Sequence[str]) -> dict[str, list[LedgerLine]]:
    if not entry_ids:
        return {}
    query = select(LedgerLine).where(col(LedgerLine.entry_id).in_(list(entry_ids))).order_by(col(LedgerLine.id))
    out: dict[str, list[LedgerLine]] = {}
    for line in (await session.exec(query)).all():
        out.setdefault(line.entry_id, []).append(line)
    return out
