"""Support tickets: opened with SLA deadlines in the buyer's business hours, answered, paused, breached once."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, or_
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.db import claim
from hanse.errors import Invalid, NotFound
from hanse.events import utcnow
from hanse.ids import new_id
from services.sales import views
from services.sales.config import UoW
from services.sales.domain import notify
from services.sales.domain.sla import (
    after_message,
    deadlines,
    queue_key,
    resume,
    running_deadline,
    set_status,
    zone_for,
)
from services.sales.models import Account, MessageCreate, SalesOrder, Ticket, TicketCreate, TicketMessage

OPEN_CLOCKS = ("open", "pending")


def requeue(ticket: Ticket) -> None:
    """Recompute what the queue sorts by after any change of the ticket."""
    ticket.breached = bool(ticket.first_response_breached_at or ticket.resolution_breached_at)
    deadline = running_deadline(
        ticket.status,
        ticket.first_response_due,
        ticket.first_responded_at is not None,
        ticket.resolution_due,
        ticket.paused_at is not None,
    )
    ticket.queue_key = queue_key(ticket.breached, deadline, ticket.id)


async def open_ticket(uow: UoW, data: TicketCreate) -> tuple[Ticket, list[TicketMessage]]:
    session = uow.session
    account = await session.get(Account, data.account_id)
    if account is None:
        raise Invalid(f"no account {data.account_id!r}", field="account_id")
    if data.order_id is not None:
        order = await session.get(SalesOrder, data.order_id)
        if order is None or order.account_id != account.id:
            raise Invalid(f"order {data.order_id!r} is not an order of account {account.id}", field="order_id")
    zone = zone_for(account.country, account.timezone)
    now = utcnow()
    due = deadlines(now, data.priority, zone, account.country)
    ticket = Ticket(
        **data.model_dump(exclude={"body"}),
        id=new_id("tkt"),
        status="open",
        language=account.language or "en",
        timezone=zone,
        country=account.country,
        first_response_due=due.first_response_due,
        resolution_due=due.resolution_due,
        queue_key="",
        created_at=now,
        updated_at=now,
    )
    requeue(ticket)
    session.add(ticket)
    await session.flush()
    # The request itself is the customer's first message, whoever logged it (phone, chat).
    first = TicketMessage(ticket_id=ticket.id, author="customer", body=data.body, created_at=now)
    session.add(first)
    await session.flush()
    return ticket, [first]


async def locked_ticket(session: AsyncSession, ticket_id: str) -> Ticket:
    ticket = (await session.exec(select(Ticket).where(Ticket.id == ticket_id).with_for_update())).one_or_none()
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id}", field="ticket_id")
    return ticket


def _unpause(ticket: Ticket) -> None:
    now = utcnow()
    if ticket.paused_at is not None:
        ticket.resolution_due = resume(ticket.paused_at, ticket.resolution_due, now, ticket.timezone, ticket.country)
    ticket.paused_at = ticket.resolved_at = None


async def add_message(uow: UoW, ticket_id: str, data: MessageCreate) -> tuple[Ticket, TicketMessage]:
    """A reply: the first agent reply stops the first-response clock; an agent reply mails the customer."""
    session = uow.session
    ticket = await locked_ticket(session, ticket_id)
    status = after_message(ticket.status, data.author)
    now = utcnow()
    if status != ticket.status:  # a customer reopened a pending or resolved ticket: the clock runs again
        _unpause(ticket)
        ticket.status = status
    if data.author == "agent" and ticket.first_responded_at is None:
        ticket.first_responded_at = now
    message = TicketMessage(ticket_id=ticket.id, author=data.author, body=data.body, created_at=now)
    session.add(message)
    ticket.updated_at = now
    requeue(ticket)
    session.add(ticket)
    await session.flush()
    if data.author == "agent":
        account = await session.get(Account, ticket.account_id)
        if account is not None and notify.reachable(account):
            await uow.send_mail(
                "ticket_reply",
                to=account.email,
                language=ticket.language,
                context={"ticket": ticket, "reply": data.body, "company": account.company},
                ref=f"account:{account.id}",
            )
    return ticket, message


async def change_status(uow: UoW, ticket_id: str, target: str) -> Ticket:
    ticket = await locked_ticket(uow.session, ticket_id)
    new = set_status(ticket.status, target)
    if new == ticket.status:
        return ticket
    now = utcnow()
    if ticket.paused_at is None:  # pending, resolved and closed all stop the resolution clock
        ticket.paused_at = now
    if new in ("resolved", "closed") and ticket.resolved_at is None:
        ticket.resolved_at = now
    ticket.status, ticket.updated_at = new, now
    requeue(ticket)
    uow.session.add(ticket)
    return ticket


async def messages_of(session: AsyncSession, ticket_ids: Sequence[str]) -> dict[str, list[TicketMessage]]:
    found: dict[str, list[TicketMessage]] = {tid: [] for tid in ticket_ids}
    if ticket_ids:
        query = select(TicketMessage).where(TicketMessage.ticket_id.in_(list(ticket_ids))).order_by(TicketMessage.id)
        for message in await session.exec(query):
            found[message.ticket_id].append(message)
    return found


async def publish_breaches(uow: UoW) -> int:
    """The scheduler's job: each clock that ran out is published once (`sales.ticket.sla_breached.v1`)."""
    now = utcnow()
    first_response_late = and_(
        Ticket.status.in_(OPEN_CLOCKS),  # type: ignore[attr-defined]
        Ticket.first_responded_at.is_(None),  # type: ignore[union-attr]
        Ticket.first_response_breached_at.is_(None),  # type: ignore[union-attr]
        Ticket.first_response_due <= now,
    )
    resolution_late = and_(
        Ticket.status == "open",
        Ticket.paused_at.is_(None),  # type: ignore[union-attr]
        Ticket.resolution_breached_at.is_(None),  # type: ignore[union-attr]
        Ticket.resolution_due <= now,
    )
    due = claim(select(Ticket).where(or_(first_response_late, resolution_late)).order_by(Ticket.id).limit(100))
    tickets = (await uow.session.exec(due)).all()
    published = 0
    for ticket in tickets:
        if (
            ticket.first_responded_at is None
            and ticket.first_response_breached_at is None
            and ticket.first_response_due <= now
        ):
            ticket.first_response_breached_at = now
            await uow.publish(views.sla_breached(ticket, "first_response"), correlation_id=ticket.id)
            published += 1
        if (
            ticket.status == "open"
            and ticket.paused_at is None
            and ticket.resolution_breached_at is None
            and ticket.resolution_due <= now
        ):
            ticket.resolution_breached_at = now
            await uow.publish(views.sla_breached(ticket, "resolution"), correlation_id=ticket.id)
            published += 1
        requeue(ticket)
        uow.session.add(ticket)
    return published
