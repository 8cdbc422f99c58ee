"""HTTP routes of the sales service under /api/v1/sales: parse, authorize, call the domain, answer."""

from __future__ import annotations

from collections.abc import Awaitable
from decimal import Decimal
from typing import Annotated, Any, TypeVar, get_args
from zoneinfo import ZoneInfo

import httpx
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import ValidationError
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from hanse.auth import CurrentPrincipal, Principal, issue_token, require_roles
from hanse.errors import Conflict, Invalid, NotFound, Unavailable
from hanse.http import client_address, department_client
from hanse.money import FxRate, Money
from hanse.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor, get_or_404, paginate
from hanse.ratelimit import RateLimiter
from hanse.settings import Settings
from hanse.validators import PRINTABLE
from services import service_url
from services.sales import views
from services.sales.config import SalesConfig, UoW, UoWDep
from services.sales.contract import OrderStatus
from services.sales.domain import accounts, catalogue, inquiries, orders, quotes, tickets
from services.sales.domain.rules import seller_pays_carriage
from services.sales.domain.sla import TicketStatus
from services.sales.models import (
    Account,
    AccountCreate,
    AccountPublic,
    AccountUpdate,
    CancelRequest,
    Contact,
    ContactCreate,
    ContactPublic,
    Inquiry,
    InquiryCreate,
    InquiryPublic,
    InquiryStatus,
    MessageCreate,
    MessagePublic,
    Model,
    NotificationPublic,
    OrderPublic,
    OrderSummary,
    Product,
    ProductCreate,
    ProductPublic,
    Quote,
    QuoteCreate,
    QuotePublic,
    SalesOrder,
    Ticket,
    TicketCreate,
    TicketPublic,
    TicketStatusChange,
)

router = APIRouter(prefix="/api/v1/sales", tags=["sales"])

Sales = Annotated[Principal, require_roles("sales")]
OrderReader = Annotated[Principal, require_roles("sales", "finance", "logistics", "compliance", "partner")]
LOGISTICS_TIMEOUT = 5.0
T = TypeVar("T")
# Ids in paths and filters: printable and bounded (PostgreSQL refuses NUL bytes in text).
IdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=PRINTABLE)]
IdQuery = Annotated[str | None, Query(min_length=1, max_length=255, pattern=PRINTABLE)]


async def _save(uow: UoW, work: Awaitable[T], conflict: str) -> T:
    """Run the domain step and commit; a unique constraint lost to a concurrent request is a 409."""
    try:
        result = await work
        await uow.commit()
    except IntegrityError:
        await uow.rollback()
        raise Conflict(conflict) from None
    return result


# -- catalogue ---------------------------------------------------------------------------------------


@router.post("/products", status_code=201, response_model=ProductPublic, summary="Add a product to the catalogue")
async def create_product(body: ProductCreate, uow: UoWDep, _: Sales) -> ProductPublic:
    work = catalogue.create_product(uow, body)
    product, tiers = await _save(uow, work, f"a product with sku {body.sku} exists")
    return views.product_public(product, tiers)


@router.get("/products", response_model=Page[ProductPublic], summary="The catalogue, by sku")
async def list_products(
    uow: UoWDep, _: CurrentPrincipal, cursor: Cursor = None, limit: Limit = 50
) -> Page[ProductPublic]:
    page = await paginate(uow.session, select(Product), Product.sku, cursor, limit)
    tiers = await catalogue.tiers_of(uow.session, [p.sku for p in page.items])
    return page.map(lambda p: views.product_public(p, tiers[p.sku]))


@router.get("/products/{sku}", response_model=ProductPublic, summary="One product")
async def get_product(sku: IdPath, uow: UoWDep, _: CurrentPrincipal) -> ProductPublic:
    product = await uow.session.get(Product, sku)
    if product is None:
        raise NotFound(f"no product with sku {sku!r}", field="sku")
    tiers = await catalogue.tiers_of(uow.session, [sku])
    return views.product_public(product, tiers[sku])


# -- accounts ----------------------------------------------------------------------------------------


@router.post("/accounts", status_code=201, response_model=AccountPublic, summary="Open an account")
async def create_account(body: AccountCreate, uow: UoWDep, _: Sales) -> AccountPublic:
    account = await _save(uow, accounts.open_account(uow, body), "the account clashes with an existing one")
    return views.account_public(account)


@router.get("/accounts", response_model=Page[AccountPublic], summary="Accounts, optionally the one of a lead")
async def list_accounts(
    uow: UoWDep, _: Sales, lead_id: IdQuery = None, cursor: Cursor = None, limit: Limit = 50
) -> Page[AccountPublic]:
    page = await paginate(uow.session, select(Account), Account.id, cursor, limit, filters={Account.lead_id: lead_id})
    return page.map(views.account_public)


@router.get("/accounts/{account_id}", response_model=AccountPublic, summary="One account")
async def get_account(account_id: IdPath, uow: UoWDep, _: Sales) -> AccountPublic:
    return views.account_public(await get_or_404(uow.session, Account, account_id, what="account", field="account_id"))


@router.patch("/accounts/{account_id}", response_model=AccountPublic, summary="Change an account")
async def update_account(account_id: IdPath, body: AccountUpdate, uow: UoWDep, _: Sales) -> AccountPublic:
    account = await _save(uow, accounts.update_account(uow, account_id, body), "the account changed; retry")
    return views.account_public(account)


@router.post("/accounts/{account_id}/contacts", status_code=201, response_model=ContactPublic, summary="Add a contact")
async def create_contact(account_id: IdPath, body: ContactCreate, uow: UoWDep, _: Sales) -> ContactPublic:
    contact = await _save(uow, accounts.add_contact(uow, account_id, body), "the contact clashes; retry")
    return ContactPublic.model_validate(contact, from_attributes=True)


@router.get("/accounts/{account_id}/contacts", response_model=Page[ContactPublic], summary="An account's contacts")
async def list_contacts(
    account_id: IdPath, uow: UoWDep, _: Sales, cursor: Cursor = None, limit: Limit = 50
) -> Page[ContactPublic]:
    await get_or_404(uow.session, Account, account_id, what="account", field="account_id")
    query = select(Contact).where(Contact.account_id == account_id)
    page = await paginate(uow.session, query, Contact.id, cursor, limit)
    return page.map(lambda c: ContactPublic.model_validate(c, from_attributes=True))


# -- quotes ------------------------------------------------------------------------------------------


async def price_freight(settings: Settings, draft: quotes.QuoteDraft) -> quotes.Freight:
    """Ask logistics' rate table for the main carriage; any failure to answer is a 503."""
    goods = draft.goods
    body: dict[str, Any] = {
        "destination_country": draft.request.destination_country,
        "mode": draft.mode,
        "weight_kg": format(goods.weight_kg.quantize(Decimal("0.001")), "f"),
        "currency": draft.request.currency,
        "origin_country": settings.seller_country,
    }
    if goods.volume_m3 is not None:
        body["volume_m3"] = format(goods.volume_m3.quantize(Decimal("0.000001")), "f")
    if draft.request.carrier is not None:
        body["carrier"] = draft.request.carrier  # that carrier's rate table, not the cheapest for the mode
    token, _ = issue_token("service:sales", ["sales"], settings)
    url = f"{service_url(settings, 'logistics')}/api/v1/logistics/rates"
    try:
        response = await department_client().post(
            url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=LOGISTICS_TIMEOUT
        )
    except httpx.HTTPError as exc:
        raise Unavailable(
            f"logistics is unreachable, freight cannot be priced ({type(exc).__name__})", service="logistics"
        ) from None
    if response.status_code in (400, 422):
        problem = _json(response)
        their_field = str(problem.get("field") or "")
        field = their_field if their_field in ("destination_country", "mode", "currency", "carrier") else "lines"
        raise Invalid(f"logistics cannot price the freight: {problem.get('detail', response.text[:200])}", field=field)
    if response.status_code != 200 and response.status_code != 201:
        raise Unavailable(f"logistics answered {response.status_code}, freight cannot be priced", service="logistics")
    answer = _json(response)
    try:
        price = Money.model_validate(answer.get("price"))
        fx = FxRate.model_validate(answer["fx"]) if answer.get("fx") else None
    except ValidationError:
        raise Unavailable("logistics answered without a usable freight price", service="logistics") from None
    return quotes.Freight(price, fx)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@router.post("/quotes", status_code=201, response_model=QuotePublic, summary="Issue a quote")
async def create_quote(body: QuoteCreate, uow: UoWDep, _: Sales) -> QuotePublic:
    return await _issue_quote(uow, body)


async def _issue_quote(uow: UoW, body: QuoteCreate) -> QuotePublic:
    draft = await quotes.draft_quote(uow, body)
    freight = None
    if seller_pays_carriage(draft.incoterm):
        # Hold no database transaction while waiting for another department.
        await uow.rollback()
        freight = await price_freight(uow.settings, draft)
    work = quotes.issue_quote(uow, draft, freight)
    quote, lines = await _save(uow, work, "the quote clashes with a concurrent change; retry")
    return views.quote_public(quote, lines)


@router.get("/quotes", response_model=Page[QuotePublic], summary="Quotes, optionally of one account")
async def list_quotes(
    uow: UoWDep, _: Sales, account_id: IdQuery = None, cursor: Cursor = None, limit: Limit = 50
) -> Page[QuotePublic]:
    filters = {Quote.account_id: account_id}
    page = await paginate(uow.session, select(Quote), Quote.id, cursor, limit, filters=filters)
    lines = await quotes.quote_lines(uow.session, [q.id for q in page.items])
    return page.map(lambda q: views.quote_public(q, lines[q.id]))


@router.get("/quotes/{quote_id}", response_model=QuotePublic, summary="One quote")
async def get_quote(quote_id: IdPath, uow: UoWDep, _: Sales) -> QuotePublic:
    quote = await get_or_404(uow.session, Quote, quote_id, what="quote", field="quote_id")
    lines = await quotes.quote_lines(uow.session, [quote_id])
    return views.quote_public(quote, lines[quote_id])


@router.post(
    "/quotes/{quote_id}/accept", status_code=201, response_model=OrderPublic, summary="Accept a quote: place the order"
)
async def accept_quote(quote_id: IdPath, uow: UoWDep, _: Sales) -> OrderPublic:
    order = await _save(uow, orders.accept_quote(uow, quote_id), f"quote {quote_id} was accepted already")
    return await _order_answer(uow, order)


# -- orders ------------------------------------------------------------------------------------------


async def _order_answer(uow: UoW, order: SalesOrder) -> OrderPublic:
    lines, history = await orders.order_parts(uow.session, [order.id])
    returns = await orders.returns_of(uow.session, [order.id])
    return views.order_public(order, lines[order.id], history[order.id], returns[order.id])


@router.get("/orders", response_model=Page[OrderPublic], summary="Orders, by account and status")
async def list_orders(
    uow: UoWDep,
    _: OrderReader,
    account_id: IdQuery = None,
    status: OrderStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[OrderPublic]:
    filters = {SalesOrder.account_id: account_id, SalesOrder.status: status}
    page = await paginate(uow.session, select(SalesOrder), SalesOrder.id, cursor, limit, filters=filters)
    lines, history = await orders.order_parts(uow.session, [o.id for o in page.items])
    returns = await orders.returns_of(uow.session, [o.id for o in page.items])
    return page.map(lambda o: views.order_public(o, lines[o.id], history[o.id], returns[o.id]))


@router.get("/orders/summary", response_model=OrderSummary, summary="Orders counted per status (one GROUP BY)")
async def order_summary(uow: UoWDep, _: OrderReader, account_id: IdQuery = None) -> OrderSummary:
    query = sa_select(SalesOrder.status, func.count()).group_by(SalesOrder.status)
    if account_id is not None:
        query = query.where(SalesOrder.account_id == account_id)
    counts = {status: 0 for status in get_args(OrderStatus)}
    for status, count in (await uow.session.exec(query)).all():  # type: ignore[call-overload]
        counts[status] = int(count)
    return OrderSummary(by_status=counts, total=sum(counts.values()))


@router.get("/orders/{order_id}", response_model=OrderPublic, summary="One order with its history")
async def get_order(order_id: IdPath, uow: UoWDep, _: OrderReader) -> OrderPublic:
    order = await get_or_404(uow.session, SalesOrder, order_id, what="order", field="order_id")
    return await _order_answer(uow, order)


@router.post(
    "/orders/{order_id}/reorder",
    status_code=201,
    response_model=QuotePublic,
    summary="Reorder: a new quote at today's prices",
)
async def reorder(order_id: IdPath, uow: UoWDep, _: Sales) -> QuotePublic:
    return await _issue_quote(uow, await orders.reorder_request(uow, order_id))


@router.post("/orders/{order_id}/cancel", response_model=OrderPublic, summary="Cancel an order before it ships")
async def cancel_order(order_id: IdPath, uow: UoWDep, _: Sales, body: CancelRequest | None = None) -> OrderPublic:
    reason = body.reason if body and body.reason else None
    order = await _save(
        uow, orders.cancel_order(uow, order_id, reason), f"order {order_id} changed concurrently; retry"
    )
    return await _order_answer(uow, order)


# -- support tickets ---------------------------------------------------------------------------------


@router.post("/tickets", status_code=201, response_model=TicketPublic, summary="Open a support ticket")
async def create_ticket(body: TicketCreate, uow: UoWDep, _: Sales) -> TicketPublic:
    ticket, messages = await _save(uow, tickets.open_ticket(uow, body), "the ticket clashes with a concurrent change")
    return views.ticket_public(ticket, messages)


@router.get("/tickets", response_model=Page[TicketPublic], summary="The support queue: breached and nearest due first")
async def list_tickets(
    uow: UoWDep,
    _: Sales,
    status: TicketStatus | None = None,
    breached: bool | None = None,
    account_id: IdQuery = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[TicketPublic]:
    filters = {Ticket.status: status, Ticket.breached: breached, Ticket.account_id: account_id}
    page = await paginate(uow.session, select(Ticket), Ticket.queue_key, cursor, limit, filters=filters)
    return page.map(views.ticket_public)


@router.get("/tickets/{ticket_id}", response_model=TicketPublic, summary="One ticket with its messages")
async def get_ticket(ticket_id: IdPath, uow: UoWDep, _: Sales) -> TicketPublic:
    ticket = await get_or_404(uow.session, Ticket, ticket_id, what="ticket", field="ticket_id")
    messages = await tickets.messages_of(uow.session, [ticket_id])
    return views.ticket_public(ticket, messages[ticket_id])


@router.post(
    "/tickets/{ticket_id}/messages", status_code=201, response_model=MessagePublic, summary="Reply on a ticket"
)
async def reply_to_ticket(ticket_id: IdPath, body: MessageCreate, uow: UoWDep, _: Sales) -> MessagePublic:
    ticket, message = await _save(uow, tickets.add_message(uow, ticket_id, body), "the ticket changed; retry")
    return views.message_public(message, ZoneInfo(ticket.timezone))


@router.post(
    "/tickets/{ticket_id}/status", response_model=TicketPublic, summary="Set a ticket pending, resolved or closed"
)
async def set_ticket_status(ticket_id: IdPath, body: TicketStatusChange, uow: UoWDep, _: Sales) -> TicketPublic:
    ticket = await _save(uow, tickets.change_status(uow, ticket_id, body.status), "the ticket changed; retry")
    return views.ticket_public(ticket)


# -- what an account was sent ----------------------------------------------------------------------------

MAIL = Model.metadata.tables["mail_outbox"]


@router.get(
    "/accounts/{account_id}/notifications",
    response_model=Page[NotificationPublic],
    summary="The mail sales wrote to an account, oldest first",
)
async def list_notifications(
    account_id: IdPath, uow: UoWDep, _: Sales, cursor: Cursor = None, limit: Limit = 50
) -> Page[NotificationPublic]:
    await get_or_404(uow.session, Account, account_id, what="account", field="account_id")
    # The outbox's ids are integers: the cursor is checked here, a text bound to them would fail on PostgreSQL.
    after = 0
    if cursor:
        value = decode_cursor(cursor)
        if not value.isdigit() or len(value) > 18:
            raise Invalid("cursor is not one this API issued", field="cursor")
        after = int(value)
    query = (
        sa_select(
            MAIL.c.id,
            MAIL.c.template,
            MAIL.c.language,
            MAIL.c.subject,
            MAIL.c.status,
            MAIL.c.sent_at,
            MAIL.c.created_at,
        )
        .where(MAIL.c.ref == f"account:{account_id}", MAIL.c.id > after)
        .order_by(MAIL.c.id)
        .limit(limit + 1)
    )
    rows = list((await uow.session.exec(query)).all())  # type: ignore[call-overload]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].id) if more and rows else None
    return Page[NotificationPublic](items=[views.notification_public(r) for r in rows], next_cursor=next_cursor)


# -- inquiries (RFQ) -----------------------------------------------------------------------------------


def inquiry_rate_limit(request: Request) -> None:
    """The form is public: 429 with Retry-After once a client exceeds the limit."""
    config: SalesConfig = request.app.state.config
    limiter: RateLimiter = request.app.state.inquiry_limiter
    limiter.enforce(client_address(request, behind_gateway=config.behind_gateway), "inquiries")


@router.post(
    "/inquiries",
    status_code=201,
    response_model=InquiryPublic,
    dependencies=[Depends(inquiry_rate_limit)],
    summary="Send an inquiry (RFQ): public storefront form or staff",
)
async def create_inquiry(body: InquiryCreate, uow: UoWDep) -> InquiryPublic:
    inquiry, lines, moqs = await _save(uow, inquiries.receive_inquiry(uow, body), "the inquiry clashes; retry")
    return views.inquiry_public(inquiry, lines, moqs, [])


async def _inquiry_answers(uow: UoW, rows: list[Inquiry]) -> dict[str, InquiryPublic]:
    ids = [i.id for i in rows]
    lines = await inquiries.lines_of(uow.session, ids)
    quote_ids = await inquiries.quote_ids_of(uow.session, ids)
    skus = sorted({ln.sku for group in lines.values() for ln in group})
    moqs = {sku: item.moq for sku, item in (await catalogue.catalogue_of(uow.session, skus)).items()}
    return {i.id: views.inquiry_public(i, lines[i.id], moqs, quote_ids[i.id]) for i in rows}


@router.get("/inquiries", response_model=Page[InquiryPublic], summary="Inquiries, by status")
async def list_inquiries(
    uow: UoWDep, _: Sales, status: InquiryStatus | None = None, cursor: Cursor = None, limit: Limit = 50
) -> Page[InquiryPublic]:
    page = await paginate(uow.session, select(Inquiry), Inquiry.id, cursor, limit, filters={Inquiry.status: status})
    answers = await _inquiry_answers(uow, page.items)
    return page.map(lambda i: answers[i.id])


@router.get("/inquiries/{inquiry_id}", response_model=InquiryPublic, summary="One inquiry with its quotes")
async def get_inquiry(inquiry_id: IdPath, uow: UoWDep, _: Sales) -> InquiryPublic:
    inquiry = await get_or_404(uow.session, Inquiry, inquiry_id, what="inquiry", field="inquiry_id")
    return (await _inquiry_answers(uow, [inquiry]))[inquiry_id]
