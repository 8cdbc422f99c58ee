"""The sanctions list: uploads of any size (OpenSanctions targets.simple.csv or FollowTheMoney JSON
lines) stored as files and imported by a scheduler job, streamed in batches; audited.

The upload is checked when it arrives (a file that is neither format, or a CSV without a required
column, is refused with nothing stored); the rows are read when the job imports it: a malformed
row or a JSON line that is not an entity is counted as rejected while the rest imports.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import os
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import delete, insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.db import claim
from hanse.errors import Invalid
from hanse.events import utcnow
from hanse.ids import new_id
from services.compliance.config import UoW
from services.compliance.domain import audit
from services.compliance.domain.rules import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    SCREENED_SCHEMAS,
    SanctionsCsvError,
    SanctionsRow,
    _split,
    normalise,
    parse_sanctions_csv,
)
from services.compliance.models import ListState, SanctionsEntry, SanctionsImport

# Rows written per statement: bounded memory, well under every database's parameter limit.
BATCH = 1000
SNIFF_BYTES = 64 * 1024
FTM_COUNTRY_PROPS = ("country", "nationality", "jurisdiction", "citizenship")


# -- list versions ---------------------------------------------------------------------------------


async def list_state(session: AsyncSession, *, lock: bool = False) -> ListState:
    query = select(ListState).where(ListState.id == 1)
    state = (await session.exec(query.with_for_update() if lock else query)).first()
    if state is None:
        state = ListState(id=1)
        session.add(state)
    return state


async def bump(session: AsyncSession, which: str) -> None:
    """The sanctions list or the watchlist changed: screeners rebuild, the re-screening job runs."""
    state = await list_state(session, lock=True)
    setattr(state, f"{which}_version", getattr(state, f"{which}_version") + 1)
    session.add(state)


# -- parsing (pure) --------------------------------------------------------------------------------


def sniff(head: bytes) -> tuple[str, list[str]]:
    """("csv", columns) or ("ftm", []) from the file's first bytes; anything else is refused."""
    text = head.decode("utf-8-sig", errors="replace")
    first = text.lstrip().split("\n", 1)[0].strip()
    if not first:
        raise Invalid("the file is empty", field="file")
    if first.startswith("{"):
        try:
            obj = json.loads(first)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            return "ftm", []
    try:
        header = next(csv.reader(io.StringIO(first)))
    except (csv.Error, StopIteration):
        header = []
    columns = [h.strip().lower() for h in header]
    if len(columns) < 2 or not {"id", "schema", "name"} & set(columns):
        raise Invalid(
            "the file is neither an OpenSanctions targets.simple.csv nor FollowTheMoney JSON lines", field="file"
        )
    for column in REQUIRED_COLUMNS:
        if column not in columns:
            raise Invalid(f"the CSV header lacks the column {column!r}", field=column)
    return "csv", columns


def _row_of_ftm(obj: Any) -> SanctionsRow | str | None:
    """A SanctionsRow, None (another schema: skipped) or a string saying why the line is rejected."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    entity_id, schema, props = obj.get("id"), obj.get("schema"), obj.get("properties")
    if not isinstance(entity_id, str) or not isinstance(schema, str) or not isinstance(props, dict):
        return "not a FollowTheMoney entity (id, schema, properties)"
    if schema not in SCREENED_SCHEMAS:
        return None

    def values(prop: str) -> list[str]:
        raw = props.get(prop) or []
        return [v.strip() for v in raw if isinstance(v, str) and v.strip()] if isinstance(raw, list) else []

    names = values("name")
    if not entity_id or len(entity_id) > 200 or not names:
        return None
    aliases = [a for a in dict.fromkeys(names[1:] + values("alias") + values("weakAlias")) if a != names[0]]
    countries = dict.fromkeys(c.upper() for p in FTM_COUNTRY_PROPS for c in values(p))
    datasets = obj.get("datasets")
    return SanctionsRow(
        id=entity_id,
        schema=schema,
        name=names[0],
        aliases=tuple(aliases),
        countries=tuple(countries),
        dataset=";".join(d for d in datasets if isinstance(d, str)) if isinstance(datasets, list) else None,
        program_ids=";".join(values("programId")) or None,
        sanctions=None,
        last_change=obj.get("last_change") if isinstance(obj.get("last_change"), str) else None,
    )


def read_ftm(lines: Iterator[str]) -> Iterator[SanctionsRow | str | None]:
    for line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            yield "not JSON"
            continue
        yield _row_of_ftm(obj)


def read_csv(lines: Iterator[str]) -> Iterator[SanctionsRow | str | None]:
    reader = csv.reader(lines)
    header = next(reader, None) or []
    columns = [h.strip().lower() for h in header]
    index = {name: columns.index(name) for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if name in columns}
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield "malformed CSV"
            continue
        if not record or all(not cell.strip() for cell in record):
            continue
        if len(record) != len(columns):
            yield f"{len(record)} fields where the header has {len(columns)}"
            continue

        def cell(name: str, record: list[str] = record) -> str:
            return record[index[name]].strip() if name in index else ""

        entity_id, schema, name = cell("id"), cell("schema"), cell("name")
        if schema not in SCREENED_SCHEMAS or not entity_id or not name or len(entity_id) > 200:
            yield None
            continue
        yield SanctionsRow(
            id=entity_id,
            schema=schema,
            name=name,
            aliases=tuple(a for a in _split(cell("aliases")) if a != name),
            countries=tuple(c.upper() for c in _split(cell("countries"))),
            dataset=cell("dataset") or None,
            program_ids=cell("program_ids") or None,
            sanctions=cell("sanctions") or None,
            last_change=cell("last_change") or None,
        )


def _entry_values(row: SanctionsRow, now: datetime) -> dict[str, Any]:
    names = dict.fromkeys(n for n in (normalise(row.name), *(normalise(a) for a in row.aliases)) if n)
    return {
        "id": row.id,
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


# -- writing ---------------------------------------------------------------------------------------


async def _upsert(session: AsyncSession, values: list[dict[str, Any]]) -> None:
    """Replace the batch's entities by id (delete + insert: one statement each, no row objects)."""
    if not values:
        return
    table = SanctionsEntry.__table__  # type: ignore[attr-defined]
    await session.exec(delete(table).where(table.c.id.in_([v["id"] for v in values])))  # type: ignore[call-overload]
    await session.exec(insert(table), params=values)  # type: ignore[call-overload]


async def import_sanctions(
    uow: UoW, text: str, *, actor: str, replace: bool = False, source: str = "upload"
) -> tuple[int, int]:
    """Import a whole targets.simple.csv given as text (startup: the sample or HANSE_SANCTIONS_CSV)."""
    try:
        rows, skipped = parse_sanctions_csv(text)
    except SanctionsCsvError as exc:
        raise Invalid(exc.detail, field=exc.field) from None
    session = uow.session
    now = utcnow()
    for start in range(0, len(rows), BATCH):
        await _upsert(session, [_entry_values(r, now) for r in rows[start : start + BATCH]])
    removed = 0
    if replace:
        gone = delete(SanctionsEntry).where(SanctionsEntry.imported_at < now)  # type: ignore[arg-type]
        removed = (await session.exec(gone)).rowcount or 0  # type: ignore[call-overload]
    await bump(session, "sanctions")
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


# -- uploads ---------------------------------------------------------------------------------------


def upload_dir(uow: UoW) -> Path:
    folder = Path(uow.settings.data_dir) / "compliance" / "sanctions-uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def accept_upload(
    uow: UoW, path: Path, fmt: str, *, filename: str | None, actor: str, replace: bool
) -> SanctionsImport:
    """The upload is stored and checked; the job imports it (202)."""
    row = SanctionsImport(
        id=path.stem,
        status="pending",
        format=fmt,  # type: ignore[arg-type]
        filename=filename,
        replace=replace,
        path=str(path),
        created_at=utcnow(),
        created_by=actor,
    )
    uow.session.add(row)
    return row


async def store_upload(chunks: AsyncIterator[bytes], path: Path) -> str:
    """Write the upload to `path` as it arrives (never whole in memory); its head decides the format.

    A refused head (neither format, a CSV without a required column) leaves no file behind.
    """
    head = b""
    handle: BinaryIO | None = None
    fmt = ""
    try:
        async for chunk in chunks:
            if handle is None:
                head += chunk
                if len(head) < SNIFF_BYTES:
                    continue
                fmt, _ = sniff(head)
                handle = await asyncio.to_thread(path.open, "wb")
                chunk = head
            await asyncio.to_thread(handle.write, chunk)
        if handle is None:
            fmt, _ = sniff(head)
            await asyncio.to_thread(path.write_bytes, head)
    except BaseException:
        if handle is not None:
            handle.close()
        await asyncio.to_thread(path.unlink, True)
        raise
    if handle is not None:
        await asyncio.to_thread(handle.close)
    return fmt


def new_upload_id() -> str:
    return new_id("imp")


def _lines(path: str) -> Iterator[str]:
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        yield from handle


async def _run_one(uow: UoW, job: SanctionsImport) -> None:
    session = uow.session
    now = utcnow()
    reader = read_csv if job.format == "csv" else read_ftm
    rows = reader(_lines(job.path))
    entities = skipped = rejected = 0
    done = False
    while not done:
        # Parsing and normalising are CPU work: done in a thread, a batch at a time.
        chunk = await asyncio.to_thread(lambda: list(itertools.islice(rows, BATCH)))
        done = len(chunk) < BATCH
        batch: dict[str, SanctionsRow] = {}
        for item in chunk:
            if isinstance(item, str):
                rejected += 1
            elif item is None:
                skipped += 1
            else:
                if item.id in batch:
                    skipped += 1  # a later row of the same id replaces the earlier one
                batch[item.id] = item
        entities += len(batch)
        values = await asyncio.to_thread(lambda b=batch: [_entry_values(r, now) for r in b.values()])  # type: ignore[misc]
        await _upsert(session, values)
    removed = 0
    if job.replace:
        gone = delete(SanctionsEntry).where(SanctionsEntry.imported_at < now)  # type: ignore[arg-type]
        removed = (await session.exec(gone)).rowcount or 0  # type: ignore[call-overload]
    job.entities, job.skipped, job.rejected, job.removed = entities, skipped, rejected, removed


async def run_pending_imports(uow: UoW) -> int:
    """Scheduler job: import one pending upload per run, all of it in one transaction."""
    query = claim(
        select(SanctionsImport).where(SanctionsImport.status == "pending").order_by(SanctionsImport.id).limit(1)
    )
    job = (await uow.session.exec(query)).first()
    if job is None:
        return 0
    try:
        async with uow.session.begin_nested():
            await _run_one(uow, job)
    except (OSError, ValueError, UnicodeError) as exc:
        job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
    else:
        job.status = "completed"
        await bump(uow.session, "sanctions")
    job.finished_at = utcnow()
    uow.session.add(job)
    await audit.record(
        uow,
        "sanctions_imported",
        actor=job.created_by,
        subject_type="sanctions",
        subject_id=job.id,
        details={
            "source": job.filename or "upload",
            "format": job.format,
            "status": job.status,
            "imported": job.entities,
            "skipped": job.skipped,
            "rejected": job.rejected,
            "replace": job.replace,
            "removed": job.removed,
            "error": job.error,
        },
    )
    if job.status == "completed":
        await asyncio.to_thread(_remove, job.path)
    return 1


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
