"""Sales' pure rules: Incoterms 2020, VAT ids, quote pricing and totals, and the order life cycle (no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import stdnum
from babel.numbers import get_territory_currencies
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError

from hanse.errors import Conflict, Invalid
from hanse.money import FxRate, ecb_rate, round_money
from services.sales.models import TransportMode

# Far above any real quote, far below what the Numeric(28, 4) money columns hold.
MAX_TOTAL = Decimal("1e15")

EU_COUNTRIES = frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split())
# VAT prefixes that differ from the ISO country code.
VAT_PREFIX_COUNTRY = {"EL": "GR"}


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


def answer_moq(
    requested: Sequence[tuple[str, int]], catalogue: dict[str, CatalogueItem]
) -> tuple[list[tuple[str, int]], list[str | None]]:
    """An inquiry below a product's MOQ is answered with the MOQ, not refused: the quantities to
    quote, and per line the note that says so."""
    lines: list[tuple[str, int]] = []
    notes: list[str | None] = []
    for sku, quantity in requested:
        item = catalogue.get(sku)
        if item is not None and quantity < item.moq:
            lines.append((sku, item.moq))
            notes.append(f"{sku}: {quantity} asked, quoted at the minimum order quantity of {item.moq}")
        else:
            lines.append((sku, quantity))
            notes.append(None)
    return lines, notes


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


# Logistics' carriers and the one mode each offers (PRODUCT.md, Logistics).
CARRIER_MODES = {"dhl-express": "courier", "maersk": "sea", "lufthansa-cargo": "air", "db-schenker": "road"}


def carrier_and_mode(term: str, carrier: str | None, mode: str | None, seller: str, destination: str) -> str:
    """The transport mode of a quote that may name a carrier: the carrier's own mode when none is
    asked; a carrier that does not offer the mode asked for is a 422 naming `carrier`."""
    if carrier is not None:
        offered = CARRIER_MODES.get(carrier)
        if offered is None:
            raise Invalid(f"unknown carrier {carrier!r} ({', '.join(CARRIER_MODES)})", field="carrier")
        if mode is not None and mode != offered:
            raise Invalid(f"{carrier} carries by {offered}, not {mode}", field="carrier")
        mode = offered
    return transport_mode(term, mode, seller, destination)


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
# A re-screening can hold an order compliance had cleared (PRODUCT.md, Compliance): it waits on_hold
# and, when compliance clears it again, returns to the status the hold interrupted (`held_from`).
HOLDABLE_AFTER_CLEARANCE = frozenset({"backordered", "confirmed", "ready_to_ship"})
# What logistics' news means for such an order while it is held: where it will return to.
_WHILE_HELD = {"short": "backordered", "reserved": "confirmed", "booked": "ready_to_ship"}


@dataclass(frozen=True)
class Transition:
    previous: str
    status: str
    reason: str | None = None


@dataclass(frozen=True)
class OrderState:
    status: str
    paid: bool = False
    held_from: str | None = None  # the status a hold after clearance interrupted (None: held when placed)


def advance(state: OrderState, signal: Signal, reason: str | None = None) -> tuple[OrderState, list[Transition]]:
    """Apply an event to an order: the new state and the transitions (none when it changes nothing).

    Events from different departments arrive in any order: a transition that would move the
    order backwards, or out of a terminal status, is ignored. Payment is a fact recorded even
    then; the order completes when it is both delivered and paid, whichever comes last.
    A hold after clearance (a re-screening match) is never stale: it holds a backordered,
    confirmed or ready-to-ship order until compliance clears it, back to where it was.
    """
    status, paid, held_from = state.status, state.paid, state.held_from
    transitions: list[Transition] = []
    if signal == "paid":
        paid = True
    elif status not in TERMINAL:
        if status == "on_hold" and held_from is not None and signal in _WHILE_HELD:
            # Stock and booking go on under a hold after clearance; the hold stays until compliance lifts it.
            if RANK[_WHILE_HELD[signal]] > RANK[held_from]:
                held_from = _WHILE_HELD[signal]
        elif signal == "held" and status in HOLDABLE_AFTER_CLEARANCE:
            transitions.append(Transition(status, "on_hold", reason))
            held_from = status
        elif signal == "cleared" and status == "on_hold" and held_from is not None:
            transitions.append(Transition(status, held_from, reason))
        elif signal in _FROM:
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
    return OrderState(new_status, paid, held_from if new_status == "on_hold" else None), transitions


def cancel(state: OrderState, reason: str | None) -> Transition:
    if state.status not in CANCELLABLE:
        raise Conflict(f"an order that is {state.status} cannot be cancelled", field="status", status_now=state.status)
    return Transition(state.status, "cancelled", reason or "cancelled by sales")


def fx_applied(rates: Iterable[FxRate]) -> list[dict[str, str]]:
    return [
        {"base": r.base, "quote": r.quote, "rate": format(r.rate, "f"), "rate_date": r.rate_date.isoformat()}
        for r in rates
    ]


def fully_returned(ordered: Iterable[tuple[str, int]], returned: Iterable[tuple[str, int]]) -> bool:
    """Whether the returned quantities cover every ordered quantity, sku by sku."""
    want: dict[str, int] = {}
    for sku, quantity in ordered:
        want[sku] = want.get(sku, 0) + quantity
    for sku, quantity in returned:
        if sku in want:
            want[sku] -= quantity
    return bool(want) and all(left <= 0 for left in want.values())
