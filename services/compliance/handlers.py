"""How the compliance department reacts to other departments' events."""

from __future__ import annotations

from hanse.consumer import EventContext, Handler
from hanse.errors import PermanentEventError
from services.compliance import domain
from services.compliance.contract import Match, OrderCleared, OrderHeld, OrderRejected, ScreeningCompleted
from services.compliance.models import Check
from services.marketing.contract import LeadCaptured
from services.sales.contract import AccountCreated, OrderCancelled, OrderPlaced


async def _announce(ctx: EventContext, check: Check) -> None:
    await ctx.publish(
        ScreeningCompleted(
            check_id=check.id,
            subject_type=check.subject_type,  # type: ignore[arg-type]
            subject_id=check.subject_id,
            result=check.result,  # type: ignore[arg-type]
            reasons=check.reasons,
            matches=[Match.model_validate(m) for m in check.matches],
        )
    )


async def screen_lead(ctx: EventContext, payload: LeadCaptured) -> None:
    domain.ensure_subject_id("lead_id", payload.lead_id)
    if await domain.existing_check(ctx.session, "lead", payload.lead_id):
        return
    country = domain.party_country(payload.country)
    party = domain.Party(names=(payload.company, payload.contact_name), country=country)
    embargoed = domain.compliance_settings().embargoed()
    embargo = domain.embargo_reasons(embargoed, party_country=country)
    check = await domain.screen_party(ctx.session, "lead", payload.lead_id, party, embargo)
    await _announce(ctx, check)


async def screen_account(ctx: EventContext, payload: AccountCreated) -> None:
    domain.ensure_subject_id("account_id", payload.account_id)
    if await domain.existing_check(ctx.session, "account", payload.account_id):
        return
    country = domain.party_country(payload.country)
    party = domain.Party(names=(payload.company,), country=country)
    embargoed = domain.compliance_settings().embargoed()
    embargo = domain.embargo_reasons(embargoed, party_country=country)
    check = await domain.screen_party(ctx.session, "account", payload.account_id, party, embargo)
    await _announce(ctx, check)


async def screen_order(ctx: EventContext, payload: OrderPlaced) -> None:
    domain.ensure_subject_id("order_id", payload.order_id)
    order = payload.order
    if order.order_id != payload.order_id:
        raise PermanentEventError(f"order_id {payload.order_id!r} differs from order.order_id {order.order_id!r}")
    if await domain.existing_check(ctx.session, "order", payload.order_id):
        return
    # The cancellation overtook the order: keep the screening on record, but clear/hold nothing.
    cancelled = await domain.order_cancelled_before(ctx.session, payload.order_id)
    buyer_country = domain.party_country(order.buyer_country)
    embargo = domain.embargo_reasons(
        domain.compliance_settings().embargoed(),
        destination_country=domain.party_country(order.destination_country),
        buyer_country=buyer_country,
    )
    party = domain.Party(names=(order.company,), country=buyer_country)
    check = await domain.screen_party(
        ctx.session, "order", payload.order_id, party, embargo, order=order, closed=cancelled
    )
    if cancelled:
        return
    await _announce(ctx, check)
    if check.result == "blocked":
        await ctx.publish(OrderRejected(order_id=payload.order_id, check_id=check.id, reasons=check.reasons))
    elif check.result == "review":
        await ctx.publish(
            OrderHeld(
                order_id=payload.order_id,
                check_id=check.id,
                reasons=check.reasons,
                matches=[Match.model_validate(m) for m in check.matches],
            )
        )
    else:
        await ctx.publish(OrderCleared(order_id=payload.order_id, check_id=check.id, order=order))


async def close_cancelled_order(ctx: EventContext, payload: OrderCancelled) -> None:
    domain.ensure_subject_id("order_id", payload.order_id)
    await domain.record_cancellation(ctx.session, payload.order_id, payload.reason)


HANDLERS: dict[str, Handler] = {
    LeadCaptured.event_type: screen_lead,
    AccountCreated.event_type: screen_account,
    OrderPlaced.event_type: screen_order,
    OrderCancelled.event_type: close_cancelled_order,
}
