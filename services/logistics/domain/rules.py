"""Pure rules of logistics: freight zones and prices, stock allocation, the shipment state machine."""

from __future__ import annotations

import csv
import json
import re
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

from hanse.errors import Conflict, Invalid
from hanse.money import round_money
from services.logistics.contract import ReservedLine, ShortLine
from services.logistics.models import SKU_PATTERN
from services.sales.contract import OrderLine

DATA = Path(__file__).parents[1] / "data"
TARIFF_CURRENCY = "EUR"
KG = Decimal("0.001")

# -- freight ---------------------------------------------------------------------------------------

# Kilograms charged per cubic metre: air 1e6/6000, courier 1e6/5000 (IATA divisors), sea 1 m³ = 1 t,
# road 333 kg/m³ (the common European groupage ratio, 1 loading metre ≈ 1,850 kg).
VOLUMETRIC_KG_PER_M3: dict[str, Decimal] = {
    "air": Decimal(1_000_000) / Decimal(6000),
    "courier": Decimal(1_000_000) / Decimal(5000),
    "sea": Decimal(1000),
    "road": Decimal(333),
}
NEAR_ZONES = frozenset({"domestic", "eu"})
SEA_ONLY_INCOTERMS = frozenset({"FAS", "FOB", "CFR", "CIF"})
MODES = ("sea", "air", "courier", "road")
MILESTONES = frozenset({"picked_up", "in_transit", "customs_cleared", "out_for_delivery", "delivered", "exception"})


@dataclass(frozen=True)
class Carrier:
    id: str
    name: str
    modes: tuple[str, ...]
    codes: Mapping[str, str]  # the carrier's own status code -> Hanse milestone


@dataclass(frozen=True)
class Tariff:
    rate_per_kg: Decimal
    minimum_charge: Decimal


@dataclass(frozen=True)
class FreightPrice:
    mode: str
    zone: str
    actual_weight_kg: Decimal
    volumetric_weight_kg: Decimal
    chargeable_weight_kg: Decimal
    tariff: Tariff
    price: Decimal  # in TARIFF_CURRENCY
    carrier: str = ""


RateTable = Mapping[tuple[str, str, str], Tariff]  # (carrier, mode, zone) -> tariff


@lru_cache(maxsize=1)
def carriers() -> dict[str, Carrier]:
    """The carrier table (data/carriers.json), by carrier id."""
    raw = json.loads((DATA / "carriers.json").read_text())
    return {
        cid: Carrier(cid, c["name"], tuple(c["modes"]), dict(c["codes"]))
        for cid, c in raw.items()
        if not cid.startswith("_")
    }


def carrier(carrier_id: str) -> Carrier | None:
    return carriers().get(carrier_id)


@lru_cache(maxsize=1)
def rate_table() -> dict[tuple[str, str, str], Tariff]:
    """The shipped tariffs (data/carrier_rates.csv): per carrier, mode and zone, EUR per chargeable kg and a minimum."""
    with (DATA / "carrier_rates.csv").open(newline="") as f:
        return {
            (row["carrier"], row["mode"], row["zone"]): Tariff(
                Decimal(row["rate_per_kg_eur"]), Decimal(row["minimum_charge_eur"])
            )
            for row in csv.DictReader(f)
        }


@lru_cache(maxsize=1)
def zone_table() -> dict[str, str]:
    """Country → freight zone (data/zones.json)."""
    raw = json.loads((DATA / "zones.json").read_text())
    return {country: zone for zone, countries in raw.items() if not zone.startswith("_") for country in countries}


def freight_zone(origin_country: str, destination_country: str, zones: Mapping[str, str] | None = None) -> str:
    if origin_country == destination_country:
        return "domestic"
    return (zones if zones is not None else zone_table()).get(destination_country, "rest_of_world")


def volumetric_weight_kg(mode: str, volume_m3: Decimal) -> Decimal:
    return (volume_m3 * VOLUMETRIC_KG_PER_M3[mode]).quantize(KG, rounding=ROUND_HALF_UP)


def price_freight(
    mode: str,
    origin_country: str,
    destination_country: str,
    weight_kg: Decimal,
    volume_m3: Decimal = Decimal(0),
    *,
    carrier: str | None = None,
    rates: RateTable | None = None,
    zones: Mapping[str, str] | None = None,
) -> FreightPrice:
    """Chargeable weight = max(actual, volumetric); price = max(weight × rate, minimum charge).

    With a carrier, that carrier's tariff; without, the cheapest carrier offering the mode to the
    zone (ties go to the carrier id first in the alphabet).
    """
    if weight_kg <= 0:
        raise Invalid("weight_kg must be greater than 0", field="weight_kg")
    if volume_m3 < 0:
        raise Invalid("volume_m3 must not be negative", field="volume_m3")
    zone = freight_zone(origin_country, destination_country, zones)
    table = rates if rates is not None else rate_table()
    offers = sorted((c, t) for (c, m, z), t in table.items() if m == mode and z == zone)
    if carrier is not None:
        if not any(c == carrier for (c, _, _) in table):
            raise Invalid(f"no carrier {carrier}", field="carrier")
        offers = [(c, t) for c, t in offers if c == carrier]
        if not offers:
            raise Invalid(f"{carrier} offers no {mode} freight to zone {zone}", field="carrier", zone=zone)
    if not offers:
        raise Invalid(f"{mode} freight is not offered to zone {zone}", field="mode", zone=zone)
    actual = weight_kg.quantize(KG, rounding=ROUND_HALF_UP)
    volumetric = volumetric_weight_kg(mode, volume_m3)
    chargeable = max(actual, volumetric)
    priced = [
        (round_money(max(chargeable * tariff.rate_per_kg, tariff.minimum_charge), TARIFF_CURRENCY), cid, tariff)
        for cid, tariff in offers
    ]
    price, cid, tariff = min(priced, key=lambda p: (p[0], p[1]))
    return FreightPrice(mode, zone, actual, volumetric, chargeable, tariff, price, cid)


def transport_mode(incoterm: str | None, zone: str, quoted: str | None = None) -> str:
    """Sea-only Incoterms go by sea; else the quoted mode; else road at home and in the EU, air beyond."""
    if (incoterm or "").upper() in SEA_ONLY_INCOTERMS:
        return "sea"
    if quoted in MODES:
        return quoted
    return "road" if zone in NEAR_ZONES else "air"


def choose_carrier(
    mode: str, origin: str, destination: str, weight_kg: Decimal | None, named: str | None = None
) -> str:
    """The carrier the order named when it offers the mode; else the cheapest for the mode and zone;
    else (a mode no tariff offers to the zone, e.g. a quoted road lane overseas) the first offering the mode."""
    table = carriers()
    if named in table and mode in table[named].modes:
        return named  # type: ignore[return-value]
    try:
        return price_freight(mode, origin, destination, weight_kg or Decimal(1)).carrier
    except Invalid:
        return next(c.id for c in sorted(table.values(), key=lambda c: c.id) if mode in c.modes)


def _mod7(serial: str) -> str:
    return str(int(serial) % 7)


def _digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


def new_tracking_number(carrier_id: str) -> str:
    """A tracking number in the carrier's own format (see data/carriers.json)."""
    if carrier_id == "dhl-express":
        serial = str(secrets.randbelow(9 * 10**8) + 10**8)
        return serial + _mod7(serial)
    if carrier_id == "lufthansa-cargo":
        serial = _digits(7)
        return f"020-{serial}{_mod7(serial)}"
    if carrier_id == "maersk":
        return "MAEU" + _digits(9)
    if carrier_id == "db-schenker":
        return "DBSK" + _digits(10)
    raise ValueError(f"no tracking-number format for carrier {carrier_id}")


_TRACKING_FORMATS = {
    "dhl-express": re.compile(r"^(\d{9})(\d)$"),
    "lufthansa-cargo": re.compile(r"^020-(\d{7})(\d)$"),
    "maersk": re.compile(r"^MAEU\d{9}$"),
    "db-schenker": re.compile(r"^DBSK\d{10}$"),
}


def tracking_number_valid(carrier_id: str, number: str) -> bool:
    """Whether `number` has the carrier's format (and check digit where it has one)."""
    pattern = _TRACKING_FORMATS.get(carrier_id)
    match = pattern.match(number) if pattern else None
    if match is None:
        return False
    return len(match.groups()) < 2 or _mod7(match.group(1)) == match.group(2)


def milestone_for(carrier_id: str, status: str) -> str | None:
    """A Hanse milestone name as it is, or the carrier's own code for one; None when neither."""
    if status in MILESTONES:
        return status
    found = carrier(carrier_id)
    return found.codes.get(status.upper()) if found else None


# -- stock allocation ------------------------------------------------------------------------------

_SKU = re.compile(SKU_PATTERN)


@dataclass(frozen=True)
class Allocation:
    """All lines reserved, or (when anything is short) nothing reserved and the short lines."""

    reserved: list[ReservedLine]
    short: list[ShortLine]

    @property
    def complete(self) -> bool:
        return not self.short


def wanted_quantities(lines: Iterable[OrderLine]) -> dict[str, int]:
    """Units wanted per SKU (lines of one SKU summed); a malformed line raises ValueError."""
    wanted: dict[str, int] = {}
    for i, line in enumerate(lines):
        if not _SKU.match(line.sku):
            raise ValueError(f"lines.{i}.sku {line.sku!r} is not a SKU")
        if line.quantity <= 0:
            raise ValueError(f"lines.{i}.quantity must be greater than 0")
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
    if not wanted:
        raise ValueError("the order has no lines")
    return dict(sorted(wanted.items()))


def allocate(wanted: Mapping[str, int], available: Mapping[tuple[str, str], int]) -> Allocation:
    """All-or-nothing: take each SKU from the fullest warehouse first (one parcel when one suffices)."""
    reserved: list[ReservedLine] = []
    short: list[ShortLine] = []
    for sku in sorted(wanted):
        need = wanted[sku]
        stocks = sorted(
            ((warehouse, units) for (s, warehouse), units in available.items() if s == sku and units > 0),
            key=lambda ws: (-ws[1], ws[0]),
        )
        total = sum(units for _, units in stocks)
        if total < need:
            short.append(ShortLine(sku=sku, requested=need, available=total))
            continue
        for warehouse, units in stocks:
            take = min(units, need)
            reserved.append(ReservedLine(sku=sku, warehouse=warehouse, quantity=take))
            need -= take
            if need == 0:
                break
    return Allocation(reserved=[] if short else reserved, short=short)


def order_weight_kg(lines: Iterable[OrderLine]) -> Decimal:
    return sum((line.unit_weight_kg * line.quantity for line in lines), Decimal(0)).quantize(KG)


# -- shipment state machine ------------------------------------------------------------------------

# A milestone that proves the goods left the warehouse; customs_cleared and exception do not
# (export clearance can happen before pick-up).
LEAVES_WAREHOUSE = frozenset({"picked_up", "in_transit", "out_for_delivery", "delivered"})


@dataclass(frozen=True)
class MilestoneEffect:
    status: str
    dispatches: bool
    delivers: bool


def apply_milestone(shipment_status: str, milestone: str) -> MilestoneEffect:
    """booked → in_transit (first milestone that leaves the warehouse) → delivered; never backwards."""
    if shipment_status == "cancelled":
        raise Conflict("the shipment was cancelled; it takes no milestones", field="status")
    if shipment_status == "delivered":
        raise Conflict("the shipment was delivered; it takes no further milestones", field="status")
    dispatches = shipment_status == "booked" and milestone in LEAVES_WAREHOUSE
    delivers = milestone == "delivered"
    status = "delivered" if delivers else ("in_transit" if dispatches else shipment_status)
    return MilestoneEffect(status=status, dispatches=dispatches, delivers=delivers)


# -- customs data and packages ---------------------------------------------------------------------

# Gross weight = net weight plus inner packing (5 %, a documented assumption: the catalogue has net
# unit weights only). Outer packaging by mode: courier parcels in cartons of at most 30 kg, every
# other mode on EUR pallets (120 × 80 cm) of at most 500 kg.
GROSS_FACTOR = Decimal("1.05")


@dataclass(frozen=True)
class Packaging:
    type: str
    capacity_kg: Decimal
    dimensions_cm: tuple[int, int, int]
    tare_kg: Decimal


PACKAGING = {
    "courier": Packaging("carton", Decimal(30), (60, 40, 40), Decimal("0.5")),
    "pallet": Packaging("pallet", Decimal(500), (120, 80, 150), Decimal(25)),
}


@dataclass(frozen=True)
class CustomsItem:
    sku: str
    description: str
    hs_code: str
    origin_country: str
    quantity: int
    net_weight_kg: Decimal
    gross_weight_kg: Decimal
    value: Decimal


@dataclass(frozen=True)
class PackageCount:
    count: int
    packaging: Packaging
    weight_kg: Decimal


def customs_item(
    sku: str, description: str, hs_code: str, origin: str, quantity: int, unit_price: Decimal, unit_weight: Decimal
) -> CustomsItem:
    net = (unit_weight * quantity).quantize(KG, rounding=ROUND_HALF_UP)
    gross = (net * GROSS_FACTOR).quantize(KG, rounding=ROUND_HALF_UP)
    return CustomsItem(sku, description, hs_code, origin, quantity, net, gross, unit_price * quantity)


def package_count(mode: str, gross_weight_kg: Decimal) -> PackageCount:
    """How many packages the goods make (at least one) and their weight with the packaging."""
    packaging = PACKAGING["courier" if mode == "courier" else "pallet"]
    # Decimal's // truncates toward zero, so round the quotient up explicitly.
    count = max(1, int((gross_weight_kg / packaging.capacity_kg).to_integral_value(rounding=ROUND_CEILING)))
    weight = (gross_weight_kg + packaging.tare_kg * count).quantize(KG, rounding=ROUND_HALF_UP)
    return PackageCount(int(count), packaging, weight)


# -- letter of credit ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credit:
    id: str
    amount: Decimal
    currency: str
    expiry_date: date
    latest_shipment_date: date


def letter_of_credit_refusal(
    credits: Iterable[Credit], currency: str | None, total: Decimal | None, today: date
) -> str | None:
    """None when one L/C is valid today and covers the order total in the order currency; else why not."""
    reasons = []
    for lc in credits:
        if lc.currency != currency:
            reasons.append(f"letter of credit {lc.id} is in {lc.currency}, the order in {currency}")
        elif total is not None and lc.amount < total:
            reasons.append(f"letter of credit {lc.id} covers {lc.amount} {lc.currency} of the order total {total}")
        elif today > lc.latest_shipment_date:
            reasons.append(f"letter of credit {lc.id}: its latest shipment date {lc.latest_shipment_date} has passed")
        elif today > lc.expiry_date:
            reasons.append(f"letter of credit {lc.id} expired on {lc.expiry_date}")
        else:
            return None
    return "; ".join(reasons) or "no letter of credit is recorded for the order (payment terms letter_of_credit)"


# -- returns ---------------------------------------------------------------------------------------


def return_violations(
    shipped: Mapping[str, int], already: Mapping[str, int], asked: Iterable[tuple[str, int]]
) -> list[tuple[int, str]]:
    """(line index, why) for each line that asks for a SKU not shipped or more than shipped minus returned."""
    problems = []
    seen: dict[str, int] = {}
    for i, (sku, quantity) in enumerate(asked):
        if sku not in shipped:
            problems.append((i, f"{sku} was not shipped with this order"))
            continue
        seen[sku] = seen.get(sku, 0) + quantity
        left = shipped[sku] - already.get(sku, 0)
        if seen[sku] > left:
            problems.append((i, f"{seen[sku]} of {sku} asked back, but only {left} shipped and not yet returned"))
    return problems
