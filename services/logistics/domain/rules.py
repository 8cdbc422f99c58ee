"""Pure rules of logistics: freight zones and prices, stock allocation, the shipment state machine."""

from __future__ import annotations

import csv
import json
import re
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
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
CARRIERS: dict[str, tuple[str, str]] = {
    "sea": ("Hapag-Lloyd", "HLCU"),
    "air": ("Lufthansa Cargo", "LHCG"),
    "courier": ("DHL Express", "DHLX"),
    "road": ("DB Schenker", "DBSK"),
}


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


@lru_cache(maxsize=1)
def rate_table() -> dict[tuple[str, str], Tariff]:
    """The shipped tariff (data/freight_rates.csv): EUR per chargeable kg and a minimum per shipment."""
    with (DATA / "freight_rates.csv").open(newline="") as f:
        return {
            (row["mode"], row["zone"]): Tariff(Decimal(row["rate_per_kg_eur"]), Decimal(row["minimum_charge_eur"]))
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
    rates: Mapping[tuple[str, str], Tariff] | None = None,
    zones: Mapping[str, str] | None = None,
) -> FreightPrice:
    """Chargeable weight = max(actual, volumetric); price = max(weight × rate, minimum charge)."""
    if weight_kg <= 0:
        raise Invalid("weight_kg must be greater than 0", field="weight_kg")
    if volume_m3 < 0:
        raise Invalid("volume_m3 must not be negative", field="volume_m3")
    zone = freight_zone(origin_country, destination_country, zones)
    tariff = (rates if rates is not None else rate_table()).get((mode, zone))
    if tariff is None:
        raise Invalid(f"{mode} freight is not offered to zone {zone}", field="mode", zone=zone)
    actual = weight_kg.quantize(KG, rounding=ROUND_HALF_UP)
    volumetric = volumetric_weight_kg(mode, volume_m3)
    chargeable = max(actual, volumetric)
    price = round_money(max(chargeable * tariff.rate_per_kg, tariff.minimum_charge), TARIFF_CURRENCY)
    return FreightPrice(mode, zone, actual, volumetric, chargeable, tariff, price)


def transport_mode(incoterm: str | None, zone: str, quoted: str | None = None) -> str:
    """Sea-only Incoterms go by sea; else the quoted mode; else road at home and in the EU, air beyond."""
    if (incoterm or "").upper() in SEA_ONLY_INCOTERMS:
        return "sea"
    if quoted in CARRIERS:
        return quoted
    return "road" if zone in NEAR_ZONES else "air"


def carrier_for(mode: str) -> str:
    return CARRIERS[mode][0]


def new_tracking_number(mode: str) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return CARRIERS[mode][1] + "".join(secrets.choice(alphabet) for _ in range(12))


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
