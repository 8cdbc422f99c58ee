"""Tables of the logistics service (its own database) and their API schemas, each set of fields written once."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PydanticField
from sqlalchemy import BigInteger, CheckConstraint, Numeric, UniqueConstraint
from sqlmodel import AutoString, Field

from hanse.db import UTCDateTime, model_base
from hanse.money import DecimalStr, FxRate, Money
from hanse.validators import CountryCode, CurrencyCode
from services.logistics.contract import ReservedLine, TrackingStatus, TransportMode

Model = model_base("logistics")

SKU_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
WAREHOUSE_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
# One receipt or milestone is bounded so sums stay far from any integer overflow.
MAX_RECEIPT_QUANTITY = 1_000_000

FulfilmentStatus = Literal["pending", "reserved", "backordered", "dispatched", "cancelled", "rejected"]
ShipmentStatus = Literal["booked", "in_transit", "delivered", "cancelled"]


def _warehouse_code(value: str) -> str:
    code = value.strip().upper()
    if not WAREHOUSE_CODE.match(code):
        raise ValueError("code must be 1-32 characters of A-Z, 0-9, '_' or '-', starting with a letter or digit")
    return code


WarehouseCode = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_warehouse_code)]
Sku = Annotated[str, StringConstraints(pattern=SKU_PATTERN)]
Quantity = Annotated[int, PydanticField(strict=True, gt=0, le=MAX_RECEIPT_QUANTITY)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# -- warehouses ------------------------------------------------------------------------------------


class WarehouseBase(Model):
    id: str = Field(primary_key=True, max_length=36)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Warehouse(WarehouseBase, table=True):
    __tablename__ = "warehouse"


class WarehouseCreate(_Body):
    code: WarehouseCode
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    country: CountryCode


class WarehousePublic(WarehouseBase):
    pass


# -- stock -----------------------------------------------------------------------------------------


class StockLevel(Model, table=True):
    """Units of one SKU in one warehouse; `reserved` never exceeds `on_hand` (the database checks it)."""

    __tablename__ = "stock_level"
    __table_args__ = (
        UniqueConstraint("sku", "warehouse", name="uq_stock_level_sku_warehouse"),
        CheckConstraint("on_hand >= 0", name="ck_stock_level_on_hand"),
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="ck_stock_level_never_oversold"),
    )

    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(max_length=64, index=True)
    warehouse: str = Field(max_length=32)
    on_hand: int = Field(default=0, sa_type=BigInteger)
    reserved: int = Field(default=0, sa_type=BigInteger)


class ReceiptBase(Model):
    id: str = Field(primary_key=True, max_length=36)
    sku: str = Field(max_length=64, index=True)
    warehouse: str = Field(max_length=32)
    quantity: int
    received_at: datetime = Field(sa_type=UTCDateTime)


class StockReceipt(ReceiptBase, table=True):
    __tablename__ = "stock_receipt"


class ReceiptCreate(_Body):
    sku: Sku
    warehouse: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    quantity: Quantity


class ReceiptPublic(ReceiptBase):
    backorders_filled: list[str] = []


class StockCount(BaseModel):
    on_hand: int
    reserved: int
    available: int


class WarehouseStock(StockCount):
    warehouse: str


class StockPublic(StockCount):
    sku: str
    warehouses: list[WarehouseStock]


# -- fulfilment orders -----------------------------------------------------------------------------


class FulfilmentBase(Model):
    order_id: str = Field(primary_key=True, max_length=64)
    status: FulfilmentStatus = Field(sa_type=AutoString(length=16), index=True)
    payment_terms: str | None = Field(default=None, max_length=16)
    invoice_paid: bool = False
    # FCFS position of a back-order: the time it was recorded (ties broken by order id).
    backordered_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    reserved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_reason: str | None = Field(default=None, max_length=200)


class FulfilmentOrder(FulfilmentBase, table=True):
    """An order as logistics knows it: from clearance (or an earlier tombstone) to dispatch.

    A row may exist before clearance: `pending` when finance's payment came first, `cancelled`
    or `rejected` as a tombstone when the cancel or rejection overtook the clearance.
    """

    __tablename__ = "fulfilment_order"

    cleared: bool = False
    incoterm: str | None = Field(default=None, max_length=8)
    destination_country: str | None = Field(default=None, max_length=2)
    quoted_mode: str | None = Field(default=None, max_length=16)  # the mode sales priced freight for
    weight_kg: Decimal | None = Field(default=None, sa_type=Numeric(18, 3))
    cleared_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OrderLineWanted(Model, table=True):
    """What the order needs per SKU (lines of the same SKU summed)."""

    __tablename__ = "order_line_wanted"
    __table_args__ = (UniqueConstraint("order_id", "sku", name="uq_order_line_wanted"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(max_length=64, index=True)
    sku: str = Field(max_length=64, index=True)
    quantity: int = Field(sa_type=BigInteger)


class Reservation(Model, table=True):
    """Units held for an order in one warehouse; they count while the order is `reserved`."""

    __tablename__ = "reservation"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(max_length=64, index=True)
    sku: str = Field(max_length=64)
    warehouse: str = Field(max_length=32)
    quantity: int = Field(sa_type=BigInteger)


class WantedLine(BaseModel):
    sku: str
    quantity: int


class FulfilmentPublic(FulfilmentBase):
    lines: list[WantedLine]
    reserved: list[ReservedLine]
    shipment_id: str | None


# -- shipments and tracking ------------------------------------------------------------------------


class MilestoneBase(Model):
    id: str = Field(primary_key=True, max_length=36)
    status: TrackingStatus = Field(sa_type=AutoString(length=24))
    location: str | None = Field(default=None, max_length=200)
    at: datetime = Field(sa_type=UTCDateTime)


class TrackingMilestone(MilestoneBase, table=True):
    __tablename__ = "tracking_milestone"

    shipment_id: str = Field(max_length=36, index=True)
    recorded_at: datetime = Field(sa_type=UTCDateTime)


class TrackingCreate(_Body):
    status: TrackingStatus
    location: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    at: AwareDatetime | None = None


class MilestonePublic(MilestoneBase):
    pass


class TrackingPublic(MilestoneBase):
    shipment_id: str
    shipment_status: ShipmentStatus


class ShipmentBase(Model):
    id: str = Field(primary_key=True, max_length=36)
    order_id: str = Field(max_length=64, unique=True)  # book exactly once per order
    status: ShipmentStatus = Field(sa_type=AutoString(length=16))
    carrier: str = Field(max_length=64)
    mode: TransportMode = Field(sa_type=AutoString(length=8))
    tracking_number: str = Field(max_length=32, unique=True)
    destination_country: str | None = Field(default=None, max_length=2)
    weight_kg: DecimalStr | None = Field(default=None, sa_type=Numeric(18, 3))
    booked_at: datetime = Field(sa_type=UTCDateTime)
    dispatched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Shipment(ShipmentBase, table=True):
    __tablename__ = "shipment"


class ShipmentPublic(ShipmentBase):
    milestones: list[MilestonePublic] = []


# -- freight ---------------------------------------------------------------------------------------

# Weights and volumes are measurements, not money: JSON numbers are accepted (as their decimal text).
Measure = Annotated[Decimal, PydanticField(allow_inf_nan=False, max_digits=18, decimal_places=6)]


class RateRequest(_Body):
    destination_country: CountryCode
    mode: TransportMode
    weight_kg: Annotated[Measure, PydanticField(gt=0, le=1_000_000)]
    volume_m3: Annotated[Measure, PydanticField(ge=0, le=100_000)] = Decimal(0)
    origin_country: CountryCode | None = None
    currency: CurrencyCode | None = None


class RateQuotePublic(BaseModel):
    mode: TransportMode
    zone: str
    origin_country: str
    destination_country: str
    actual_weight_kg: DecimalStr
    volumetric_weight_kg: DecimalStr
    chargeable_weight_kg: DecimalStr
    price: Money
    currency: str
    rate_per_kg: Money
    minimum_charge: Money
    fx: FxRate | None = None
