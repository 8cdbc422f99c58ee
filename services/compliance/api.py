"""HTTP routes of the compliance service under /api/v1/compliance."""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlmodel import SQLModel, select
from sqlmodel.sql.expression import SelectOfScalar

from hanse.app import unit_of_work
from hanse.auth import Principal, require_roles
from hanse.errors import DomainError
from hanse.pagination import Cursor, Limit, Page, paginate
from services.compliance import views
from services.compliance.config import UoW
from services.compliance.contract import ScreeningResult, SubjectType
from services.compliance.domain import rules, sanctions, screening, watchlist
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

UoWDep = Annotated[UoW, Depends(unit_of_work)]
Officer = Annotated[Principal, require_roles("compliance")]
Reader = Annotated[Principal, require_roles("compliance", "sales")]
IdQuery = Annotated[str | None, Query(min_length=1, max_length=255)]
TableT = TypeVar("TableT", bound=SQLModel)
AuditAction = Literal["screened", "decided", "closed", "watchlist_added", "watchlist_removed", "sanctions_imported"]


def rows_where(table: type[TableT], **equal: str | None) -> SelectOfScalar[TableT]:
    """Rows of a table whose columns equal the given query values (None: any)."""
    query = select(table)
    for column, value in equal.items():
        if value is not None:
            query = query.where(getattr(table, column) == value)
    return query


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


# -- watchlist -------------------------------------------------------------------------------------


@router.post("/watchlist", status_code=201, response_model=WatchlistPublic, summary="Add a party to the watchlist")
async def add_to_watchlist(body: WatchlistCreate, uow: UoWDep, officer: Officer) -> WatchlistEntry:
    entry = await watchlist.add_to_watchlist(uow, body, officer.subject)
    await uow.commit()
    return entry


@router.get("/watchlist", response_model=Page[WatchlistPublic], summary="The internal watchlist")
async def list_watchlist(uow: UoWDep, _: Officer, cursor: Cursor = None, limit: Limit = 50) -> Page[WatchlistPublic]:
    page = await paginate(uow.session, select(WatchlistEntry), WatchlistEntry.id, cursor, limit)
    return views.page_of(WatchlistPublic, page)


@router.delete("/watchlist/{entry_id}", status_code=204, summary="Remove a watchlist entry (audited)")
async def remove_from_watchlist(entry_id: str, uow: UoWDep, officer: Officer) -> Response:
    await watchlist.remove_from_watchlist(uow, entry_id, officer.subject)
    await uow.commit()
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
    uow: UoWDep,
    officer: Officer,
    replace: Annotated[bool, Query(description="drop entries that are not in this file")] = False,
) -> ImportResult:
    media_type = request.headers.get("content-type", "text/csv").split(";", 1)[0].strip().lower()
    if media_type not in CSV_TYPES:
        raise UnsupportedMediaType(f"send the CSV as the raw body with Content-Type text/csv, not {media_type}")
    text = rules.decode_csv(await request.body())
    imported, skipped = await sanctions.import_sanctions(uow, text, actor=officer.subject, replace=replace)
    await uow.commit()
    return ImportResult(imported=imported, skipped=skipped)


@router.get("/sanctions", response_model=Page[SanctionsPublic], summary="Screened sanctions entities")
async def list_sanctions(uow: UoWDep, _: Officer, cursor: Cursor = None, limit: Limit = 50) -> Page[SanctionsPublic]:
    page = await paginate(uow.session, select(SanctionsEntry), SanctionsEntry.id, cursor, limit)
    return views.page_of(SanctionsPublic, page)


# -- checks and the review queue -------------------------------------------------------------------


@router.get("/checks", response_model=Page[CheckPublic], summary="Screenings of leads, accounts and orders")
async def list_checks(
    uow: UoWDep,
    _: Reader,
    order_id: IdQuery = None,
    subject_type: SubjectType | None = None,
    subject_id: IdQuery = None,
    result: ScreeningResult | None = None,
    status: rules.CheckStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[CheckPublic]:
    query = rows_where(
        Check, order_id=order_id, subject_type=subject_type, subject_id=subject_id, result=result, status=status
    )
    return views.page_of(CheckPublic, await paginate(uow.session, query, Check.id, cursor, limit))


@router.get("/checks/{check_id}", response_model=CheckPublic, summary="One screening")
async def get_check(check_id: str, uow: UoWDep, _: Reader) -> CheckPublic:
    return CheckPublic.model_validate(await screening.get_check(uow.session, check_id))


@router.get("/reviews", response_model=Page[CheckPublic], summary="Open checks waiting for an officer")
async def list_reviews(uow: UoWDep, _: Officer, cursor: Cursor = None, limit: Limit = 50) -> Page[CheckPublic]:
    query = rows_where(Check, status="open", result="review")
    return views.page_of(CheckPublic, await paginate(uow.session, query, Check.id, cursor, limit))


@router.post("/checks/{check_id}/decision", response_model=CheckPublic, summary="An officer clears or rejects")
async def decide(check_id: str, body: DecisionCreate, uow: UoWDep, officer: Officer) -> CheckPublic:
    check = await screening.decide(uow, check_id, body.decision, body.note, officer.subject)
    await uow.commit()
    return CheckPublic.model_validate(check)


# -- audit trail -----------------------------------------------------------------------------------


@router.get("/audit", response_model=Page[AuditPublic], summary="The audit trail, oldest first")
async def list_audit(
    uow: UoWDep,
    _: Officer,
    subject_id: IdQuery = None,
    check_id: IdQuery = None,
    action: AuditAction | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[AuditPublic]:
    query = rows_where(AuditRecord, subject_id=subject_id, check_id=check_id, action=action)
    return views.page_of(AuditPublic, await paginate(uow.session, query, AuditRecord.id, cursor, limit))
