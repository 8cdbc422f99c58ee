"""Business rules of the sales department: catalogue, quotes, Incoterms and the order life cycle."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Literal, Protocol

import stdnum
from babel.numbers import get_territory_currencies
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError

from hanse.errors import Conflict, Invalid, NotFound
from hanse.events import EventPayload, utcnow
from hanse.ids import new_id
from hanse.money import FxRate, Money, ecb_rate, round_money
from services.sales import contract
from services.sales.models import (
    Account,
    AccountCreate,
    OrderHistory,
    OrderLineRow,
    PriceTier,
    Product,
    ProductCreate,
    Quote,
    QuoteCreate,
    QuoteLineRow,
    SalesOrder,
    TransportMode,
)

# Far above any real quote, far below what the Numeric(28, 4) money columns hold.
MAX_TOTAL = Decimal("1e15")

EU_COUNTRIES = frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split())
# VAT prefixes that differ from the ISO country code.
VAT_PREFIX_COUNTRY = {"EL": "GR"}


class QuotePolicy(BaseSettings):
    """Sales' own knobs (HANSE_SALES_*): quote validity and the cargo insurance rate."""

    model_config = SettingsConfigDict(env_prefix="HANSE_SALES_", extra="ignore")

    quote_validity_days: int = Field(30, ge=1, le=365)
    # Premium as a fraction of the insured value (0.003 = 0.3 %), a common cargo rate.
    insurance_rate: Decimal = Field(Decimal("0.003"), ge=0, le=Decimal("0.2"))


# -- Incoterms 2020 -------------------------------------------------------------------------------

INCOTERMS: dict[str, tuple[bool, bool, bool]] = {
    # term: (sea only, seller pays main carriage, seller insures) -- Incoterms 2020
    "EXW": (False, False, False),
    "FCA": (False, False, False),
    "CPT": (False, True, False),
    "CIP": (False, True, True),
    "DAP": (False, True, False),
    "DPU": (False, True, False),
    "DDP": (False, True, False),
    "FAS": (True, False, False),
    "FOB": (True, False, False),
    "CFR": (True, True, False),
    "CIF": (True, True, True),
}


def incoterm(value: str) -> str:
    term = value.strip().upper()
    if term not in INCOTERMS:
        raise Invalid(f"{value!r} is not an Incoterms 2020 rule ({' '.join(INCOTERMS)})", field="incoterm")
    return term


def seller_pays_carriage(term: str) -> bool:
    return INCOTERMS[term][1]


def seller_insures(term: str) -> bool:
    return INCOTERMS[term][2]


def check_price_tiers(currency: str, tiers: Sequence[tuple[int, str]]) -> None:
    """Tiers are priced in the product's currency and each minimum quantity appears once."""
    seen: set[int] = set()
    for i, (min_quantity, tier_currency) in enumerate(tiers):
        if tier_currency != currency:
            raise Invalid(
                f"tier price must be in the product currency {currency}",
                field=f"price_tiers.{i}.unit_price.currency",
            )
        if min_quantity in seen:
            raise Invalid(f"min_quantity {min_quantity} appears twice", field=f"price_tiers.{i}.min_quantity")
        seen.add(min_quantity)


def vat_id_check(vat_id: str, country: str) -> tuple[str, bool]:
    """Validate a VAT id for the buyer's country; returns (compact id, vat_id_valid).

    EU countries: stdnum.eu.vat checksum and format, and the prefix must be the buyer's country.
    Elsewhere: the country's own stdnum VAT module when there is one (invalid → 422), otherwise
    the id is kept as given with vat_id_valid false (nothing to check it against).
    """
    if country in EU_COUNTRIES:
        try:
            compact = eu_vat.validate(vat_id)
        except StdnumError as exc:
            raise Invalid(f"not a valid EU VAT id: {exc}", field="vat_id") from None
        prefix = compact[:2].upper()
        if VAT_PREFIX_COUNTRY.get(prefix, prefix) != country:
            raise Invalid(f"VAT id {compact} is not one of {country}", field="vat_id")
        return compact, True
    module = stdnum.get_cc_module(country.lower(), "vat")
    if module is None:
        return vat_id, False
    try:
        return module.validate(vat_id), True
    except StdnumError as exc:
        raise Invalid(f"not a valid {country} VAT id: {exc}", field="vat_id") from None


def currency_for_country(country: str, base_currency: str) -> str:
    """The country's current currency when the ECB quotes it, else the seller's base currency."""
    for code in get_territory_currencies(country):
        try:
            ecb_rate(base_currency, code)
        except ValueError:
            continue
        return code
    return base_currency


# -- quote pricing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueItem:
    sku: str
    name: str
    hs_code: str
    origin_country: str
    unit_price: Decimal
    currency: str
    unit_weight_kg: Decimal
    moq: int = 1
    tiers: tuple[tuple[int, Decimal], ...] = ()  # (min_quantity, unit price)
    dimensions_cm: tuple[Decimal, Decimal, Decimal] | None = None


def tier_price(item: CatalogueItem, quantity: int) -> Decimal:
    """The price of the tier with the highest min_quantity <= quantity (base price below all tiers)."""
    price, best = item.unit_price, 0
    for min_quantity, tier_unit_price in item.tiers:
        if best < min_quantity <= quantity:
            price, best = tier_unit_price, min_quantity
    return price


@dataclass(frozen=True)
class PricedLine:
    item: CatalogueItem
    quantity: int
    unit_price: Decimal  # in the quote currency, in its minor unit
    amount: Decimal


@dataclass(frozen=True)
class Goods:
    currency: str
    lines: list[PricedLine]
    subtotal: Decimal
    weight_kg: Decimal
    volume_m3: Decimal | None
    fx: list[FxRate] = field(default_factory=list)


RateLookup = Callable[[str, str], FxRate]


def price_goods(
    requested: Iterable[tuple[str, int]],
    catalogue: dict[str, CatalogueItem],
    currency: str,
    rate: RateLookup = ecb_rate,
) -> Goods:
    """Price quote lines: tier price, MOQ, conversion at the ECB rate into the quote currency."""
    lines: list[PricedLine] = []
    rates: dict[str, FxRate] = {}
    weight = Decimal(0)
    volume: Decimal | None = Decimal(0)
    for i, (sku, quantity) in enumerate(requested):
        item = catalogue.get(sku)
        if item is None:
            raise Invalid(f"no product with sku {sku!r}", field=f"lines.{i}.sku")
        if quantity < item.moq:
            raise Invalid(f"{sku} has a minimum order quantity of {item.moq}", field=f"lines.{i}.quantity")
        price = tier_price(item, quantity)
        if item.currency != currency:
            if item.currency not in rates:
                try:
                    rates[item.currency] = rate(item.currency, currency)
                except ValueError as exc:
                    raise Invalid(f"cannot convert {item.currency} into {currency}: {exc}", field="currency") from None
            price = price * rates[item.currency].rate
        unit_price = round_money(price, currency)
        if unit_price <= 0:
            raise Invalid(f"the price of {sku} is below one {currency} minor unit", field="currency")
        lines.append(PricedLine(item, quantity, unit_price, unit_price * quantity))
        weight += item.unit_weight_kg * quantity
        if volume is not None and item.dimensions_cm is not None:
            length, width, height = item.dimensions_cm
            volume += length * width * height / Decimal(1_000_000) * quantity
        else:
            # A partial volume would understate the volumetric weight: leave it to logistics.
            volume = None
    subtotal = sum((line.amount for line in lines), Decimal(0))
    if subtotal >= MAX_TOTAL:
        raise Invalid("the quote total is too large", field="lines")
    return Goods(currency, lines, subtotal, weight, volume, list(rates.values()))


def default_mode(term: str, seller_country: str, destination_country: str) -> TransportMode:
    """Sea-only terms go by sea; within the EU (or domestic) by road; elsewhere by air."""
    if INCOTERMS[term][0]:
        return "sea"
    if destination_country == seller_country or {seller_country, destination_country} <= EU_COUNTRIES:
        return "road"
    return "air"


def transport_mode(term: str, mode: str | None, seller_country: str, destination_country: str) -> str:
    if mode is None:
        return default_mode(term, seller_country, destination_country)
    if INCOTERMS[term][0] and mode != "sea":
        raise Invalid(f"{term} is a sea-only Incoterm: mode must be sea, not {mode}", field="mode")
    return mode


INSURED_SHARE = Decimal("1.10")  # Incoterms 2020 CIF/CIP: cover at least 110 % of the value


def insurance_premium(goods: Decimal, freight: Decimal, rate: Decimal, currency: str) -> Decimal:
    return round_money((goods + freight) * INSURED_SHARE * rate, currency)


@dataclass(frozen=True)
class QuoteTotals:
    subtotal: Decimal
    freight: Decimal | None
    insurance: Decimal | None
    total: Decimal


def quote_totals(
    term: str, goods: Decimal, freight: Decimal | None, insurance_rate: Decimal, currency: str
) -> QuoteTotals:
    """Goods + freight (seller pays carriage) + insurance (CIF/CIP); tax and duty are finance's."""
    if seller_pays_carriage(term) and freight is None:
        raise ValueError(f"{term}: the seller pays carriage, a freight price is needed")
    if not seller_pays_carriage(term):
        freight = None
    insurance = (
        insurance_premium(goods, freight or Decimal(0), insurance_rate, currency) if seller_insures(term) else None
    )
    total = goods + (freight or Decimal(0)) + (insurance or Decimal(0))
    return QuoteTotals(goods, freight, insurance, total)


# -- the order life cycle ----------------------------------------------------------------------------

Signal = Literal["held", "rejected", "cleared", "short", "reserved", "booked", "dispatched", "delivered", "paid"]

TERMINAL = frozenset({"rejected", "cancelled", "completed"})
CANCELLABLE = frozenset({"placed", "on_hold", "backordered", "confirmed", "ready_to_ship"})
# How far an order has come; events only ever move it to a higher rank.
RANK = {
    "placed": 0,
    "on_hold": 1,
    "backordered": 1,
    "confirmed": 2,
    "ready_to_ship": 3,
    "shipped": 4,
    "delivered": 5,
    "completed": 6,
}
# Signals that move an order forward to a status, and from which statuses they may.
_FROM: dict[str, tuple[str, frozenset[str]]] = {
    "held": ("on_hold", frozenset({"placed"})),
    "rejected": ("rejected", frozenset({"placed", "on_hold"})),
    # An officer cleared a held order: it is back to waiting for stock, like a fresh order.
    "cleared": ("placed", frozenset({"on_hold"})),
    "short": ("backordered", frozenset({"placed", "on_hold"})),
    "reserved": ("confirmed", frozenset({"placed", "on_hold", "backordered"})),
}
_PROGRESS = {"booked": "ready_to_ship", "dispatched": "shipped", "delivered": "delivered"}


@dataclass(frozen=True)
class Transition:
    previous: str
    status: str
    reason: str | None = None


@dataclass(frozen=True)
class OrderState:
    status: str
    paid: bool = False


def advance(state: OrderState, signal: Signal, reason: str | None = None) -> tuple[OrderState, list[Transition]]:
    """Apply an event to an order: the new state and the transitions (none when it changes nothing).

    Events from different departments arrive in any order: a transition that would move the
    order backwards, or out of a terminal status, is ignored. Payment is a fact recorded even
    then; the order completes when it is both delivered and paid, whichever comes last.
    """
    status, paid = state.status, state.paid
    transitions: list[Transition] = []
    if signal == "paid":
        paid = True
    elif status not in TERMINAL:
        if signal in _FROM:
            target, allowed = _FROM[signal]
            if status in allowed:
                transitions.append(Transition(status, target, reason))
        elif signal in _PROGRESS:
            target = _PROGRESS[signal]
            if RANK[status] < RANK[target]:
                transitions.append(Transition(status, target, reason))
        else:
            raise ValueError(f"unknown order signal {signal!r}")
    current = transitions[-1].status if transitions else status
    if current == "delivered" and paid:
        transitions.append(Transition(current, "completed", "delivered and paid"))
    new_status = transitions[-1].status if transitions else status
    return OrderState(new_status, paid), transitions


def cancel(state: OrderState, reason: str | None) -> Transition:
    if state.status not in CANCELLABLE:
        raise Conflict(f"an order that is {state.status} cannot be cancelled", field="status", status_now=state.status)
    return Transition(state.status, "cancelled", reason or "cancelled by sales")


def fx_applied(rates: Iterable[FxRate]) -> list[dict[str, str]]:
    return [
        {"base": r.base, "quote": r.quote, "rate": format(r.rate, "f"), "rate_date": r.rate_date.isoformat()}
        for r in rates
    ]


# -- with the database: functions that take the session (the caller commits) ----------------------


class Publish(Protocol):
    async def __call__(self, payload: EventPayload) -> object: ...


async def create_product(
    session: AsyncSession, data: ProductCreate, publish: Publish
) -> tuple[Product, list[PriceTier]]:
    check_price_tiers(data.unit_price.currency, [(t.min_quantity, t.unit_price.currency) for t in data.price_tiers])
    if await session.get(Product, data.sku) is not None:
        raise Conflict(f"a product with sku {data.sku} exists", field="sku")
    dims = data.dimensions_cm
    product = Product(
        sku=data.sku,
        name=data.name,
        hs_code=data.hs_code,
        origin_country=data.origin_country,
        unit_price=data.unit_price.amount,
        currency=data.unit_price.currency,
        unit_weight_kg=data.unit_weight_kg,
        length_cm=dims.length if dims else None,
        width_cm=dims.width if dims else None,
        height_cm=dims.height if dims else None,
        moq=data.moq,
    )
    session.add(product)
    await session.flush()
    tiers = [
        PriceTier(sku=data.sku, min_quantity=t.min_quantity, unit_price=t.unit_price.amount)
        for t in sorted(data.price_tiers, key=lambda t: t.min_quantity)
    ]
    session.add_all(tiers)
    await publish(
        contract.ProductCreated(
            sku=product.sku,
            name=product.name,
            hs_code=product.hs_code,
            origin_country=product.origin_country,
            unit_price=data.unit_price,
            unit_weight_kg=product.unit_weight_kg,
        )
    )
    return product, tiers


async def tiers_of(session: AsyncSession, skus: Sequence[str]) -> dict[str, list[PriceTier]]:
    found: dict[str, list[PriceTier]] = {sku: [] for sku in skus}
    if skus:
        rows = await session.exec(
            select(PriceTier).where(PriceTier.sku.in_(list(skus))).order_by(PriceTier.sku, PriceTier.min_quantity)
        )
        for tier in rows:
            found[tier.sku].append(tier)
    return found


async def open_account(
    session: AsyncSession,
    data: AccountCreate,
    publish: Publish,
    *,
    lead_id: str | None = None,
    check_vat: bool = True,
) -> Account:
    vat_id, vat_valid = data.vat_id, False
    if vat_id is not None and check_vat:
        vat_id, vat_valid = vat_id_check(vat_id, data.country)
    account = Account(
        id=new_id("acc"),
        company=data.company,
        country=data.country,
        email=str(data.email),
        currency=data.currency,
        vat_id=vat_id,
        vat_id_valid=vat_valid,
        language=data.language,
        payment_terms=data.payment_terms,
        lead_id=lead_id,
    )
    session.add(account)
    await session.flush()
    await publish(
        contract.AccountCreated(
            account_id=account.id,
            lead_id=lead_id,
            company=account.company,
            country=account.country,
            email=account.email,
            currency=account.currency,
            vat_id=account.vat_id,
            vat_id_valid=account.vat_id_valid,
            language=account.language,
            payment_terms=data.payment_terms,
        )
    )
    return account


async def account_for_lead(session: AsyncSession, lead_id: str) -> Account | None:
    return (await session.exec(select(Account).where(Account.lead_id == lead_id))).one_or_none()


@dataclass(frozen=True)
class Freight:
    """Logistics' price for the main carriage, and the ECB rate it converted its tariff at."""

    price: Money
    fx: FxRate | None = None


@dataclass(frozen=True)
class QuoteDraft:
    """A quote priced for its goods, before freight (which needs logistics) is known."""

    request: QuoteCreate
    incoterm: str
    mode: str
    goods: Goods


async def draft_quote(session: AsyncSession, data: QuoteCreate, seller_country: str) -> QuoteDraft:
    term = incoterm(data.incoterm)
    mode = transport_mode(term, data.mode, seller_country, data.destination_country)
    if await session.get(Account, data.account_id) is None:
        raise Invalid(f"no account {data.account_id!r}", field="account_id")
    skus = sorted({line.sku for line in data.lines})
    products = (await session.exec(select(Product).where(Product.sku.in_(skus)))).all()
    tiers = await tiers_of(session, [p.sku for p in products])
    catalogue = {p.sku: catalogue_item(p, tiers[p.sku]) for p in products}
    goods = price_goods([(line.sku, line.quantity) for line in data.lines], catalogue, data.currency)
    return QuoteDraft(data, term, mode, goods)


def catalogue_item(product: Product, tiers: Sequence[PriceTier]) -> CatalogueItem:
    dims = (product.length_cm, product.width_cm, product.height_cm)
    return CatalogueItem(
        sku=product.sku,
        name=product.name,
        hs_code=product.hs_code,
        origin_country=product.origin_country,
        unit_price=product.unit_price,
        currency=product.currency,
        unit_weight_kg=product.unit_weight_kg,
        moq=product.moq,
        tiers=tuple((t.min_quantity, t.unit_price) for t in tiers),
        dimensions_cm=dims if all(d is not None for d in dims) else None,  # type: ignore[arg-type]
    )


async def issue_quote(
    session: AsyncSession,
    draft: QuoteDraft,
    freight: Freight | None,
    policy: QuotePolicy,
    publish: Publish,
) -> tuple[Quote, list[QuoteLineRow]]:
    data, goods = draft.request, draft.goods
    fx = list(goods.fx)
    freight_amount = None
    if freight is not None:
        price, freight_fx = freight.price, freight.fx
        if price.currency != data.currency:
            # Logistics should answer in the quote currency; convert here if it did not.
            try:
                freight_fx = ecb_rate(price.currency, data.currency)
            except ValueError as exc:
                raise Invalid(f"cannot convert freight into {data.currency}: {exc}", field="currency") from None
            price = Money(amount=price.amount * freight_fx.rate, currency=data.currency)
        freight_amount = round_money(price.amount, data.currency)
        if freight_fx is not None and all((r.base, r.quote) != (freight_fx.base, freight_fx.quote) for r in fx):
            fx.append(freight_fx)
    totals = quote_totals(draft.incoterm, goods.subtotal, freight_amount, policy.insurance_rate, data.currency)
    now = utcnow()
    quote = Quote(
        id=new_id("quo"),
        account_id=data.account_id,
        currency=data.currency,
        incoterm=draft.incoterm,
        named_place=data.named_place,
        destination_country=data.destination_country,
        mode=draft.mode,
        subtotal=totals.subtotal,
        freight=totals.freight,
        insurance=totals.insurance,
        total=totals.total,
        fx=fx_applied(fx),
        valid_until=now + timedelta(days=policy.quote_validity_days),
        created_at=now,
    )
    session.add(quote)
    await session.flush()
    lines = [
        QuoteLineRow(
            quote_id=quote.id,
            line_no=i,
            sku=line.item.sku,
            name=line.item.name,
            hs_code=line.item.hs_code,
            origin_country=line.item.origin_country,
            unit_weight_kg=line.item.unit_weight_kg,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
        )
        for i, line in enumerate(goods.lines)
    ]
    session.add_all(lines)
    cur = data.currency
    await publish(
        contract.QuoteIssued(
            quote_id=quote.id,
            account_id=quote.account_id,
            currency=cur,
            incoterm=quote.incoterm,
            named_place=quote.named_place,
            destination_country=quote.destination_country,
            mode=quote.mode,
            lines=[contract.QuoteLine(sku=ln.sku, quantity=ln.quantity, unit_price=ln.unit_price) for ln in lines],
            freight=Money(amount=totals.freight, currency=cur) if totals.freight is not None else None,
            insurance=Money(amount=totals.insurance, currency=cur) if totals.insurance is not None else None,
            subtotal=Money(amount=totals.subtotal, currency=cur),
            total=Money(amount=totals.total, currency=cur),
            valid_until=quote.valid_until,
            fx=[contract.FxApplied(**f) for f in quote.fx],
        )
    )
    return quote, lines


async def quote_lines(session: AsyncSession, quote_ids: Sequence[str]) -> dict[str, list[QuoteLineRow]]:
    found: dict[str, list[QuoteLineRow]] = {qid: [] for qid in quote_ids}
    if quote_ids:
        rows = await session.exec(
            select(QuoteLineRow)
            .where(QuoteLineRow.quote_id.in_(list(quote_ids)))
            .order_by(QuoteLineRow.quote_id, QuoteLineRow.line_no)
        )
        for line in rows:
            found[line.quote_id].append(line)
    return found


def _money(amount: Decimal | None, currency: str) -> Money | None:
    return None if amount is None else Money.of(amount, currency)


async def accept_quote(session: AsyncSession, quote_id: str, publish: Publish) -> SalesOrder:
    """Place the order of a quote, once: the quote row is locked, and orders.quote_id is unique."""
    quote = (await session.exec(select(Quote).where(Quote.id == quote_id).with_for_update())).one_or_none()
    if quote is None:
        raise NotFound(f"no quote {quote_id}", field="quote_id")
    if quote.status == "accepted" or quote.order_id is not None:
        raise Conflict(f"quote {quote_id} was accepted already (order {quote.order_id})", order_id=quote.order_id)
    now = utcnow()
    if quote.valid_until <= now:
        raise Conflict(f"quote {quote_id} expired at {quote.valid_until.isoformat()}", field="valid_until")
    account = await session.get(Account, quote.account_id)
    if account is None:  # pragma: no cover - quotes reference accounts by foreign key
        raise NotFound(f"no account {quote.account_id}", field="account_id")
    lines = (await quote_lines(session, [quote.id]))[quote.id]
    order = SalesOrder(
        id=new_id("ord"),
        quote_id=quote.id,
        account_id=quote.account_id,
        status="placed",
        currency=quote.currency,
        incoterm=quote.incoterm,
        named_place=quote.named_place,
        destination_country=quote.destination_country,
        mode=quote.mode,
        payment_terms=account.payment_terms,
        subtotal=quote.subtotal,
        freight=quote.freight,
        insurance=quote.insurance,
        total=quote.total,
        fx=list(quote.fx),
        placed_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    await session.flush()
    order_lines = [
        OrderLineRow(
            order_id=order.id,
            line_no=ln.line_no,
            sku=ln.sku,
            name=ln.name,
            hs_code=ln.hs_code,
            origin_country=ln.origin_country,
            unit_weight_kg=ln.unit_weight_kg,
            quantity=ln.quantity,
            unit_price=ln.unit_price,
            amount=ln.amount,
        )
        for ln in lines
    ]
    session.add_all(order_lines)
    quote.status, quote.order_id = "accepted", order.id
    session.add(OrderHistory(order_id=order.id, status="placed", reason=f"quote {quote.id} accepted", at=now))
    cur = order.currency
    terms = contract.OrderTerms(
        order_id=order.id,
        quote_id=quote.id,
        account_id=account.id,
        lead_id=account.lead_id,
        company=account.company,
        email=account.email,
        buyer_country=account.country,
        vat_id=account.vat_id,
        vat_id_valid=account.vat_id_valid,
        destination_country=order.destination_country,
        incoterm=order.incoterm,
        named_place=order.named_place,
        mode=order.mode,
        currency=cur,
        payment_terms=account.payment_terms,  # type: ignore[arg-type]
        lines=[
            contract.OrderLine(
                sku=ln.sku,
                name=ln.name,
                quantity=ln.quantity,
                unit_price=round_money(ln.unit_price, cur),
                hs_code=ln.hs_code,
                origin_country=ln.origin_country,
                unit_weight_kg=ln.unit_weight_kg,
            )
            for ln in order_lines
        ],
        freight=_money(order.freight, cur),
        insurance=_money(order.insurance, cur),
        subtotal=Money.of(order.subtotal, cur),
        total=Money.of(order.total, cur),
        fx=[contract.FxApplied(**f) for f in order.fx],
        placed_at=now,
    )
    await publish(contract.OrderPlaced(order_id=order.id, order=terms))
    await publish(contract.OrderStatusChanged(order_id=order.id, status="placed", reason="quote accepted"))
    return order


async def locked_order(session: AsyncSession, order_id: str) -> SalesOrder | None:
    query = select(SalesOrder).where(SalesOrder.id == order_id).with_for_update()
    return (await session.exec(query)).one_or_none()


async def record_transitions(
    session: AsyncSession, order: SalesOrder, transitions: Sequence[Transition], publish: Publish
) -> None:
    """Write each transition to the order's history and announce it."""
    for step in transitions:
        now = utcnow()
        session.add(
            OrderHistory(
                order_id=order.id, status=step.status, previous_status=step.previous, reason=step.reason, at=now
            )
        )
        order.status, order.updated_at = step.status, now
        await publish(
            contract.OrderStatusChanged(
                order_id=order.id,
                status=step.status,  # type: ignore[arg-type]
                previous_status=step.previous,  # type: ignore[arg-type]
                reason=step.reason,
            )
        )
    session.add(order)


async def apply_signal(
    session: AsyncSession, order: SalesOrder, signal: Signal, reason: str | None, publish: Publish
) -> list[Transition]:
    state, transitions = advance(OrderState(order.status, order.paid), signal, reason)
    if state.paid != order.paid:
        order.paid, order.updated_at = state.paid, utcnow()
        session.add(order)
    await record_transitions(session, order, transitions, publish)
    return transitions


async def cancel_order(session: AsyncSession, order_id: str, reason: str | None, publish: Publish) -> SalesOrder:
    order = await locked_order(session, order_id)
    if order is None:
        raise NotFound(f"no order {order_id}", field="order_id")
    step = cancel(OrderState(order.status, order.paid), reason)
    await publish(contract.OrderCancelled(order_id=order.id, previous_status=step.previous, reason=step.reason))  # type: ignore[arg-type]
    await record_transitions(session, order, [step], publish)
    return order
