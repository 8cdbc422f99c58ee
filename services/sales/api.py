"""HTTP routes of the sales service under /api/v1/sales."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import httpx
from fastapi import APIRouter, Path, Query, Request
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse import outbox
from hanse.app import SessionDep
from hanse.auth import CurrentPrincipal, Principal, issue_token, require_roles
from hanse.errors import Conflict, Invalid, NotFound, Unavailable
from hanse.events import EventPayload, utcnow
from hanse.money import FxRate, Money, round_money
from hanse.pagination import Cursor, Limit, Page, paginate
from hanse.settings import Settings
from services.sales import domain
from services.sales.contract import FxApplied, OrderStatus
from services.sales.models import (
    PRINTABLE,
    Account,
    AccountCreate,
    AccountPublic,
    CancelRequest,
    DimensionsOut,
    HistoryEntry,
    OrderHistory,
    OrderLinePublic,
    OrderLineRow,
    OrderPublic,
    PriceTier,
    Product,
    ProductCreate,
    ProductPublic,
    Quote,
    QuoteCreate,
    QuoteLinePublic,
    QuoteLineRow,
    QuotePublic,
    SalesOrder,
    TierOut,
)

router = APIRouter(prefix="/api/v1/sales", tags=["sales"])

Sales = Annotated[Principal, require_roles("sales")]
OrderReader = Annotated[Principal, require_roles("sales", "finance", "logistics", "compliance", "partner")]
LOGISTICS_TIMEOUT = 5.0
T = TypeVar("T")
# Ids in paths and filters: printable and bounded (PostgreSQL refuses NUL bytes in text).
IdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=PRINTABLE)]
IdQuery = Annotated[str | None, Query(min_length=1, max_length=255, pattern=PRINTABLE)]


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _policy(request: Request) -> domain.QuotePolicy:
    return request.app.state.quote_policy


def _publisher(session: AsyncSession, correlation_id: str | None = None) -> domain.Publish:
    async def publish(payload: EventPayload) -> object:
        return await outbox.publish(session, payload, correlation_id=correlation_id or payload.subject())

    return publish


async def _save(session: AsyncSession, work: Awaitable[T], conflict: str) -> T:
    """Run the domain step and commit; a unique constraint lost to a concurrent request is a 409."""
    try:
        result = await work
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(conflict) from None
    return result


# -- catalogue ---------------------------------------------------------------------------------------


def product_public(product: Product, tiers: Sequence[PriceTier]) -> ProductPublic:
    cur = product.currency
    dims = None
    if product.length_cm is not None and product.width_cm is not None and product.height_cm is not None:
        cm = Decimal("0.01")
        dims = DimensionsOut(
            length=product.length_cm.quantize(cm),
            width=product.width_cm.quantize(cm),
            height=product.height_cm.quantize(cm),
        )
    return ProductPublic(
        sku=product.sku,
        name=product.name,
        hs_code=product.hs_code,
        origin_country=product.origin_country,
        unit_price=Money.of(product.unit_price, cur),
        unit_weight_kg=product.unit_weight_kg.quantize(Decimal("0.001")),
        dimensions_cm=dims,
        moq=product.moq,
        price_tiers=[TierOut(min_quantity=t.min_quantity, unit_price=Money.of(t.unit_price, cur)) for t in tiers],
        created_at=product.created_at,
    )


@router.post("/products", status_code=201, response_model=ProductPublic, summary="Add a product to the catalogue")
async def create_product(body: ProductCreate, session: SessionDep, _: Sales) -> ProductPublic:
    work = domain.create_product(session, body, _publisher(session))
    product, tiers = await _save(session, work, f"a product with sku {body.sku} exists")
    return product_public(product, tiers)


@router.get("/products", response_model=Page[ProductPublic], summary="The catalogue, by sku")
async def list_products(
    session: SessionDep, _: CurrentPrincipal, cursor: Cursor = None, limit: Limit = 50
) -> Page[ProductPublic]:
    page = await paginate(session, select(Product), Product.sku, cursor, limit)
    tiers = await domain.tiers_of(session, [p.sku for p in page.items])
    return Page(items=[product_public(p, tiers[p.sku]) for p in page.items], next_cursor=page.next_cursor)


@router.get("/products/{sku}", response_model=ProductPublic, summary="One product")
async def get_product(sku: IdPath, session: SessionDep, _: CurrentPrincipal) -> ProductPublic:
    product = await session.get(Product, sku)
    if product is None:
        raise NotFound(f"no product with sku {sku!r}", field="sku")
    tiers = await domain.tiers_of(session, [sku])
    return product_public(product, tiers[sku])


# -- accounts ----------------------------------------------------------------------------------------


def account_public(account: Account) -> AccountPublic:
    return AccountPublic.model_validate(account, from_attributes=True)


@router.post("/accounts", status_code=201, response_model=AccountPublic, summary="Open an account")
async def create_account(body: AccountCreate, session: SessionDep, _: Sales) -> AccountPublic:
    work = domain.open_account(session, body, _publisher(session))
    account = await _save(session, work, "the account clashes with an existing one")
    return account_public(account)


@router.get("/accounts", response_model=Page[AccountPublic], summary="Accounts, optionally the one of a lead")
async def list_accounts(
    session: SessionDep,
    _: Sales,
    lead_id: IdQuery = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[AccountPublic]:
    query = select(Account)
    if lead_id is not None:
        query = query.where(Account.lead_id == lead_id)
    page = await paginate(session, query, Account.id, cursor, limit)
    return Page(items=[account_public(a) for a in page.items], next_cursor=page.next_cursor)


@router.get("/accounts/{account_id}", response_model=AccountPublic, summary="One account")
async def get_account(account_id: IdPath, session: SessionDep, _: Sales) -> AccountPublic:
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound(f"no account {account_id}", field="account_id")
    return account_public(account)


# -- quotes ------------------------------------------------------------------------------------------


def _money(amount: Decimal | None, currency: str) -> Money | None:
    return None if amount is None else Money.of(amount, currency)


def quote_public(quote: Quote, lines: Sequence[QuoteLineRow], now: datetime | None = None) -> QuotePublic:
    cur = quote.currency
    status = quote.status
    if status == "issued" and quote.valid_until <= (now or utcnow()):
        status = "expired"
    return QuotePublic(
        id=quote.id,
        status=status,  # type: ignore[arg-type]
        account_id=quote.account_id,
        currency=cur,
        incoterm=quote.incoterm,
        named_place=quote.named_place,
        destination_country=quote.destination_country,
        mode=quote.mode,
        lines=[
            QuoteLinePublic(
                sku=ln.sku,
                name=ln.name,
                quantity=ln.quantity,
                unit_price=round_money(ln.unit_price, cur),
                amount=round_money(ln.amount, cur),
            )
            for ln in lines
        ],
        freight=_money(quote.freight, cur),
        insurance=_money(quote.insurance, cur),
        subtotal=Money.of(quote.subtotal, cur),
        total=Money.of(quote.total, cur),
        valid_until=quote.valid_until,
        fx=[FxApplied(**f) for f in quote.fx],
        order_id=quote.order_id,
        created_at=quote.created_at,
    )


async def price_freight(settings: Settings, draft: domain.QuoteDraft) -> domain.Freight:
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
    token, _ = issue_token("service:sales", ["sales"], settings)
    url = f"{settings.service_url('logistics')}/api/v1/logistics/rates"
    try:
        async with httpx.AsyncClient(timeout=LOGISTICS_TIMEOUT) as client:
            response = await client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise Unavailable(
            f"logistics is unreachable, freight cannot be priced ({type(exc).__name__})", service="logistics"
        ) from None
    if response.status_code in (400, 422):
        problem = _json(response)
        their_field = str(problem.get("field") or "")
        field = their_field if their_field in ("destination_country", "mode", "currency") else "lines"
        raise Invalid(f"logistics cannot price the freight: {problem.get('detail', response.text[:200])}", field=field)
    if response.status_code != 200 and response.status_code != 201:
        raise Unavailable(f"logistics answered {response.status_code}, freight cannot be priced", service="logistics")
    answer = _json(response)
    try:
        price = Money.model_validate(answer.get("price"))
        fx = FxRate.model_validate(answer["fx"]) if answer.get("fx") else None
    except ValidationError:
        raise Unavailable("logistics answered without a usable freight price", service="logistics") from None
    return domain.Freight(price, fx)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@router.post("/quotes", status_code=201, response_model=QuotePublic, summary="Issue a quote")
async def create_quote(body: QuoteCreate, request: Request, session: SessionDep, _: Sales) -> QuotePublic:
    settings = _settings(request)
    draft = await domain.draft_quote(session, body, settings.seller_country)
    freight = None
    if domain.seller_pays_carriage(draft.incoterm):
        # Hold no database transaction while waiting for another department.
        await session.rollback()
        freight = await price_freight(settings, draft)
    work = domain.issue_quote(session, draft, freight, _policy(request), _publisher(session))
    quote, lines = await _save(session, work, "the quote clashes with a concurrent change; retry")
    return quote_public(quote, lines)


@router.get("/quotes", response_model=Page[QuotePublic], summary="Quotes, optionally of one account")
async def list_quotes(
    session: SessionDep,
    _: Sales,
    account_id: IdQuery = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[QuotePublic]:
    query = select(Quote)
    if account_id is not None:
        query = query.where(Quote.account_id == account_id)
    page = await paginate(session, query, Quote.id, cursor, limit)
    lines = await domain.quote_lines(session, [q.id for q in page.items])
    return Page(items=[quote_public(q, lines[q.id]) for q in page.items], next_cursor=page.next_cursor)


@router.get("/quotes/{quote_id}", response_model=QuotePublic, summary="One quote")
async def get_quote(quote_id: IdPath, session: SessionDep, _: Sales) -> QuotePublic:
    quote = await session.get(Quote, quote_id)
    if quote is None:
        raise NotFound(f"no quote {quote_id}", field="quote_id")
    lines = await domain.quote_lines(session, [quote_id])
    return quote_public(quote, lines[quote_id])


@router.post(
    "/quotes/{quote_id}/accept", status_code=201, response_model=OrderPublic, summary="Accept a quote: place the order"
)
async def accept_quote(quote_id: IdPath, session: SessionDep, _: Sales) -> OrderPublic:
    work = domain.accept_quote(session, quote_id, _publisher(session))
    order = await _save(session, work, f"quote {quote_id} was accepted already")
    return await order_public(session, order)


# -- orders ------------------------------------------------------------------------------------------


async def _order_parts(
    session: AsyncSession, order_ids: Sequence[str]
) -> tuple[dict[str, list[OrderLineRow]], dict[str, list[OrderHistory]]]:
    lines: dict[str, list[OrderLineRow]] = {oid: [] for oid in order_ids}
    history: dict[str, list[OrderHistory]] = {oid: [] for oid in order_ids}
    if order_ids:
        ids = list(order_ids)
        for ln in await session.exec(
            select(OrderLineRow).where(OrderLineRow.order_id.in_(ids)).order_by(OrderLineRow.line_no)
        ):
            lines[ln.order_id].append(ln)
        for h in await session.exec(
            select(OrderHistory).where(OrderHistory.order_id.in_(ids)).order_by(OrderHistory.id)
        ):
            history[h.order_id].append(h)
    return lines, history


def _order_public(order: SalesOrder, lines: Sequence[OrderLineRow], history: Sequence[OrderHistory]) -> OrderPublic:
    cur = order.currency
    return OrderPublic(
        id=order.id,
        status=order.status,  # type: ignore[arg-type]
        account_id=order.account_id,
        quote_id=order.quote_id,
        currency=cur,
        incoterm=order.incoterm,
        named_place=order.named_place,
        destination_country=order.destination_country,
        mode=order.mode,
        payment_terms=order.payment_terms,  # type: ignore[arg-type]
        lines=[
            OrderLinePublic(
                sku=ln.sku,
                name=ln.name,
                quantity=ln.quantity,
                unit_price=round_money(ln.unit_price, cur),
                amount=round_money(ln.amount, cur),
                hs_code=ln.hs_code,
                origin_country=ln.origin_country,
                unit_weight_kg=ln.unit_weight_kg.quantize(Decimal("0.001")),
            )
            for ln in lines
        ],
        freight=_money(order.freight, cur),
        insurance=_money(order.insurance, cur),
        subtotal=Money.of(order.subtotal, cur),
        total=Money.of(order.total, cur),
        fx=[FxApplied(**f) for f in order.fx],
        paid=order.paid,
        history=[
            HistoryEntry(status=h.status, previous_status=h.previous_status, at=h.at, reason=h.reason)  # type: ignore[arg-type]
            for h in history
        ],
        placed_at=order.placed_at,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


async def order_public(session: AsyncSession, order: SalesOrder) -> OrderPublic:
    lines, history = await _order_parts(session, [order.id])
    return _order_public(order, lines[order.id], history[order.id])


@router.get("/orders", response_model=Page[OrderPublic], summary="Orders, by account and status")
async def list_orders(
    session: SessionDep,
    _: OrderReader,
    account_id: IdQuery = None,
    status: OrderStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[OrderPublic]:
    query = select(SalesOrder)
    if account_id is not None:
        query = query.where(SalesOrder.account_id == account_id)
    if status is not None:
        query = query.where(SalesOrder.status == status)
    page = await paginate(session, query, SalesOrder.id, cursor, limit)
    lines, history = await _order_parts(session, [o.id for o in page.items])
    return Page(items=[_order_public(o, lines[o.id], history[o.id]) for o in page.items], next_cursor=page.next_cursor)


@router.get("/orders/{order_id}", response_model=OrderPublic, summary="One order with its history")
async def get_order(order_id: IdPath, session: SessionDep, _: OrderReader) -> OrderPublic:
    order = await session.get(SalesOrder, order_id)
    if order is None:
        raise NotFound(f"no order {order_id}", field="order_id")
    return await order_public(session, order)


@router.post("/orders/{order_id}/cancel", response_model=OrderPublic, summary="Cancel an order before it ships")
async def cancel_order(
    order_id: IdPath, session: SessionDep, _: Sales, body: CancelRequest | None = None
) -> OrderPublic:
    reason = body.reason if body and body.reason else None
    work = domain.cancel_order(session, order_id, reason, _publisher(session, order_id))
    order = await _save(session, work, f"order {order_id} changed concurrently; retry")
    return await order_public(session, order)
