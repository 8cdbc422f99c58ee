"""The append-only audit trail as a hash chain: every screening, decision and list change, by whom and when.

Entry n stores `hash = sha256(prev_hash + canonical JSON of its content)`, where `prev_hash` is
entry n-1's hash (64 zeros for the first). Changing, deleting or reordering a row in the database
breaks the chain from that entry on, and `verify` names the first entry that no longer fits.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.events import utcnow
from hanse.ids import new_id
from services.compliance.config import UoW
from services.compliance.models import AuditHead, AuditRecord, AuditVerification

GENESIS = "0" * 64
# Fields hashed, in this order; the chain fields themselves are not content.
CONTENT = ("id", "seq", "at", "actor", "action", "subject_type", "subject_id", "check_id", "details")


def canonical(entry: AuditRecord) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same content always gives the same bytes."""
    content: dict[str, Any] = {name: getattr(entry, name) for name in CONTENT}
    content["at"] = entry.at.isoformat(timespec="microseconds")
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def entry_hash(prev_hash: str, entry: AuditRecord) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(entry)).hexdigest()


async def _head(session: AsyncSession) -> AuditHead:
    """The chain's head, locked until the transaction ends (SQLite: BEGIN IMMEDIATE already serialises)."""
    head = (await session.exec(select(AuditHead).where(AuditHead.id == 1).with_for_update())).first()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
    return head


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
    head = await _head(uow.session)
    # Round-trip the details through JSON so the hash sees exactly what the database stores.
    stored = json.loads(json.dumps(details or {}, default=str))
    at = utcnow()
    entry = AuditRecord(
        id=new_id("aud"),
        seq=head.seq + 1,
        at=at,
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        check_id=check_id,
        details=stored,
        prev_hash=head.hash,
        hash="",
    )
    entry.hash = entry_hash(head.hash, entry)
    head.seq, head.hash = entry.seq, entry.hash
    uow.session.add(entry)
    uow.session.add(head)
    return entry


async def verify(session: AsyncSession, batch: int = 1000) -> AuditVerification:
    """Walk the chain in order, in batches; the first entry whose hash or link does not fit is named."""
    prev, expected_seq, entries = GENESIS, 1, 0
    last_seq = 0
    while True:
        query = select(AuditRecord).where(AuditRecord.seq > last_seq).order_by(AuditRecord.seq).limit(batch)
        rows = (await session.exec(query)).all()
        if not rows:
            break
        for entry in rows:
            entries += 1
            if entry.seq != expected_seq or entry.prev_hash != prev or entry_hash(prev, entry) != entry.hash:
                return AuditVerification(
                    intact=False, entries=entries, first_broken=entry.id, first_broken_seq=entry.seq
                )
            prev, expected_seq, last_seq = entry.hash, expected_seq + 1, entry.seq
    head = (await session.exec(select(AuditHead).where(AuditHead.id == 1))).first()
    if head is not None and (head.seq != last_seq or head.hash != prev):
        # The newest entries were deleted: the head still remembers the end of the chain.
        return AuditVerification(intact=False, entries=entries, first_broken=None, first_broken_seq=last_seq + 1)
    return AuditVerification(intact=True, entries=entries)
