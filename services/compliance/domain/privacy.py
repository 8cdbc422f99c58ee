"""Data-subject requests (GDPR art. 15 access, art. 17 erasure) fanned out to every department.

Compliance opens the request (`compliance.privacy_request.opened.v1`), answers for itself at once
(its screenings of the person), collects each department's `<dept>.privacy_request.answered.v1`
and completes the request when every expected department answered, with `proof` = sha256 over
the canonical JSON of the answers in department order.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from hanse.errors import PermanentEventError
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.pagination import get_or_404
from hanse.privacy import PrivacyAnswer, Retained, pseudonym
from services.compliance.config import UoW
from services.compliance.contract import PrivacyRequestCompleted, PrivacyRequestOpened
from services.compliance.domain import audit
from services.compliance.models import (
    Check,
    DepartmentAnswer,
    PrivacyAnswerRow,
    PrivacyExport,
    PrivacyRequest,
    PrivacyRequestCreate,
    PrivacyRequestPublic,
)

DUE_DAYS = 30  # GDPR art. 12(3): one month
# Screening records prove the checks the law requires; kept 5 years after the business relation
# (EU AMLD art. 40, Dual-Use Regulation 2021/821 art. 27).
SCREENING_RETENTION_YEARS = 5


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def proof_of(answers: dict[str, dict[str, Any]]) -> str:
    """sha256 over the canonical JSON of every answer, in department order."""
    return hashlib.sha256(canonical([answers[d] for d in sorted(answers)])).hexdigest()


def _check_record(check: Check) -> dict[str, Any]:
    return {
        "check_id": check.id,
        "subject_type": check.subject_type,
        "subject_id": check.subject_id,
        "party": check.party,
        "country": check.country,
        "result": check.result,
        "reasons": check.reasons,
        "created_at": check.created_at.isoformat(),
    }


def _is_pseudonym(email: str) -> bool:
    """An address `hanse.privacy.pseudonym` made: its request's person has been erased."""
    return email.startswith("erased-") and email.endswith("@invalid")


async def _erase_earlier_exports(uow: UoW, request: PrivacyRequest, email: str, stand_in: str) -> int:
    """An earlier access request of the person holds every department's export of them (names,
    addresses, tickets, invoices): erasure must not leave that copy behind. The exports are dropped
    and the address pseudonymised; the request, the counts and its proof (a hash over what was
    reported then) stay as the record that the access request was answered."""
    query = select(PrivacyRequest).where(
        func.lower(PrivacyRequest.email) == email, PrivacyRequest.kind == "access", PrivacyRequest.id != request.id
    )
    earlier = (await uow.session.exec(query.with_for_update())).all()
    for access in earlier:
        access.email = stand_in
        uow.session.add(access)
        rows = await uow.session.exec(select(PrivacyAnswerRow).where(PrivacyAnswerRow.request_id == access.id))
        for row in rows.all():
            row.answer = {**row.answer, "export": {}}  # a new dict: the JSON column sees the change
            uow.session.add(row)
    return len(earlier)


async def _own_answer(uow: UoW, request: PrivacyRequest) -> PrivacyAnswer:
    """Compliance's own records of the person: the screenings that carry the address, and (erasure)
    the exports of earlier access requests."""
    email = request.email.strip().lower()
    query = select(Check).where(func.lower(Check.email) == email).order_by(Check.id)
    checks = (await uow.session.exec(query)).all()
    fields: dict[str, Any] = {"request_id": request.id, "kind": request.kind, "department": "compliance"}
    if request.kind == "access":
        return PrivacyAnswer(**fields, records=len(checks), export={"screenings": [_check_record(c) for c in checks]})
    stand_in = pseudonym(email, uow.settings.signing_secret())
    exports = await _erase_earlier_exports(uow, request, email, stand_in)
    if not checks:
        return PrivacyAnswer(**fields, records=exports, erased=exports)
    for check in checks:
        check.email = stand_in
        uow.session.add(check)
    now = datetime.now(UTC).date()
    until = now.replace(year=now.year + SCREENING_RETENTION_YEARS)
    retained = Retained(
        what=f"{len(checks)} screening records (party names, verdicts), the address pseudonymised",
        why="sanctions and export-control screening records are kept 5 years "
        "(EU AMLD art. 40, Dual-Use Regulation 2021/821 art. 27)",
        until=until,
    )
    return PrivacyAnswer(
        **fields,
        records=len(checks) + exports,
        erased=exports,
        pseudonymised=len(checks),
        retained=[retained],
    )


async def open_request(uow: UoW, body: PrivacyRequestCreate, actor: str) -> PrivacyRequest:
    now = utcnow()
    request = PrivacyRequest(
        id=new_id("prq"),
        kind=body.kind,
        email=str(body.email),
        status="open",
        due=(now + timedelta(days=DUE_DAYS)).date(),
        expected=uow.config.privacy_expected(),
        created_at=now,
        created_by=actor,
    )
    uow.session.add(request)
    # The screenings first (row locks), the audit chain last: the lock order of every transaction.
    own = await _own_answer(uow, request)
    await audit.record(
        uow,
        "privacy_request_opened",
        actor=actor,
        subject_type="privacy_request",
        subject_id=request.id,
        details={"kind": request.kind, "due": request.due.isoformat(), "expected": request.expected},
    )
    await uow.session.flush()
    await uow.publish(
        PrivacyRequestOpened(request_id=request.id, kind=request.kind, email=request.email, due=request.due),
        correlation_id=request.id,
    )
    await _store_answer(uow, request, own)
    return request


async def _store_answer(uow: UoW, request: PrivacyRequest, answer: PrivacyAnswer) -> None:
    if await uow.session.get(PrivacyAnswerRow, (request.id, answer.department)) is not None:
        return  # the same answer again (or a second one): the first counts
    if request.kind == "access" and _is_pseudonym(request.email):
        # The person was erased while this access request ran: its late answers keep no export.
        answer = answer.model_copy(update={"export": {}})
    uow.session.add(
        PrivacyAnswerRow(
            request_id=request.id,
            department=answer.department,
            answer=answer.model_dump(mode="json"),
            received_at=utcnow(),
        )
    )
    await uow.session.flush()
    await audit.record(
        uow,
        "privacy_request_answered",
        subject_type="privacy_request",
        subject_id=request.id,
        details={
            "department": answer.department,
            "records": answer.records,
            "erased": answer.erased,
            "pseudonymised": answer.pseudonymised,
            "retained": [r.model_dump(mode="json") for r in answer.retained],
        },
    )
    await _complete_if_all_answered(uow, request)


async def _answers(uow: UoW, request_id: str) -> dict[str, dict[str, Any]]:
    query = select(PrivacyAnswerRow).where(PrivacyAnswerRow.request_id == request_id)
    return {row.department: row.answer for row in (await uow.session.exec(query)).all()}


async def _complete_if_all_answered(uow: UoW, request: PrivacyRequest) -> None:
    if request.status != "open":
        return
    answers = await _answers(uow, request.id)
    if not set(request.expected) <= set(answers):
        return
    request.status, request.completed_at = "completed", utcnow()
    request.proof = proof_of(answers)
    if request.kind == "erasure":
        request.email = pseudonym(request.email, uow.settings.signing_secret())
    uow.session.add(request)
    await audit.record(
        uow,
        "privacy_request_completed",
        subject_type="privacy_request",
        subject_id=request.id,
        details={"proof": request.proof, "departments": sorted(answers)},
    )
    await uow.publish(
        PrivacyRequestCompleted(request_id=request.id, kind=request.kind, proof=request.proof),
        correlation_id=request.id,
    )


async def record_answer(uow: UoW, answer: PrivacyAnswer) -> None:
    """A department answered (`<dept>.privacy_request.answered.v1`)."""
    query = select(PrivacyRequest).where(PrivacyRequest.id == answer.request_id).with_for_update()
    request = (await uow.session.exec(query)).first()
    if request is None:
        raise PermanentEventError(f"no privacy request {answer.request_id!r}")
    department = uow.cause.source.rsplit("/", 1)[-1] if uow.cause is not None else answer.department
    if answer.department != department:
        raise PermanentEventError(f"{department} answered as {answer.department!r}")
    await _store_answer(uow, request, answer)


async def view(uow: UoW, request_id: str) -> PrivacyRequestPublic:
    request = await get_or_404(uow.session, PrivacyRequest, request_id, what="privacy request", field="request_id")
    answers = await _answers(uow, request_id)
    departments = {
        d: DepartmentAnswer.model_validate({**answers[d], "status": "answered"})
        if d in answers
        else DepartmentAnswer(status="pending")
        for d in sorted({*request.expected, *answers})
    }
    return PrivacyRequestPublic(
        id=request.id,
        kind=request.kind,
        status=request.status,
        due=request.due,
        departments=departments,
        proof=request.proof,
        created_at=request.created_at,
        completed_at=request.completed_at,
    )


async def export(uow: UoW, request_id: str) -> PrivacyExport:
    request = await get_or_404(uow.session, PrivacyRequest, request_id, what="privacy request", field="request_id")
    answers = await _answers(uow, request_id)
    return PrivacyExport(
        request_id=request.id,
        kind=request.kind,
        status=request.status,
        departments={d: answers[d].get("export", {}) for d in sorted(answers)},
    )
