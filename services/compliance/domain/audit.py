"""The append-only audit trail: every screening, decision and list change, by whom and when."""

from __future__ import annotations

from typing import Any

from hanse.events import utcnow
from hanse.ids import new_id
from services.compliance.config import UoW
from services.compliance.models import AuditRecord


async def record(
    uow: UoW,
    action: str,
    *,
    actor: str = "system",
    subject_type: str | None = None,
    subject_id: str | None = None,
    check_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditRecord:
    entry = AuditRecord(
        id=new_id("aud"),
        at=utcnow(),
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        check_id=check_id,
        details=details or {},
    )
    uow.session.add(entry)
    return entry
