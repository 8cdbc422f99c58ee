"""Shipments: booking one per order when its terms allow, carrier milestones to delivery, cancelling."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import Conflict, Invalid, NotFound
from hanse.events import utcnow
from hanse.ids import new_id
from services.logistics import views
from services.logistics.config import UoW
from services.logistics.contract import ShipmentCancelled
from services.logistics.domain.credit import letter_of_credit_refusal
from services.logistics.domain.documents import dispatch_refusal
from services.logistics.domain.locks import lock_order, lock_shipment, lock_stock
from services.logistics.domain.rules import (
    apply_milestone,
    choose_carrier,
    freight_zone,
    milestone_for,
    new_tracking_number,
    transport_mode,
)
from services.logistics.models import (
    CarrierEventAccepted,
    CustomsLine,
    FulfilmentOrder,
    Reservation,
    Shipment,
    ShipmentPublic,
    TrackingCreate,
    TrackingMilestone,
    TrackingPublic,
)


async def book_shipment_if_ready(uow: UoW, order: FulfilmentOrder) -> Shipment | None:
    """Book once the stock is reserved and the payment terms allow it (prepaid: after invoice.paid)."""
    if order.status != "reserved" or not order.cleared:
        return None
    if order.payment_terms == "prepaid" and not order.invoice_paid:
        return None
    session = uow.session
    if (await session.exec(select(Shipment.id).where(Shipment.order_id == order.order_id))).first():
        return None  # booked exactly once per order
    if order.payment_terms == "letter_of_credit":
        refusal = await letter_of_credit_refusal(session, order)
        order.booking_blocked = refusal
        session.add(order)
        if refusal is not None:
            return None
    seller_country = uow.settings.seller_country
    destination = order.destination_country or seller_country
    mode = transport_mode(order.incoterm, freight_zone(seller_country, destination), order.quoted_mode)
    carrier = choose_carrier(mode, seller_country, destination, order.weight_kg, order.quoted_carrier)
    shipment = Shipment(
        id=new_id("shp"),
        order_id=order.order_id,
        status="booked",
        carrier=carrier,
        mode=mode,  # type: ignore[arg-type]
        tracking_number=new_tracking_number(carrier),
        destination_country=destination,
        weight_kg=order.weight_kg,
        booked_at=utcnow(),
    )
    session.add(shipment)
    await uow.publish(views.shipment_booked(shipment), correlation_id=order.order_id)
    return shipment


async def cancel_booked_shipment(uow: UoW, order_id: str, reason: str, at: datetime) -> None:
    """The order was released before dispatch: its booked shipment, if any, will not go."""
    shipment = await lock_shipment(uow.session, order_id=order_id)
    if shipment is None or shipment.status != "booked":
        return
    shipment.status, shipment.cancelled_at = "cancelled", at
    uow.session.add(shipment)
    await uow.publish(
        ShipmentCancelled(shipment_id=shipment.id, order_id=order_id, reason=reason), correlation_id=order_id
    )


async def record_milestone(uow: UoW, shipment_id: str, body: TrackingCreate) -> TrackingPublic:
    """A milestone typed in (or posted by a forwarder with a partner token)."""
    session = uow.session
    found = await session.get(Shipment, shipment_id)
    if found is None:
        raise NotFound(f"no shipment {shipment_id}", field="shipment_id")
    at = body.at.astimezone(UTC) if body.at else utcnow()
    milestone, shipment = await _apply(uow, found, body.status, body.location, at)
    return views.tracking_public(milestone, shipment)


async def record_carrier_event(
    uow: UoW, carrier_id: str, tracking_number: str, status: str, location: str | None, at: datetime
) -> CarrierEventAccepted:
    """A signed carrier event: duplicates and events older than the latest milestone change nothing."""
    session = uow.session
    milestone_name = milestone_for(carrier_id, status)
    if milestone_name is None:
        raise Invalid(f"{status} is neither a Hanse milestone nor a {carrier_id} status code", field="status")
    query = select(Shipment).where(Shipment.tracking_number == tracking_number, Shipment.carrier == carrier_id)
    found = (await session.exec(query)).first()
    if found is None:
        raise NotFound(f"{carrier_id} carries no shipment {tracking_number}", field="tracking_number")
    at = at.astimezone(UTC)
    await lock_order(session, found.order_id)
    shipment = await lock_shipment(session, id=found.id)
    assert shipment is not None  # shipments are never deleted
    latest = (
        await session.exec(
            select(TrackingMilestone.at)
            .where(TrackingMilestone.shipment_id == shipment.id)
            .order_by(col(TrackingMilestone.at).desc())
            .limit(1)
        )
    ).first()
    stale = latest is not None and _aware(latest) >= at
    if stale or shipment.status in ("delivered", "cancelled"):
        return CarrierEventAccepted(
            shipment_id=shipment.id, milestone=milestone_name, applied=False, shipment_status=shipment.status
        )
    _, shipment = await _apply(uow, shipment, milestone_name, location, at)
    return CarrierEventAccepted(
        shipment_id=shipment.id, milestone=milestone_name, applied=True, shipment_status=shipment.status
    )


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def _apply(
    uow: UoW, found: Shipment, status: str, location: str | None, at: datetime
) -> tuple[TrackingMilestone, Shipment]:
    """Record a milestone; the first that leaves the warehouse dispatches (stock leaves on_hand)
    unless the order is held or a required document cannot be produced (409, nothing changes)."""
    session = uow.session
    order = await lock_order(session, found.order_id)
    shipment = await lock_shipment(session, id=found.id)
    assert shipment is not None  # shipments are never deleted
    effect = apply_milestone(shipment.status, status)
    if effect.dispatches:
        refusal = await dispatch_refusal(session, order, shipment.order_id)
        if refusal is not None:
            raise Conflict(f"shipment {shipment.id} cannot be dispatched: {refusal}", field="status")
    milestone = TrackingMilestone(
        id=new_id("trk"),
        shipment_id=shipment.id,
        status=status,  # type: ignore[arg-type]
        location=location,
        at=at,
        recorded_at=utcnow(),
    )
    session.add(milestone)
    order_id = shipment.order_id
    await uow.publish(views.shipment_tracked(milestone, shipment), correlation_id=order_id)
    if effect.dispatches:
        await _consume_reservation(session, order)
        shipment.dispatched_at = at
        await uow.publish(views.shipment_dispatched(shipment, at), correlation_id=order_id)
    if effect.delivers:
        shipment.delivered_at = at
        await uow.publish(views.shipment_delivered(shipment, at), correlation_id=order_id)
    shipment.status = effect.status  # type: ignore[assignment]
    session.add(shipment)
    return milestone, shipment


async def _consume_reservation(session: AsyncSession, order: FulfilmentOrder | None) -> None:
    """The goods left: reserved units leave on_hand too."""
    if order is None or order.status != "reserved":
        return
    held = list((await session.exec(select(Reservation).where(Reservation.order_id == order.order_id))).all())
    stock = await lock_stock(session, {line.sku for line in held})
    for line in held:
        row = stock[(line.sku, line.warehouse)]
        row.on_hand -= line.quantity
        row.reserved -= line.quantity
    order.status = "dispatched"
    session.add(order)


# -- reads -----------------------------------------------------------------------------------------


async def with_milestones(session: AsyncSession, shipments: list[Shipment]) -> list[ShipmentPublic]:
    ids = [s.id for s in shipments]
    milestones: list[TrackingMilestone] = []
    if ids:
        query = (
            select(TrackingMilestone)
            .where(col(TrackingMilestone.shipment_id).in_(ids))
            .order_by(col(TrackingMilestone.at), col(TrackingMilestone.recorded_at))
        )
        milestones = list((await session.exec(query)).all())
    return views.shipments_public(shipments, milestones)


async def get_shipment(session: AsyncSession, shipment_id: str) -> ShipmentPublic:
    """The shipment with its milestones, customs data and packages."""
    shipment = await session.get(Shipment, shipment_id)
    if shipment is None:
        raise NotFound(f"no shipment {shipment_id}", field="shipment_id")
    public = (await with_milestones(session, [shipment]))[0]
    order = await session.get(FulfilmentOrder, shipment.order_id)
    query = select(CustomsLine).where(CustomsLine.order_id == shipment.order_id).order_by(col(CustomsLine.sku))
    lines = list((await session.exec(query)).all())
    customs, packages, _ = views.customs_public(order, lines, shipment.mode)
    return public.model_copy(update={"customs": customs, "packages": packages})
