"""Files for the accountant: the journal as CSV and as QuickBooks IIF, for a date range."""

from __future__ import annotations

import csv
import io
from datetime import date

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.money import round_money
from services.finance.domain.ledger import lines_of
from services.finance.domain.rules import CHART
from services.finance.models import LedgerEntry, LedgerLine

# QuickBooks account types of our chart (IIF !ACCNT ACCNTTYPE).
QB_TYPES = {"asset": "OCASSET", "liability": "OCLIAB", "income": "INC", "expense": "EXP"}
QB_SPECIAL = {"1200": "BANK", "1400": "AR", "1600": "AP", "2150": "EXEXP", "2660": "EXINC"}
CSV_COLUMNS = (
    "entry_id",
    "date",
    "source",
    "source_id",
    "memo",
    "account",
    "account_name",
    "debit",
    "credit",
    "currency",
)


async def _entries(session: AsyncSession, start: date, end: date) -> list[tuple[LedgerEntry, list[LedgerLine]]]:
    query = (
        select(LedgerEntry)
        .where(col(LedgerEntry.date) >= start, col(LedgerEntry.date) <= end)
        .order_by(col(LedgerEntry.date), col(LedgerEntry.id))
    )
    entries = (await session.exec(query)).all()
    lines = await lines_of(session, [entry.id for entry in entries])
    return [(entry, lines.get(entry.id, [])) for entry in entries]


def _clean(text: str) -> str:
    """IIF is tab-separated, one record a line: no tabs, line breaks or quotes inside a field."""
    return " ".join(text.replace('"', "'").split())


def _account_name(code: str) -> str:
    return f"{code} {CHART[code].name}"


async def journal_csv(session: AsyncSession, start: date, end: date) -> str:
    """One row per entry line; debit and credit in the base currency; every entry balances."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry, lines in await _entries(session, start, end):
        for line in lines:
            writer.writerow(
                (
                    entry.id,
                    entry.date.isoformat(),
                    entry.source,
                    entry.source_id,
                    entry.memo,
                    line.account,
                    CHART[line.account].name,
                    f"{round_money(line.debit, entry.currency):f}",
                    f"{round_money(line.credit, entry.currency):f}",
                    entry.currency,
                )
            )
    return out.getvalue()


async def quickbooks_iif(session: AsyncSession, start: date, end: date) -> str:
    """The chart as !ACCNT, then each entry as a GENERAL JOURNAL transaction: TRNS, SPL..., ENDTRNS.

    Amounts are signed (debit positive, credit negative); the first line is the TRNS, the rest
    SPL rows, and they sum to zero, as QuickBooks requires.
    """
    rows = [
        "!ACCNT\tNAME\tACCNTTYPE\tACCNUM",
        *(
            f"ACCNT\t{_account_name(code)}\t{QB_SPECIAL.get(code, QB_TYPES[a.type])}\t{code}"
            for code, a in sorted(CHART.items())
        ),
        "!TRNS\tTRNSID\tTRNSTYPE\tDATE\tACCNT\tAMOUNT\tDOCNUM\tMEMO",
        "!SPL\tSPLID\tTRNSTYPE\tDATE\tACCNT\tAMOUNT\tDOCNUM\tMEMO",
        "!ENDTRNS",
    ]
    for entry, lines in await _entries(session, start, end):
        day = entry.date.strftime("%m/%d/%Y")
        memo = _clean(entry.memo)
        for n, line in enumerate(lines):
            amount = round_money(line.debit - line.credit, entry.currency)
            kind = "TRNS" if n == 0 else "SPL"
            rows.append(
                f"{kind}\t\tGENERAL JOURNAL\t{day}\t{_account_name(line.account)}\t{amount:f}\t{entry.id}\t{memo}"
            )
        rows.append("ENDTRNS")
    return "\r\n".join(rows) + "\r\n"
