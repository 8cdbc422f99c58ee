"""A minimal service used only by the kernel's tests: it posts ledger entries and applies them.

Posting writes an `Entry` row and a `ledger.entry.posted.v1` event in one transaction; the
handler applies each event to `Applied` exactly once (the inbox guarantees it).
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from types import ModuleType

from fastapi import APIRouter
from pydantic import BaseModel
from sqlmodel import Field, select

from hanse.app import SessionDep, UnitOfWorkDep, create_service
from hanse.auth import require_roles
from hanse.db import model_base
from hanse.errors import PermanentEventError
from hanse.events import EventPayload, EventRegistry
from hanse.settings import Settings
from hanse.uow import UnitOfWork

Model = model_base("ledger")


class Entry(Model, table=True):
    id: str = Field(primary_key=True)
    account: str
    amount: int


class Applied(Model, table=True):
    id: int | None = Field(default=None, primary_key=True)
    entry_id: str = Field(index=True)
    account: str
    amount: int
    seq: int = 0


class EntryPosted(EventPayload, event_type="ledger.entry.posted.v1", subject="account"):
    entry_id: str
    account: str
    amount: int
    seq: int = 0
    # Test knobs: fail this many attempts before succeeding; or fail permanently; or go slow.
    fail_times: int = 0
    permanent_failure: bool = False
    sleep_ms: int = 0


contract = ModuleType("ledger_contract")
contract.EntryPosted = EntryPosted
contract.__name__ = EntryPosted.__module__


def ledger_registry() -> EventRegistry:
    reg = EventRegistry()
    reg.register(EntryPosted, "ledger")
    return reg


attempts_seen: dict[str, int] = {}
# Accounts whose entries the handler cannot apply until a "fix" removes them from this set.
broken_accounts: set[str] = set()


async def on_entry_posted(uow: UnitOfWork[None], payload: EntryPosted) -> None:
    attempts_seen[payload.entry_id] = attempts_seen.get(payload.entry_id, 0) + 1
    if payload.permanent_failure:
        raise PermanentEventError("this entry can never be applied")
    if payload.account in broken_accounts:
        raise PermanentEventError(f"account {payload.account} is broken until the fix is deployed")
    if attempts_seen[payload.entry_id] <= payload.fail_times:
        raise ConnectionError("transient failure, try again")
    if payload.sleep_ms:
        await asyncio.sleep(payload.sleep_ms / 1000)
    uow.session.add(Applied(entry_id=payload.entry_id, account=payload.account, amount=payload.amount, seq=payload.seq))


class EntryIn(BaseModel):
    account: str
    amount: int


router = APIRouter()


@router.post("/entries", status_code=201)
async def post_entry(body: EntryIn, uow: UnitOfWorkDep, _=require_roles("finance")) -> dict:
    entry = await post(uow, body.account, body.amount)
    await uow.commit()
    return {"id": entry.id}


@router.get("/applied")
async def applied(session: SessionDep) -> list[dict]:
    rows = (await session.exec(select(Applied).order_by(Applied.id))).all()
    return [r.model_dump() for r in rows]


async def post(uow: UnitOfWork[None], account: str, amount: int, **knobs) -> Entry:
    entry = Entry(id=uuid.uuid4().hex, account=account, amount=amount)
    uow.session.add(entry)
    await uow.publish(EntryPosted(entry_id=entry.id, account=account, amount=amount, **knobs))
    return entry


HANDLERS = {"ledger.entry.posted.v1": on_entry_posted}


def make_app(settings: Settings, *, handlers: bool = True):
    return create_service(
        "ledger",
        routers=[router],
        handlers=HANDLERS if handlers else {},
        models=sys.modules[__name__],
        settings=settings,
    )


if __name__ == "__main__":
    # Run as a real process for kill tests: python -m tests.support.ledger <port>
    import uvicorn

    from hanse.settings import Settings as _S

    app = make_app(_S())
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    os._exit(0)
