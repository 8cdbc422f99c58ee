"""Contracts with accounts and suppliers: a review workflow, expiry by the scheduler, an event per change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlmodel import select

from hanse.db import claim
from hanse.errors import Invalid
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.pagination import get_or_404
from services.compliance.config import UoW
from services.compliance.contract import ContractStatusChanged, ContractTerms
from services.compliance.domain import audit, rules
from services.compliance.models import Contract, ContractCreate


def today() -> date:
    return datetime.now(UTC).date()


def status_changed(contract: Contract, previous: str | None) -> ContractStatusChanged:
    return ContractStatusChanged(
        contract_id=contract.id,
        party_type=contract.party_type,
        party_id=contract.party_id,
        kind=contract.kind,
        status=contract.status,
        previous_status=previous,  # type: ignore[arg-type]
        terms=ContractTerms.model_validate(contract.terms),
        effective_from=contract.effective_from,
        expires_on=contract.expires_on,
    )


async def create_contract(uow: UoW, body: ContractCreate, actor: str) -> Contract:
    if body.expires_on < body.effective_from:
        raise Invalid(
            f"expires_on {body.expires_on} is before effective_from {body.effective_from}", field="expires_on"
        )
    now = utcnow()
    contract = Contract(
        **body.model_dump(exclude={"terms"}),
        terms=body.terms.model_dump(mode="json", exclude_none=True),
        id=new_id("ctr"),
        status="draft",
        created_at=now,
        created_by=actor,
        updated_at=now,
    )
    uow.session.add(contract)
    await audit.record(
        uow,
        "contract_created",
        actor=actor,
        subject_type="contract",
        subject_id=contract.id,
        details={"party_type": contract.party_type, "party_id": contract.party_id, "kind": contract.kind},
    )
    await uow.publish(status_changed(contract, None), correlation_id=contract.party_id)
    return contract


async def _move(uow: UoW, contract: Contract, target: str, actor: str) -> None:
    previous = contract.status
    contract.status, contract.updated_at = target, utcnow()  # type: ignore[assignment]
    uow.session.add(contract)
    await audit.record(
        uow,
        "contract_status_changed",
        actor=actor,
        subject_type="contract",
        subject_id=contract.id,
        details={"from": previous, "to": target},
    )
    await uow.publish(status_changed(contract, previous), correlation_id=contract.party_id)


async def change_status(uow: UoW, contract_id: str, target: str, actor: str) -> Contract:
    contract = await get_or_404(uow.session, Contract, contract_id, what="contract", field="contract_id")
    locked = select(Contract).where(Contract.id == contract_id).with_for_update()
    contract = (await uow.session.exec(locked)).one()
    rules.ensure_contract_transition(contract.status, target, contract.expires_on, today())
    await _move(uow, contract, target, actor)
    return contract


def expiring_filter(days: int) -> date:
    return today() + timedelta(days=days)


async def expire_contracts(uow: UoW) -> int:
    """Scheduler job: contracts past their end date (not terminated) become expired."""
    due = claim(
        select(Contract)
        .where(Contract.status.in_(("draft", "under_review", "active")), Contract.expires_on < today())  # type: ignore[attr-defined]
        .limit(100)
    )
    contracts = (await uow.session.exec(due)).all()
    for contract in contracts:
        await _move(uow, contract, "expired", "system")
    return len(contracts)
