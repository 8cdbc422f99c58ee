"""HTTP routes of the compliance service under /api/v1/compliance."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import select

from hanse.app import SessionDep
from hanse.auth import Principal, require_roles
from hanse.errors import DomainError
from hanse.pagination import Cursor, Limit, Page, paginate
from services.compliance import domain
from services.compliance.models import (
    AuditPublic,
    AuditRecord,
    Check,
    CheckPublic,
    DecisionCreate,
    ImportResult,
    SanctionsEntry,
    SanctionsPublic,
    WatchlistCreate,
    WatchlistEntry,
    WatchlistPublic,
)

router = APIRouter(prefix="/api/v1/compliance", tags=["compliance"])

Officer = Annotated[Principal, require_roles("compliance")]
Reader = Annotated[Principal, require_roles("compliance", "sales")]
IdQuery = Annotated[str | None, Query(min_length=1, max_length=255)]


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


# -- watchlist -------------------------------------------------------------------------------------


@router.post("/watchlist", status_code=201, response_model=WatchlistPublic, summary="Add a party to the watchlist")
async def add_to_watchlist(body: WatchlistCreate, session: SessionDep, officer: Officer) -> WatchlistEntry:
    entry = await domain.add_to_watchlist(session, body.name, body.country, body.reason, officer.subject)
    await session.commit()
    return entry


@router.get("/watchlist", response_model=Page[WatchlistPublic], summary="The internal watchlist")
async def list_watchlist(
    session: SessionDep, _: Officer, cursor: Cursor = None, limit: Limit = 50
) -> Page[WatchlistPublic]:
    page = await paginate(session, select(WatchlistEntry), WatchlistEntry.id, cursor, limit)
    return Page[WatchlistPublic](
        items=[WatchlistPublic.model_validate(e) for e in page.items], next_cursor=page.next_cursor
    )


@router.delete("/watchlist/{entry_id}", status_code=204, summary="Remove a watchlist entry (audited)")
async def remove_from_watchlist(entry_id: str, session: SessionDep, officer: Officer) -> Response:
    await domain.remove_from_watchlist(session, entry_id, officer.subject)
    await session.commit()
    return Response(status_code=204)


# -- sanctions list --------------------------------------------------------------------------------

CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/octet-stream")


@router.post(
    "/sanctions/import",
    response_model=ImportResult,
    summary="Import an OpenSanctions targets.simple.csv (raw text/csv body)",
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
    },
)
async def import_sanctions(
    request: Request,
    session: SessionDep,
    officer: Officer,
    replace: Annotated[bool, Query(description="drop entries that are not in this file")] = False,
) -> ImportResult:
    media_type = request.headers.get("content-type", "text/csv").split(";", 1)[0].strip().lower()
    if media_type not in CSV_TYPES:
        raise UnsupportedMediaType(f"send the CSV as the raw body with Content-Type text/csv, not {media_type}")
    text = domain.decode_csv(await request.body())
    imported, skipped = await domain.import_sanctions(session, text, actor=officer.subject, replace=replace)
    await session.commit()
    return ImportResult(imported=imported, skipped=skipped)


@router.get("/sanctions", response_model=Page[SanctionsPublic], summary="Screened sanctions entities")
async def list_sanctions(
    session: SessionDep, _: Officer, cursor: Cursor = None, limit: Limit = 50
) -> Page[SanctionsPublic]:
    page = await paginate(session, select(SanctionsEntry), SanctionsEntry.id, cursor, limit)
    return Page[SanctionsPublic](
        items=[SanctionsPublic.model_validate(e) for e in page.items], next_cursor=page.next_cursor
    )


# -- checks and the review queue -------------------------------------------------------------------


def _checks_page(page: Page) -> Page[CheckPublic]:
    return Page[CheckPublic](items=[CheckPublic.model_validate(c) for c in page.items], next_cursor=page.next_cursor)


@router.get("/checks", response_model=Page[CheckPublic], summary="Screenings of leads, accounts and orders")
async def list_checks(
    session: SessionDep,
    _: Reader,
    order_id: IdQuery = None,
    subject_type: Literal["lead", "account", "order"] | None = None,
    subject_id: IdQuery = None,
    result: Literal["clear", "review", "blocked"] | None = None,
    status: Literal["open", "decided", "closed"] | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[CheckPublic]:
    query = select(Check)
    if order_id is not None:
        query = query.where(Check.order_id == order_id)
    if subject_type is not None:
        query = query.where(Check.subject_type == subject_type)
    if subject_id is not None:
        query = query.where(Check.subject_id == subject_id)
    if result is not None:
        query = query.where(Check.result == result)
    if status is not None:
        query = query.where(Check.status == status)
    return _checks_page(await paginate(session, query, Check.id, cursor, limit))


@router.get("/checks/{check_id}", response_model=CheckPublic, summary="One screening")
async def get_check(check_id: str, session: SessionDep, _: Reader) -> CheckPublic:
    return CheckPublic.model_validate(await domain.get_check(session, check_id))


@router.get("/reviews", response_model=Page[CheckPublic], summary="Open checks waiting for an officer")
async def list_reviews(session: SessionDep, _: Officer, cursor: Cursor = None, limit: Limit = 50) -> Page[CheckPublic]:
    query = select(Check).where(Check.status == "open", Check.result == "review")
    return _checks_page(await paginate(session, query, Check.id, cursor, limit))


@router.post("/checks/{check_id}/decision", response_model=CheckPublic, summary="An officer clears or rejects")
async def decide(check_id: str, body: DecisionCreate, session: SessionDep, officer: Officer) -> CheckPublic:
    check = await domain.decide(session, check_id, body.decision, body.note, officer.subject)
    await session.commit()
    return CheckPublic.model_validate(check)


# -- audit trail ------------------------------------------------------------------------------------


@router.get("/audit", response_model=Page[AuditPublic], summary="The audit trail, oldest first")
async def list_audit(
    session: SessionDep,
    _: Officer,
    subject_id: IdQuery = None,
    check_id: IdQuery = None,
    action: Literal["screened", "decided", "closed", "watchlist_added", "watchlist_removed", "sanctions_imported"]
    | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[AuditPublic]:
    query = select(AuditRecord)
    if subject_id is not None:
        query = query.where(AuditRecord.subject_id == subject_id)
    if check_id is not None:
        query = query.where(AuditRecord.check_id == check_id)
    if action is not None:
        query = query.where(AuditRecord.action == action)
    page = await paginate(session, query, AuditRecord.id, cursor, limit)
    return Page[AuditPublic](items=[AuditPublic.model_validate(a) for a in page.items], next_cursor=page.next_cursor)
