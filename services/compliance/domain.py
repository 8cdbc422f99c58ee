"""Business rules of compliance: name matching, embargoes, sanctions import, screening and decisions."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from rapidfuzz import fuzz
from sqlmodel import delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse import outbox
from hanse.errors import Conflict, Invalid, NotFound, PermanentEventError
from hanse.events import utcnow
from hanse.ids import new_id
from services.compliance.contract import Match, OrderCleared, OrderRejected, ScreeningCompleted
from services.compliance.models import (
    AuditRecord,
    Check,
    OrderCancellation,
    SanctionsEntry,
    WatchlistEntry,
    is_country,
)
from services.sales.contract import OrderTerms

SAMPLE_SANCTIONS = Path(__file__).parent / "data" / "sanctions_sample.csv"

# -- configuration ---------------------------------------------------------------------------------


class ComplianceSettings(BaseSettings):
    """Compliance knobs: HANSE_EMBARGOED_COUNTRIES, HANSE_SCREENING_THRESHOLD, HANSE_SANCTIONS_CSV."""

    model_config = SettingsConfigDict(env_prefix="HANSE_", extra="ignore")

    # A comma-separated string in the environment ("KP,IR,SY,CU"); parsed by embargoed().
    embargoed_countries: str = "KP,IR,SY,CU"
    screening_threshold: float = Field(88.0, ge=0, le=100)
    # A targets.simple.csv loaded at startup when the sanctions table is empty (default: the sample).
    sanctions_csv: Path | None = None

    @field_validator("embargoed_countries")
    @classmethod
    def _countries(cls, value: str) -> str:
        codes = [c.strip().upper() for c in value.split(",") if c.strip()]
        bad = [c for c in codes if not is_country(c)]
        if bad:
            raise ValueError(f"not ISO 3166 alpha-2 country codes: {', '.join(bad)}")
        return ",".join(codes)

    def embargoed(self) -> frozenset[str]:
        return frozenset(c for c in self.embargoed_countries.split(",") if c)


def compliance_settings() -> ComplianceSettings:
    # Read per use: cheap, and no cached copy that tests or a reload would have to invalidate.
    return ComplianceSettings()


MAX_ID_LENGTH = 255


def ensure_subject_id(name: str, value: str) -> None:
    """Ids from other departments must fit our columns; an event that breaks this can never apply."""
    if not value or len(value) > MAX_ID_LENGTH:
        raise PermanentEventError(f"{name} must be 1..{MAX_ID_LENGTH} characters")


# -- name normalisation and scoring (pure) ---------------------------------------------------------

# Letters NFKD does not decompose into a base letter plus a combining mark.
_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "ł": "l", "ı": "i", "þ": "th"})
# Dotted abbreviations (L.L.C., S.p.A., B.V.) lose their dots before punctuation becomes space.
_DOTTED = re.compile(r"\b(?:[^\W\d_]\.){1,}[^\W\d_]?\b\.?")
_NOT_WORD = re.compile(r"[\W_]+")

LEGAL_SUFFIXES: frozenset[str] = frozenset(
    """
    llc inc incorporated ltd limited gmbh mbh ag sa sas sarl srl spa bv nv oy oyj ab plc co corp corporation
    company llp lp kg ohg ug ooo oao zao ao jsc pjsc ojsc cjsc pte pty se kft zrt sro as asa aps doo ad
    kk gk bhd sdn lda ltda sl sna eurl ev
    """.split()
)
# Multi-word legal forms, removed before single tokens (normalised form, space separated).
LEGAL_PHRASES: tuple[str, ...] = (
    "limited liability company",
    "limited liability partnership",
    "public limited company",
    "joint stock company",
    "private limited",
    "gesellschaft mit beschrankter haftung",
    "societe anonyme",
    "co kg",
)


def normalise(name: str) -> str:
    """Casefold, strip diacritics, punctuation to spaces, drop legal forms, collapse whitespace."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold().translate(_LETTERS)
    text = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), text)
    tokens = _NOT_WORD.sub(" ", text).split()
    if not tokens:
        return ""
    joined = f" {' '.join(tokens)} "
    for phrase in LEGAL_PHRASES:
        joined = joined.replace(f" {phrase} ", " ")
    kept = [t for t in joined.split() if t not in LEGAL_SUFFIXES]
    # A name that is nothing but a legal form ("AB") keeps its tokens rather than matching everything.
    return " ".join(kept or tokens)


# An entry whose countries do not include the party's country is less likely the same party.
COUNTRY_MISMATCH_PENALTY = 10.0


def name_score(a: str, b: str) -> float:
    """Similarity 0..100 of two normalised names; word order does not matter, extra words do."""
    if not a or not b:
        return 0.0
    return float(fuzz.token_sort_ratio(a, b))


@dataclass(frozen=True)
class Candidate:
    """An entry of the watchlist or the sanctions list, with its names already normalised."""

    list: Literal["watchlist", "sanctions"]
    entry_id: str
    name: str
    names_normalised: tuple[str, ...]
    countries: tuple[str, ...] = ()


@dataclass(frozen=True)
class Party:
    """Who is screened: one or more names (company, contact) and a country."""

    names: tuple[str, ...]
    country: str | None = None


def best_match(party: Party, candidate: Candidate) -> tuple[float, str, str] | None:
    """The best (score, party name, matched entry name) of a party against one entry's names."""
    best: tuple[float, str, str] | None = None
    for party_name in party.names:
        normalised = normalise(party_name)
        for entry_name in candidate.names_normalised:
            score = name_score(normalised, entry_name)
            if best is None or score > best[0]:
                best = (score, party_name, entry_name)
    if best is None:
        return None
    score, party_name, entry_name = best
    if party.country and candidate.countries and party.country not in candidate.countries:
        score = max(score - COUNTRY_MISMATCH_PENALTY, 0.0)
    return round(score, 1), party_name, entry_name


def find_matches(party: Party, candidates: Iterable[Candidate], threshold: float) -> list[tuple[Match, str]]:
    """Entries scoring at or above the threshold, best first, with a reason line for each."""
    found: list[tuple[Match, str]] = []
    for candidate in candidates:
        result = best_match(party, candidate)
        if result is None or result[0] < threshold:
            continue
        score, party_name, entry_name = result
        country = candidate.countries[0] if candidate.countries else None
        match = Match(
            list=candidate.list, entry_id=candidate.entry_id, name=candidate.name, score=score, country=country
        )
        found.append((match, f"{candidate.list} match: {party_name!r} ~ {candidate.name!r} ({entry_name}) {score}"))
    found.sort(key=lambda pair: (-pair[0].score, pair[0].entry_id))
    return found


# -- screening verdicts (pure) ---------------------------------------------------------------------

Result = Literal["clear", "review", "blocked"]


@dataclass
class Verdict:
    result: Result
    reasons: list[str] = field(default_factory=list)
    matches: list[Match] = field(default_factory=list)


def embargo_reasons(embargoed: frozenset[str], **countries: str | None) -> list[str]:
    """One reason per named country (destination_country=..., buyer_country=...) under embargo."""
    return [
        f"{role.replace('_', ' ')} {code} is under embargo"
        for role, code in countries.items()
        if code and code.upper() in embargoed
    ]


def verdict(embargo: list[str], matches: Sequence[tuple[Match, str]]) -> Verdict:
    """Embargo blocks outright; a list match needs an officer; otherwise the party is clear."""
    reasons = [*embargo, *(reason for _, reason in matches)]
    found = [m for m, _ in matches]
    if embargo:
        return Verdict("blocked", reasons, found)
    if found:
        return Verdict("review", reasons, found)
    return Verdict("clear", ["no embargo, no list match"], [])


Decision = Literal["clear", "reject"]
NOTE_MAX = 2000


def decided_result(decision: Decision) -> Result:
    return "clear" if decision == "clear" else "blocked"


def ensure_decidable(status: str, result: str) -> None:
    """Only an open check in review awaits an officer."""
    if status != "open" or result != "review":
        raise Conflict(f"the check is {status} with result {result}; only open reviews can be decided", field="status")


# -- OpenSanctions targets.simple.csv (pure) -------------------------------------------------------

SCREENED_SCHEMAS = frozenset({"Person", "Organization", "Company", "LegalEntity"})
REQUIRED_COLUMNS = ("id", "schema", "name", "aliases", "countries")
OPTIONAL_COLUMNS = (
    "birth_date",
    "addresses",
    "identifiers",
    "sanctions",
    "phones",
    "emails",
    "program_ids",
    "dataset",
    "first_seen",
    "last_seen",
    "last_change",
)


class SanctionsCsvError(ValueError):
    def __init__(self, detail: str, field: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


@dataclass(frozen=True)
class SanctionsRow:
    id: str
    schema: str
    name: str
    aliases: tuple[str, ...]
    countries: tuple[str, ...]
    dataset: str | None = None
    program_ids: str | None = None
    sanctions: str | None = None
    last_change: str | None = None


def _split(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(dict.fromkeys(part.strip() for part in value.split(";") if part.strip()))


def parse_sanctions_csv(text: str) -> tuple[list[SanctionsRow], int]:
    """Entities of a targets.simple.csv and how many rows were skipped (other schemas, no name).

    A missing required column or a row with the wrong number of fields rejects the whole file.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise SanctionsCsvError("the CSV is empty", field="body")
        columns = [h.strip().lower() for h in header]
        for column in REQUIRED_COLUMNS:
            if column not in columns:
                raise SanctionsCsvError(f"the CSV header lacks the column {column!r}", field=column)
        index = {name: columns.index(name) for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if name in columns}
        rows: dict[str, SanctionsRow] = {}
        skipped = 0
        for record in reader:
            if not record or all(not cell.strip() for cell in record):
                continue
            if len(record) != len(columns):
                raise SanctionsCsvError(
                    f"row {reader.line_num}: {len(record)} fields where the header has {len(columns)}", field="body"
                )

            def cell(name: str, record: list[str] = record) -> str:
                return record[index[name]].strip() if name in index else ""

            entity_id, schema, name = cell("id"), cell("schema"), cell("name")
            if schema not in SCREENED_SCHEMAS or not entity_id or not name or len(entity_id) > 200:
                skipped += 1
                continue
            if entity_id in rows:
                skipped += 1  # a later duplicate row replaces the earlier one
            rows[entity_id] = SanctionsRow(
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
    except csv.Error as exc:
        raise SanctionsCsvError(f"malformed CSV at line {reader.line_num}: {exc}", field="body") from None
    return list(rows.values()), skipped


def decode_csv(raw: bytes) -> str:
    if not raw.strip():
        raise Invalid("the request body is empty; send the CSV as text/csv", field="body")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(f"the CSV is not UTF-8 (byte {exc.start})", field="body") from None


# -- with the database ------------------------------------------------------------------------------


async def audit(
    session: AsyncSession,
    action: str,
    *,
    actor: str = "system",
    subject_type: str | None = None,
    subject_id: str | None = None,
    check_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditRecord:
    record = AuditRecord(
        id=new_id("aud"),
        at=utcnow(),
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        check_id=check_id,
        details=details or {},
    )
    session.add(record)
    return record


async def candidates(session: AsyncSession) -> list[Candidate]:
    """Every watchlist and sanctions entry with its normalised names."""
    found: list[Candidate] = []
    for w in (await session.exec(select(WatchlistEntry))).all():
        found.append(Candidate("watchlist", w.id, w.name, (w.name_normalised,), (w.country,) if w.country else ()))
    for s in (await session.exec(select(SanctionsEntry))).all():
        found.append(Candidate("sanctions", s.id, s.name, tuple(s.names_normalised), tuple(s.countries)))
    return found


async def existing_check(session: AsyncSession, subject_type: str, subject_id: str) -> Check | None:
    query = select(Check).where(Check.subject_type == subject_type, Check.subject_id == subject_id)
    return (await session.exec(query)).first()


async def screen_party(
    session: AsyncSession,
    subject_type: Literal["lead", "account", "order"],
    subject_id: str,
    party: Party,
    embargo: list[str],
    *,
    order: OrderTerms | None = None,
    closed: bool = False,
) -> Check:
    """Screen a party against both lists, store the check and audit it (no events)."""
    settings = compliance_settings()
    matches = find_matches(party, await candidates(session), settings.screening_threshold)
    found = verdict(embargo, matches)
    now = utcnow()
    final = found.result != "review"
    check = Check(
        id=new_id("chk"),
        subject_type=subject_type,
        subject_id=subject_id,
        order_id=order.order_id if order else None,
        party=" / ".join(party.names),
        country=party.country,
        result=found.result,
        reasons=found.reasons,
        matches=[m.model_dump(mode="json") for m in found.matches],
        status="closed" if closed else ("decided" if final else "open"),
        decided_by="system" if final else None,
        decision=("clear" if found.result == "clear" else "reject") if final else None,
        created_at=now,
        decided_at=now if final or closed else None,
        order_terms=order.model_dump(mode="json") if order else None,
    )
    session.add(check)
    await audit(
        session,
        "screened",
        subject_type=subject_type,
        subject_id=subject_id,
        check_id=check.id,
        details={
            "result": found.result,
            "reasons": found.reasons,
            "threshold": settings.screening_threshold,
            "closed_as_cancelled": closed,
        },
    )
    await session.flush()
    return check


def party_country(country: str | None) -> str | None:
    return country.strip().upper() if country and country.strip() else None


async def order_cancelled_before(session: AsyncSession, order_id: str) -> bool:
    return await session.get(OrderCancellation, order_id) is not None


async def record_cancellation(session: AsyncSession, order_id: str, reason: str | None) -> Check | None:
    """Remember the cancellation (it may arrive before the order) and close an open review."""
    if await session.get(OrderCancellation, order_id) is None:
        session.add(OrderCancellation(order_id=order_id, cancelled_at=utcnow(), reason=reason))
    check = await existing_check_for_update(session, "order", order_id)
    if check is None or check.status != "open":
        return None
    check.status = "closed"
    check.decided_at = utcnow()
    session.add(check)
    await audit(
        session,
        "closed",
        subject_type="order",
        subject_id=order_id,
        check_id=check.id,
        details={"reason": reason or "order cancelled"},
    )
    return check


async def existing_check_for_update(session: AsyncSession, subject_type: str, subject_id: str) -> Check | None:
    query = select(Check).where(Check.subject_type == subject_type, Check.subject_id == subject_id)
    return (await session.exec(query.with_for_update())).first()


async def get_check(session: AsyncSession, check_id: str, *, lock: bool = False) -> Check:
    query = select(Check).where(Check.id == check_id)
    if lock:
        query = query.with_for_update()
    check = (await session.exec(query)).first()
    if check is None:
        raise NotFound(f"no check {check_id!r}", field="check_id")
    return check


async def decide(session: AsyncSession, check_id: str, decision: Decision, note: str, officer: str) -> Check:
    """An officer clears or rejects a check in review; publishes the outcome with the change."""
    check = await get_check(session, check_id, lock=True)
    ensure_decidable(check.status, check.result)
    now = utcnow()
    result = decided_result(decision)
    check.status, check.result, check.decision = "decided", result, decision
    check.decided_by, check.note, check.decided_at = officer, note, now
    session.add(check)
    await audit(
        session,
        "decided",
        actor=officer,
        subject_type=check.subject_type,
        subject_id=check.subject_id,
        check_id=check.id,
        details={"decision": decision, "result": result, "note": note},
    )
    correlation = check.order_id or check.subject_id
    await outbox.publish(
        session,
        ScreeningCompleted(
            check_id=check.id,
            subject_type=check.subject_type,  # type: ignore[arg-type]
            subject_id=check.subject_id,
            result=result,
            reasons=[*check.reasons, f"officer {decision}: {note}"],
            matches=[Match.model_validate(m) for m in check.matches],
            decided_by=officer,
        ),
        correlation_id=correlation,
    )
    if check.subject_type == "order" and check.order_id:
        if decision == "clear":
            terms = OrderTerms.model_validate(check.order_terms)
            payload: OrderCleared | OrderRejected = OrderCleared(
                order_id=check.order_id, check_id=check.id, decided_by=officer, order=terms
            )
        else:
            payload = OrderRejected(
                order_id=check.order_id,
                check_id=check.id,
                reasons=[*check.reasons, f"rejected by a compliance officer: {note}"],
                decided_by=officer,
            )
        await outbox.publish(session, payload, correlation_id=check.order_id)
    return check


# -- watchlist and sanctions list -------------------------------------------------------------------


async def add_to_watchlist(session: AsyncSession, name: str, country: str | None, reason: str, actor: str):
    normalised = normalise(name)
    if not normalised:
        raise Invalid("the name has no letters or digits to match on", field="name")
    entry = WatchlistEntry(
        id=new_id("wl"),
        name=name,
        name_normalised=normalised,
        country=country,
        reason=reason,
        created_at=utcnow(),
        created_by=actor,
    )
    session.add(entry)
    await audit(
        session,
        "watchlist_added",
        actor=actor,
        subject_type="watchlist",
        subject_id=entry.id,
        details={"name": name, "country": country, "reason": reason},
    )
    return entry


async def remove_from_watchlist(session: AsyncSession, entry_id: str, actor: str) -> None:
    entry = (await session.exec(select(WatchlistEntry).where(WatchlistEntry.id == entry_id).with_for_update())).first()
    if entry is None:
        raise NotFound(f"no watchlist entry {entry_id!r}", field="entry_id")
    await session.delete(entry)
    await audit(
        session,
        "watchlist_removed",
        actor=actor,
        subject_type="watchlist",
        subject_id=entry.id,
        details={"name": entry.name, "country": entry.country, "reason": entry.reason},
    )


def _entry_values(row: SanctionsRow, now: Any) -> dict[str, Any]:
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
    session: AsyncSession, text: str, *, actor: str, replace: bool = False, source: str = "upload"
) -> tuple[int, int]:
    """Upsert the entities of a targets.simple.csv by id; `replace` drops entries not in the file."""
    try:
        rows, skipped = parse_sanctions_csv(text)
    except SanctionsCsvError as exc:
        raise Invalid(exc.detail, field=exc.field) from None
    now = utcnow()
    by_id = {row.id: row for row in rows}
    existing: dict[str, SanctionsEntry] = {}
    ids = list(by_id)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
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
    await audit(
        session,
        "sanctions_imported",
        actor=actor,
        subject_type="sanctions",
        details={
            "source": source,
            "imported": len(rows),
            "skipped": skipped,
            "replace": replace,
            "removed": removed,
        },
    )
    await session.flush()
    return len(rows), skipped


async def load_sanctions_if_empty(session: AsyncSession, path: Path) -> int:
    """Dev and test: fill an empty sanctions table from a shipped or configured file."""
    if (await session.exec(select(SanctionsEntry.id).limit(1))).first() is not None:
        return 0
    text = await asyncio.to_thread(path.read_text, "utf-8-sig")
    imported, _ = await import_sanctions(session, text, actor="system", source=path.name)
    return imported
