"""Screening checks: leads, accounts and orders against the embargo and both lists, and officers' decisions."""

from __future__ import annotations

import asyncio
from typing import Literal

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import NotFound, PermanentEventError
from hanse.events import utcnow
from hanse.ids import new_id
from services.compliance import views
from services.compliance.config import UoW
from services.compliance.contract import SubjectType
from services.compliance.domain import audit, exports, rules, sanctions
from services.compliance.domain.index import NameIndex
from services.compliance.models import Check, OrderCancellation, SanctionsEntry, WatchlistEntry
from services.marketing.contract import LeadCaptured
from services.sales.contract import AccountCreated, InquiryReceived, OrderCancelled, OrderPlaced, OrderTerms

# -- reading ---------------------------------------------------------------------------------------


# The sanctions index of each database this process screens against: (list version, index).
_INDEXES: dict[str, tuple[int, NameIndex]] = {}


async def sanctions_index(uow: UoW) -> NameIndex:
    """The in-memory index of the sanctions list, rebuilt from the database when the list changed."""
    version = (await sanctions.list_state(uow.session)).sanctions_version
    key = uow.settings.database_url_for("compliance")
    cached = _INDEXES.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    query = select(SanctionsEntry.id, SanctionsEntry.name, SanctionsEntry.names_normalised, SanctionsEntry.countries)
    rows = (await uow.session.exec(query.order_by(SanctionsEntry.id))).all()  # type: ignore[call-overload]
    found = [
        rules.Candidate("sanctions", i, name, tuple(names), tuple(countries)) for i, name, names, countries in rows
    ]
    index = await asyncio.to_thread(NameIndex, found)
    _INDEXES[key] = (version, index)
    return index


async def candidates(uow: UoW, party: rules.Party) -> list[rules.Candidate]:
    """Every watchlist entry (a short list) and the sanctions entries the index retrieves for the party."""
    found: list[rules.Candidate] = []
    for w in (await uow.session.exec(select(WatchlistEntry))).all():
        countries = (w.country,) if w.country else ()
        found.append(rules.Candidate("watchlist", w.id, w.name, (w.name_normalised,), countries))
    index = await sanctions_index(uow)
    found.extend(index.lookup([rules.normalise(n) for n in party.names]))
    return found


async def existing_check(
    session: AsyncSession, subject_type: SubjectType, subject_id: str, *, lock: bool = False
) -> Check | None:
    query = select(Check).where(Check.subject_type == subject_type, Check.subject_id == subject_id)
    return (await session.exec(query.with_for_update() if lock else query)).first()


async def get_check(session: AsyncSession, check_id: str, *, lock: bool = False) -> Check:
    query = select(Check).where(Check.id == check_id)
    check = (await session.exec(query.with_for_update() if lock else query)).first()
    if check is None:
        raise NotFound(f"no check {check_id!r}", field="check_id")
    return check


# -- screening -------------------------------------------------------------------------------------


async def screen_party(
    uow: UoW,
    subject_type: SubjectType,
    subject_id: str,
    party: rules.Party,
    embargo: list[str],
    *,
    order: OrderTerms | None = None,
    closed: bool = False,
    licence: list[str] | None = None,
    email: str | None = None,
) -> Check:
    """Screen a party against both lists, store the check and audit it (no events).

    `licence` lists export-control hits: unless the embargo blocks, they hold the order until a
    valid licence is recorded, independently of a list match an officer decides.
    """
    threshold = uow.config.screening_threshold
    found = rules.verdict(embargo, rules.find_matches(party, await candidates(uow, party), threshold))
    hold_reasons: list[str] = []
    if found.result == "review":
        hold_reasons.append(rules.LIST_MATCH)
    if licence and found.result != "blocked":
        hold_reasons.append(rules.EXPORT_LICENCE_REQUIRED)
        base = found.reasons if found.result == "review" else []
        found = rules.Verdict("review", [rules.EXPORT_LICENCE_REQUIRED, *licence, *base], found.matches)
    now = utcnow()
    final = found.result != "review"
    check = Check(
        id=new_id("chk"),
        subject_type=subject_type,
        subject_id=subject_id,
        order_id=order.order_id if order else None,
        party=" / ".join(party.names),
        country=party.country,
        result=found.result,
        reasons=found.reasons,
        matches=[m.model_dump(mode="json") for m in found.matches],
        status="closed" if closed else ("decided" if final else "open"),
        decided_by="system" if final else None,
        decision=("clear" if found.result == "clear" else "reject") if final else None,
        created_at=now,
        decided_at=now if final or closed else None,
        order_terms=order.model_dump(mode="json") if order else None,
        hold_reasons=hold_reasons,
        email=email,
    )
    uow.session.add(check)
    await audit.record(
        uow,
        "screened",
        subject_type=subject_type,
        subject_id=subject_id,
        check_id=check.id,
        details={
            "result": found.result,
            "reasons": found.reasons,
            "threshold": threshold,
            "closed_as_cancelled": closed,
            "hold_reasons": hold_reasons,
        },
    )
    await uow.session.flush()
    return check


async def _announce(uow: UoW, check: Check, *, officer: str | None = None, correlation_id: str | None = None) -> None:
    """Every screening publishes its outcome; an order check also tells sales what becomes of the order.

    The documents the order needs go out first (same transaction, same key), so logistics has the
    list before it acts on the clearance.
    """
    await uow.publish(views.screening_completed(check, officer=officer), correlation_id=correlation_id)
    if check.subject_type == "order" and check.order_id and check.required_documents and officer is None:
        await uow.publish(views.documents_required(check), correlation_id=correlation_id)
    if check.subject_type == "order" and check.order_id:
        await uow.publish(views.order_verdict(check, officer=officer), correlation_id=correlation_id)


async def screen_new_party(
    uow: UoW,
    subject_type: Literal["lead", "account", "inquiry", "supplier"],
    subject_id: str,
    party: rules.Party,
    email: str | None = None,
) -> None:
    """A lead or an account located in an embargoed country is blocked, as an order to it would be."""
    rules.ensure_subject_id(f"{subject_type}_id", subject_id)
    if await existing_check(uow.session, subject_type, subject_id):
        return
    embargo = rules.embargo_reasons(uow.config.embargoed(), party_country=party.country)
    await _announce(uow, await screen_party(uow, subject_type, subject_id, party, embargo, email=email))


async def screen_lead(uow: UoW, lead: LeadCaptured) -> None:
    party = rules.Party(names=(lead.company, lead.contact_name), country=rules.party_country(lead.country))
    await screen_new_party(uow, "lead", lead.lead_id, party, lead.email)


async def screen_account(uow: UoW, account: AccountCreated) -> None:
    party = rules.Party(names=(account.company,), country=rules.party_country(account.country))
    await screen_new_party(uow, "account", account.account_id, party, account.email)


async def screen_inquiry(uow: UoW, inquiry: InquiryReceived) -> None:
    """An RFQ's company and contact are screened like a lead's."""
    party = rules.Party(names=(inquiry.company, inquiry.contact_name), country=rules.party_country(inquiry.country))
    await screen_new_party(uow, "inquiry", inquiry.inquiry_id, party, inquiry.email)


async def screen_order(uow: UoW, placed: OrderPlaced) -> None:
    """Embargo on destination and buyer, lists on the buyer; then clear, hold or reject the order."""
    rules.ensure_subject_id("order_id", placed.order_id)
    order = placed.order
    if order.order_id != placed.order_id:
        raise PermanentEventError(f"order_id {placed.order_id!r} differs from order.order_id {order.order_id!r}")
    if await existing_check(uow.session, "order", placed.order_id):
        return
    # The cancellation overtook the order: keep the screening on record, but clear/hold nothing.
    cancelled = await uow.session.get(OrderCancellation, placed.order_id) is not None
    buyer_country = rules.party_country(order.buyer_country)
    embargo = rules.embargo_reasons(
        uow.config.embargoed(),
        destination_country=rules.party_country(order.destination_country),
        buyer_country=buyer_country,
    )
    party = rules.Party(names=(order.company,), country=buyer_country)
    licence = await exports.licence_reasons(uow, order)
    await exports.audit_incoterm(uow, order)
    check = await screen_party(
        uow, "order", placed.order_id, party, embargo, order=order, closed=cancelled, licence=licence, email=order.email
    )
    if check.result != "blocked":
        check.required_documents = exports.documents_for(uow, order, licence)
        uow.session.add(check)
    if not cancelled:
        await _announce(uow, check)


async def close_cancelled_order(uow: UoW, cancelled: OrderCancelled) -> None:
    """Remember the cancellation (it may arrive before the order) and close an open review."""
    rules.ensure_subject_id("order_id", cancelled.order_id)
    session = uow.session
    if await session.get(OrderCancellation, cancelled.order_id) is None:
        session.add(OrderCancellation(order_id=cancelled.order_id, cancelled_at=utcnow(), reason=cancelled.reason))
    check = await existing_check(session, "order", cancelled.order_id, lock=True)
    if check is None or check.status != "open":
        return
    check.status = "closed"
    check.decided_at = utcnow()
    session.add(check)
    details = {"reason": cancelled.reason or "order cancelled"}
    await audit.record(
        uow, "closed", subject_type="order", subject_id=cancelled.order_id, check_id=check.id, details=details
    )


# -- officers' decisions ---------------------------------------------------------------------------


async def decide(uow: UoW, check_id: str, decision: rules.Decision, note: str, officer: str) -> Check:
    """An officer clears or rejects a check in review; publishes the outcome with the change."""
    check = await get_check(uow.session, check_id, lock=True)
    rules.ensure_decidable(check.status, check.result)
    result = rules.decided_result(decision)
    # Clearing a list match does not replace a missing export licence: the order stays held.
    waiting = [r for r in check.hold_reasons if r != rules.LIST_MATCH] if decision == "clear" else []
    check.hold_reasons = waiting
    if waiting:
        check.decision = decision
    else:
        check.status, check.result, check.decision = "decided", result, decision
    check.decided_by, check.note, check.decided_at = officer, note, utcnow()
    uow.session.add(check)
    await audit.record(
        uow,
        "decided",
        actor=officer,
        subject_type=check.subject_type,
        subject_id=check.subject_id,
        check_id=check.id,
        details={"decision": decision, "result": result, "note": note, "still_waiting_for": waiting},
    )
    # No causing event: the order (or the lead or account) is the business flow.
    correlation = check.order_id or check.subject_id
    if waiting:
        await uow.publish(views.screening_completed(check, officer=officer), correlation_id=correlation)
        return check
    await _announce(uow, check, officer=officer, correlation_id=correlation)
    return check
