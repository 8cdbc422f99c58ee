"""Re-screening: when a list changes, every account, supplier and order not yet shipped is screened
again; a new match holds the order (even after it was cleared) or flags the party for review.

A list import, a watchlist change or a new export-control rule bumps `list_state`; the job
`rescreen` (every few seconds) sees the lists moved past the version it last covered and goes
through the subjects in batches, in one transaction. Only what is new is acted on: a match an
officer already saw (stored on the check) does not hold the order again.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from hanse.db import claim
from hanse.events import utcnow
from services.compliance import views
from services.compliance.config import UoW
from services.compliance.domain import audit, exports, rules, screening
from services.compliance.models import Check, Licence, ListState, OrderCancellation, OrderDispatch
from services.procurement.contract import SupplierRegistered
from services.sales.contract import OrderTerms

BATCH = 500
RESCREENED_TYPES = ("account", "supplier", "order")


async def _valid_licence(uow: UoW, order_id: str) -> bool:
    today = utcnow().date()
    query = select(Licence.id).where(Licence.order_id == order_id, Licence.valid_until >= today).limit(1)
    return (await uow.session.exec(query)).first() is not None


async def rescreen_check(uow: UoW, check: Check, deferred: list[dict[str, Any]] | None = None) -> bool:
    """Screen a stored check's party again; True when something new was found and acted on.

    `deferred` collects the audit entries instead of writing them: the job writes them after it
    has locked every check it changes, so it takes the audit chain's lock last, like a handler
    (a check, then the chain): the two never wait on each other in a circle.
    """
    if check.status == "closed" or check.result == "blocked":
        return False
    if check.subject_type == "order":
        gone = await uow.session.get(OrderDispatch, check.subject_id) or await uow.session.get(
            OrderCancellation, check.subject_id
        )
        if gone is not None:
            return False
    party = rules.Party(names=tuple(check.party.split(" / ")), country=check.country)
    threshold = uow.config.screening_threshold
    found = rules.find_matches(party, await screening.candidates(uow, party), threshold)
    seen = {(m["list"], m["entry_id"]) for m in check.matches}
    fresh = [(m, reason) for m, reason in found if (m.list, m.entry_id) not in seen]
    new_reasons: list[str] = [reason for _, reason in fresh]
    hold: list[str] = []
    if fresh:
        hold.append(rules.LIST_MATCH)
    documents_changed = False
    if check.subject_type == "order" and check.order_terms:
        order = OrderTerms.model_validate(check.order_terms)
        licence = await exports.licence_reasons(uow, order)
        if (
            licence
            and rules.EXPORT_LICENCE_REQUIRED not in check.hold_reasons
            and not await _valid_licence(uow, order.order_id)
            and not any(r.startswith(f"{rules.EXPORT_LICENCE_REQUIRED}:") for r in check.reasons)
        ):
            hold.append(rules.EXPORT_LICENCE_REQUIRED)
            new_reasons = [rules.EXPORT_LICENCE_REQUIRED, *licence, *new_reasons]
        documents = exports.documents_for(uow, order, licence)
        if documents != check.required_documents:
            check.required_documents = documents
            documents_changed = True
    if not hold and not documents_changed:
        return False
    details: dict[str, Any] = {"new_reasons": new_reasons, "previous_result": check.result}
    if hold:
        check.matches = [*check.matches, *(m.model_dump(mode="json") for m, _ in fresh)]
        check.reasons = [*check.reasons, *new_reasons]
        check.hold_reasons = list(dict.fromkeys([*check.hold_reasons, *hold]))
        check.result, check.status = "review", "open"
        check.decision, check.decided_by, check.decided_at = None, None, None
    uow.session.add(check)
    entry = {
        "subject_type": check.subject_type,
        "subject_id": check.subject_id,
        "check_id": check.id,
        "details": details | {"hold_reasons": check.hold_reasons, "documents_changed": documents_changed},
    }
    if deferred is None:
        await audit.record(uow, "rescreened", **entry)
    else:
        deferred.append(entry)
    correlation = check.order_id or check.subject_id
    if documents_changed:
        await uow.publish(views.documents_required(check), correlation_id=correlation)
    if hold:
        await uow.publish(views.screening_completed(check), correlation_id=correlation)
        if check.subject_type == "order":
            await uow.publish(views.order_verdict(check), correlation_id=correlation)
    return True


async def rescreen_all(uow: UoW) -> int:
    """Scheduler job: when the lists changed since the last run, re-screen every open subject."""
    state = (await uow.session.exec(claim(select(ListState).where(ListState.id == 1)))).first()
    if state is None or state.total() == state.rescreened_version:
        return 0
    target = state.total()
    flagged = 0
    last_id = ""
    entries: list[dict[str, Any]] = []
    while True:
        query = (
            select(Check)
            .where(Check.subject_type.in_(RESCREENED_TYPES), Check.id > last_id)  # type: ignore[attr-defined]
            .where(Check.status != "closed", Check.result != "blocked")
            .order_by(Check.id)
            .limit(BATCH)
            .with_for_update()
        )
        checks = (await uow.session.exec(query)).all()
        if not checks:
            break
        for check in checks:
            flagged += await rescreen_check(uow, check, entries)
        last_id = checks[-1].id
    state.rescreened_version = target
    uow.session.add(state)
    for entry in entries:
        await audit.record(uow, "rescreened", **entry)
    await audit.record(uow, "rescreened", subject_type="lists", details={"version": target, "flagged": flagged})
    return flagged + 1


async def rescreen_account(uow: UoW, account_id: str) -> None:
    check = await screening.existing_check(uow.session, "account", account_id, lock=True)
    if check is not None:
        await rescreen_check(uow, check)


async def record_dispatch(uow: UoW, order_id: str) -> None:
    if await uow.session.get(OrderDispatch, order_id) is None:
        uow.session.add(OrderDispatch(order_id=order_id, dispatched_at=utcnow()))


async def screen_supplier(uow: UoW, supplier: SupplierRegistered) -> None:
    """A supplier is screened like a buyer; registered again (name or country changed), its check is
    updated and screened again, so a new match flags it for review."""
    party = rules.Party(names=(supplier.name,), country=rules.party_country(supplier.country))
    rules.ensure_subject_id("supplier_id", supplier.supplier_id)
    check = await screening.existing_check(uow.session, "supplier", supplier.supplier_id, lock=True)
    if check is None:
        await screening.screen_new_party(uow, "supplier", supplier.supplier_id, party, supplier.email)
        return
    check.party, check.country, check.email = " / ".join(party.names), party.country, supplier.email
    uow.session.add(check)
    await rescreen_check(uow, check)
