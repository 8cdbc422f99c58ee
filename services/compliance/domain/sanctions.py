"""The sanctions list: upsert or replace it from an OpenSanctions targets.simple.csv, audited."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import delete, select

from hanse.errors import Invalid
from hanse.events import utcnow
from services.compliance.config import UoW
from services.compliance.domain import audit
from services.compliance.domain.rules import SanctionsCsvError, SanctionsRow, normalise, parse_sanctions_csv
from services.compliance.models import SanctionsEntry

# Rows looked up (and locked) per query, well under every database's bound-parameter limit.
CHUNK = 500


def _entry_values(row: SanctionsRow, now: datetime) -> dict[str, Any]:
    names = dict.fromkeys(n for n in (normalise(row.name), *(normalise(a) for a in row.aliases)) if n)
    return {
        "entity_schema": row.schema,
        "name": row.name,
        "aliases": list(row.aliases),
        "countries": list(row.countries),
        "names_normalised": list(names),
        "dataset": row.dataset,
        "program_ids": row.program_ids,
        "sanctions": row.sanctions,
        "last_change": row.last_change,
        "imported_at": now,
    }


async def import_sanctions(
    uow: UoW, text: str, *, actor: str, replace: bool = False, source: str = "upload"
) -> tuple[int, int]:
    """Upsert the entities of a targets.simple.csv by id; `replace` drops entries not in the file."""
    try:
        rows, skipped = parse_sanctions_csv(text)
    except SanctionsCsvError as exc:
        raise Invalid(exc.detail, field=exc.field) from None
    session = uow.session
    now = utcnow()
    ids = [row.id for row in rows]
    existing: dict[str, SanctionsEntry] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        query = select(SanctionsEntry).where(SanctionsEntry.id.in_(chunk)).with_for_update()  # type: ignore[attr-defined]
        existing.update({e.id: e for e in (await session.exec(query)).all()})
    removed = 0
    if replace:
        gone = delete(SanctionsEntry).where(SanctionsEntry.id.not_in(ids))  # type: ignore[attr-defined]
        removed = (await session.exec(gone)).rowcount or 0  # type: ignore[call-overload]
    for row in rows:
        values = _entry_values(row, now)
        entry = existing.get(row.id)
        if entry is None:
            session.add(SanctionsEntry(id=row.id, **values))
        else:
            for key, value in values.items():
                setattr(entry, key, value)
            session.add(entry)
    await audit.record(
        uow,
        "sanctions_imported",
        actor=actor,
        subject_type="sanctions",
        details={"source": source, "imported": len(rows), "skipped": skipped, "replace": replace, "removed": removed},
    )
    await session.flush()
    return len(rows), skipped


async def load_sanctions_if_empty(uow: UoW, path: Path) -> int:
    """Dev and test: fill an empty sanctions table from a shipped or configured file."""
    if (await uow.session.exec(select(SanctionsEntry.id).limit(1))).first() is not None:
        return 0
    text = await asyncio.to_thread(path.read_text, "utf-8-sig")
    imported, _ = await import_sanctions(uow, text, actor="system", source=path.name)
    return imported
