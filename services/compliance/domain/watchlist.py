"""The internal watchlist: officers add and remove parties, both audited."""

from __future__ import annotations

from sqlmodel import select

from hanse.errors import Invalid, NotFound
from hanse.events import utcnow
from hanse.ids import new_id
from services.compliance.config import UoW
from services.compliance.domain import audit, sanctions
from services.compliance.domain.rules import normalise
from services.compliance.models import WatchlistCreate, WatchlistEntry


async def add_to_watchlist(uow: UoW, body: WatchlistCreate, actor: str) -> WatchlistEntry:
    normalised = normalise(body.name)
    if not normalised:
        raise Invalid("the name has no letters or digits to match on", field="name")
    entry = WatchlistEntry(
        **body.model_dump(), id=new_id("wl"), name_normalised=normalised, created_at=utcnow(), created_by=actor
    )
    uow.session.add(entry)
    # The list version first, then the audit chain: every transaction takes the two locks in this
    # order (the re-screening job too), so they never deadlock.
    await sanctions.bump(uow.session, "watchlist")  # the re-screening job follows
    await _audit(uow, "watchlist_added", entry, actor)
    return entry


async def remove_from_watchlist(uow: UoW, entry_id: str, actor: str) -> None:
    query = select(WatchlistEntry).where(WatchlistEntry.id == entry_id).with_for_update()
    entry = (await uow.session.exec(query)).first()
    if entry is None:
        raise NotFound(f"no watchlist entry {entry_id!r}", field="entry_id")
    await uow.session.delete(entry)
    await sanctions.bump(uow.session, "watchlist")  # before the audit chain (lock order)
    await _audit(uow, "watchlist_removed", entry, actor)


async def _audit(uow: UoW, action: str, entry: WatchlistEntry, actor: str) -> None:
    details = {"name": entry.name, "country": entry.country, "reason": entry.reason}
    await audit.record(uow, action, actor=actor, subject_type="watchlist", subject_id=entry.id, details=details)
