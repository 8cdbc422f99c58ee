"""HTTP routes of the compliance service under /api/v1/compliance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import select
from starlette.datastructures import UploadFile

from hanse.auth import Principal, require_roles
from hanse.errors import DomainError, Invalid
from hanse.pagination import Cursor, Limit, Page, get_or_404, paginate
from services.compliance.config import UoWDep
from services.compliance.contract import ContractStatus, ScreeningResult, SubjectType
from services.compliance.domain import audit, contracts, exports, privacy, rules, sanctions, screening, watchlist
from services.compliance.models import (
    AuditPublic,
    AuditRecord,
    AuditVerification,
    Check,
    CheckPublic,
    Contract,
    ContractCreate,
    ContractPublic,
    ContractStatusChange,
    DecisionCreate,
    ExportControlCreate,
    ExportControlPublic,
    ExportControlRule,
    ImportAccepted,
    LicenceCreate,
    LicencePublic,
    PrivacyExport,
    PrivacyRequestAccepted,
    PrivacyRequestCreate,
    PrivacyRequestPublic,
    RequiredDocumentPublic,
    SanctionsEntry,
    SanctionsImport,
    SanctionsImportPublic,
    SanctionsPublic,
    WatchlistCreate,
    WatchlistEntry,
    WatchlistPublic,
)

router = APIRouter(prefix="/api/v1/compliance", tags=["compliance"])

Officer = Annotated[Principal, require_roles("compliance")]
Reader = Annotated[Principal, require_roles("compliance", "sales")]
# Logistics reads the documents an order needs (it also receives them as an event).
DocumentReader = Annotated[Principal, require_roles("compliance", "sales", "logistics")]
IdQuery = Annotated[str | None, Query(min_length=1, max_length=255)]
AuditAction = Literal[
    "screened",
    "decided",
    "closed",
    "watchlist_added",
    "watchlist_removed",
    "sanctions_imported",
    "export_rules_loaded",
    "export_rule_added",
    "licence_recorded",
    "incoterm_checked",
    "rescreened",
    "contract_created",
    "contract_status_changed",
    "privacy_request_opened",
    "privacy_request_answered",
    "privacy_request_completed",
]


class UnsupportedMediaType(DomainError, status=415, title="Unsupported media type", slug="unsupported-media-type"):
    """The sanctions import takes a multipart upload (or a raw CSV / JSON lines body)."""


# A raw body is accepted too (scripts: curl --data-binary @targets.simple.csv).
RAW_TYPES = ("text/csv", "application/csv", "text/plain", "application/octet-stream", "application/x-ndjson")


# -- watchlist -------------------------------------------------------------------------------------


@router.post("/watchlist", status_code=201, response_model=WatchlistPublic, summary="Add a party to the watchlist")
async def add_to_watchlist(body: WatchlistCreate, uow: UoWDep, officer: Officer) -> WatchlistEntry:
    entry = await watchlist.add_to_watchlist(uow, body, officer.subject)
    await uow.commit()
    return entry


@router.get("/watchlist", response_model=Page[WatchlistPublic], summary="The internal watchlist")
async def list_watchlist(uow: UoWDep, _: Officer, cursor: Cursor = None, limit: Limit = 50) -> Page[WatchlistPublic]:
    page = await paginate(uow.session, select(WatchlistEntry), WatchlistEntry.id, cursor, limit)
    return page.map(WatchlistPublic.model_validate)


@router.delete("/watchlist/{entry_id}", status_code=204, summary="Remove a watchlist entry (audited)")
async def remove_from_watchlist(entry_id: str, uow: UoWDep, officer: Officer) -> Response:
    await watchlist.remove_from_watchlist(uow, entry_id, officer.subject)
    await uow.commit()
    return Response(status_code=204)


# -- sanctions list --------------------------------------------------------------------------------

UPLOAD_CHUNK = 1024 * 1024


async def _upload_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(UPLOAD_CHUNK):
        yield chunk


@router.post(
    "/sanctions/import",
    status_code=202,
    response_model=ImportAccepted,
    summary="Upload a sanctions list (multipart `file`: targets.simple.csv or FollowTheMoney JSON lines)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                },
                "text/csv": {"schema": {"type": "string"}},
            },
        },
    },
)
async def import_sanctions(
    request: Request,
    uow: UoWDep,
    officer: Officer,
    replace: Annotated[bool, Query(description="drop entries that are not in this file")] = False,
) -> ImportAccepted:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    upload_id = sanctions.new_upload_id()
    path = sanctions.upload_dir(uow) / f"{upload_id}.upload"
    filename: str | None = None
    if media_type == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=10)
        except Exception as exc:  # a broken multipart body is the client's, whatever the parser raised
            raise Invalid(f"unreadable multipart body: {exc}", field="file") from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Invalid("send the list as the multipart field 'file'", field="file")
        filename = upload.filename
        fmt = await sanctions.store_upload(_upload_chunks(upload), path)
    elif media_type in RAW_TYPES:
        fmt = await sanctions.store_upload(request.stream(), path)
    else:
        raise UnsupportedMediaType(f"send the list as multipart/form-data field 'file', not {media_type or 'nothing'}")
    job = await sanctions.accept_upload(uow, path, fmt, filename=filename, actor=officer.subject, replace=replace)
    await uow.commit()
    return ImportAccepted(id=job.id, status=job.status)


@router.get(
    "/sanctions/imports/{import_id}", response_model=SanctionsImportPublic, summary="An import's status and counts"
)
async def get_import(import_id: str, uow: UoWDep, _: Officer) -> SanctionsImport:
    return await get_or_404(uow.session, SanctionsImport, import_id, what="sanctions import", field="import_id")


@router.get("/sanctions", response_model=Page[SanctionsPublic], summary="Screened sanctions entities")
async def list_sanctions(uow: UoWDep, _: Officer, cursor: Cursor = None, limit: Limit = 50) -> Page[SanctionsPublic]:
    page = await paginate(uow.session, select(SanctionsEntry), SanctionsEntry.id, cursor, limit)
    return page.map(SanctionsPublic.model_validate)


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
    filters = {
        Check.order_id: order_id,
        Check.subject_type: subject_type,
        Check.subject_id: subject_id,
        Check.result: result,
        Check.status: status,
    }
    page = await paginate(uow.session, select(Check), Check.id, cursor, limit, filters=filters)
    return page.map(CheckPublic.model_validate)


@router.get("/checks/{check_id}", response_model=CheckPublic, summary="One screening")
async def get_check(check_id: str, uow: UoWDep, _: Reader) -> CheckPublic:
    return CheckPublic.model_validate(await screening.get_check(uow.session, check_id))


@router.get("/reviews", response_model=Page[CheckPublic], summary="Open checks waiting for an officer")
async def list_reviews(uow: UoWDep, _: Officer, cursor: Cursor = None, limit: Limit = 50) -> Page[CheckPublic]:
    filters = {Check.status: "open", Check.result: "review"}
    page = await paginate(uow.session, select(Check), Check.id, cursor, limit, filters=filters)
    return page.map(CheckPublic.model_validate)


@router.post("/checks/{check_id}/decision", response_model=CheckPublic, summary="An officer clears or rejects")
async def decide(check_id: str, body: DecisionCreate, uow: UoWDep, officer: Officer) -> CheckPublic:
    check = await screening.decide(uow, check_id, body.decision, body.note, officer.subject)
    await uow.commit()
    return CheckPublic.model_validate(check)


# -- audit trail -----------------------------------------------------------------------------------


@router.get("/audit/verify", response_model=AuditVerification, summary="Check the audit trail's hash chain")
async def verify_audit(uow: UoWDep, _: Officer) -> AuditVerification:
    return await audit.verify(uow.session)


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
    filters = {AuditRecord.subject_id: subject_id, AuditRecord.check_id: check_id, AuditRecord.action: action}
    page = await paginate(uow.session, select(AuditRecord), AuditRecord.id, cursor, limit, filters=filters)
    return page.map(AuditPublic.model_validate)


# -- export control, licences, required documents --------------------------------------------------


@router.post(
    "/export-controls", status_code=201, response_model=ExportControlPublic, summary="Add an export-control rule"
)
async def add_export_control(body: ExportControlCreate, uow: UoWDep, officer: Officer) -> ExportControlRule:
    rule = await exports.add_rule(uow, body, officer.subject)
    await uow.commit()
    return rule


@router.get("/export-controls", response_model=Page[ExportControlPublic], summary="Export-control rules in force")
async def list_export_controls(
    uow: UoWDep, _: Reader, cursor: Cursor = None, limit: Limit = 50
) -> Page[ExportControlPublic]:
    page = await paginate(uow.session, select(ExportControlRule), ExportControlRule.id, cursor, limit)
    return page.map(ExportControlPublic.model_validate)


@router.post("/licences", status_code=201, response_model=LicencePublic, summary="Record an export licence")
async def record_licence(body: LicenceCreate, uow: UoWDep, officer: Officer) -> LicencePublic:
    licence = await exports.record_licence(
        uow, body.order_id, body.number, body.authority, body.valid_until, officer.subject
    )
    await uow.commit()
    return licence


@router.get(
    "/orders/{order_id}/required-documents",
    response_model=Page[RequiredDocumentPublic],
    summary="The trade documents an order's shipment needs",
)
async def required_documents(order_id: str, uow: UoWDep, _: DocumentReader) -> Page[RequiredDocumentPublic]:
    check = await exports.order_check(uow, order_id)
    items = [RequiredDocumentPublic.model_validate(d) for d in check.required_documents]
    return Page(items=items, next_cursor=None)


# -- contracts -------------------------------------------------------------------------------------

ContractReader = Annotated[Principal, require_roles("compliance", "sales", "procurement")]


@router.post("/contracts", status_code=201, response_model=ContractPublic, summary="Record a contract (draft)")
async def create_contract(body: ContractCreate, uow: UoWDep, officer: Officer) -> Contract:
    contract = await contracts.create_contract(uow, body, officer.subject)
    await uow.commit()
    return contract


@router.get(
    "/contracts", response_model=Page[ContractPublic], summary="Contracts; expiring ones with ?expiring_within_days="
)
async def list_contracts(
    uow: UoWDep,
    _: ContractReader,
    expiring_within_days: Annotated[int | None, Query(ge=0, le=3650)] = None,
    party_id: IdQuery = None,
    status: ContractStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ContractPublic]:
    query = select(Contract)
    if expiring_within_days is not None:
        # Expiring: still in force (active) and ending within the window.
        horizon = contracts.expiring_filter(expiring_within_days)
        query = query.where(Contract.status == "active", Contract.expires_on <= horizon)
    filters = {Contract.party_id: party_id, Contract.status: status}
    page = await paginate(uow.session, query, Contract.id, cursor, limit, filters=filters)
    return page.map(ContractPublic.model_validate)


@router.get("/contracts/{contract_id}", response_model=ContractPublic, summary="One contract")
async def get_contract(contract_id: str, uow: UoWDep, _: ContractReader) -> Contract:
    return await get_or_404(uow.session, Contract, contract_id, what="contract", field="contract_id")


@router.post(
    "/contracts/{contract_id}/status", response_model=ContractPublic, summary="Move a contract in its review workflow"
)
async def change_contract_status(
    contract_id: str, body: ContractStatusChange, uow: UoWDep, officer: Officer
) -> Contract:
    contract = await contracts.change_status(uow, contract_id, body.status, officer.subject)
    await uow.commit()
    return contract


# -- privacy requests (GDPR) ------------------------------------------------------------------------


@router.post(
    "/privacy-requests",
    status_code=202,
    response_model=PrivacyRequestAccepted,
    summary="Open a data-subject access or erasure request (every department answers)",
)
async def open_privacy_request(body: PrivacyRequestCreate, uow: UoWDep, officer: Officer) -> PrivacyRequestAccepted:
    request = await privacy.open_request(uow, body, officer.subject)
    await uow.commit()
    return PrivacyRequestAccepted(id=request.id, kind=request.kind, status=request.status, due=request.due)


@router.get("/privacy-requests/{request_id}", response_model=PrivacyRequestPublic, summary="A request's progress")
async def get_privacy_request(request_id: str, uow: UoWDep, _: Officer) -> PrivacyRequestPublic:
    return await privacy.view(uow, request_id)


@router.get(
    "/privacy-requests/{request_id}/export",
    response_model=PrivacyExport,
    summary="Every department's records of the person, as JSON",
)
async def export_privacy_request(request_id: str, uow: UoWDep, _: Officer) -> PrivacyExport:
    return await privacy.export(uow, request_id)
