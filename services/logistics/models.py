"""Tables of the logistics service (its own database) and their API schemas, each set of fields written once."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PydanticField
from sqlalchemy import JSON, BigInteger, CheckConstraint, Numeric, UniqueConstraint
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
ReturnStatus = Literal["requested", "authorized", "received", "inspected"]
CARRIER_ID = r"^[a-z0-9][a-z0-9-]{0,31}$"
CarrierId = Annotated[str, StringConstraints(pattern=CARRIER_ID)]


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
    __table_args__ = (UniqueConstraint("reference", name="uq_stock_receipt_reference"),)

    # What the units came from when not typed in: "inspection:<id>:<sku>" for procurement's
    # accepted goods, unique so the same inspection never puts units on hand twice.
    reference: str | None = Field(default=None, max_length=120)


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
    # From the order terms (issue 14): customs data, the documents' language, the named carrier,
    # the consignee's contact (erased on request), the total an L/C must cover.
    named_place: str | None = Field(default=None, max_length=200)
    currency: str | None = Field(default=None, max_length=3)
    total_amount: Decimal | None = Field(default=None, sa_type=Numeric(18, 2))
    language: str | None = Field(default=None, max_length=16)
    quoted_carrier: str | None = Field(default=None, max_length=32)
    consignee: str | None = Field(default=None, max_length=200)
    consignee_email: str | None = Field(default=None, max_length=320, index=True)
    consignee_country: str | None = Field(default=None, max_length=2)
    # Compliance holds an order (also after clearance: re-screening, export control); a held order
    # is never dispatched. A later order.cleared lifts the hold.
    held: bool = False
    held_reasons: str | None = Field(default=None, max_length=500)
    # Why a reserved order is not booked (an L/C missing, too small or past its dates).
    booking_blocked: str | None = Field(default=None, max_length=300)


class CustomsLine(Model, table=True):
    """A goods line of an order as customs declare it: from the catalogue through the order terms."""

    __tablename__ = "customs_line"
    __table_args__ = (UniqueConstraint("order_id", "sku", name="uq_customs_line"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(max_length=64, index=True)
    sku: str = Field(max_length=64)
    description: str = Field(max_length=200)
    hs_code: str = Field(max_length=16)
    origin_country: str = Field(max_length=2)
    quantity: int = Field(sa_type=BigInteger)
    unit_price: Decimal = Field(sa_type=Numeric(18, 4))
    unit_weight_kg: Decimal = Field(sa_type=Numeric(18, 3))


class RequiredDocument(Model, table=True):
    """A document compliance requires for an order's shipment (the latest list replaces the former)."""

    __tablename__ = "required_document"
    __table_args__ = (UniqueConstraint("order_id", "kind", name="uq_required_document"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=32)
    reason: str = Field(max_length=500)


class CommercialInvoice(Model, table=True):
    """Finance's commercial invoice of an order, as its event carried it (printed into the pack)."""

    __tablename__ = "commercial_invoice"

    invoice_id: str = Field(primary_key=True, max_length=64)
    order_id: str = Field(max_length=64, index=True)
    number: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    subtotal: Decimal = Field(sa_type=Numeric(18, 2))
    tax: Decimal = Field(sa_type=Numeric(18, 2))
    duty: Decimal = Field(sa_type=Numeric(18, 2))
    total: Decimal = Field(sa_type=Numeric(18, 2))
    vat_note: str | None = Field(default=None, max_length=500)
    issue_date: date | None = None
    incoterm: str | None = Field(default=None, max_length=8)
    named_place: str | None = Field(default=None, max_length=200)
    lines: list = Field(default_factory=list, sa_type=JSON)
    received_at: datetime = Field(sa_type=UTCDateTime)


class ExportLicence(Model, table=True):
    __tablename__ = "export_licence"

    licence_id: str = Field(primary_key=True, max_length=64)
    order_id: str = Field(max_length=64, index=True)
    number: str = Field(max_length=100)
    authority: str = Field(max_length=200)
    valid_until: date


class LetterOfCredit(Model, table=True):
    __tablename__ = "letter_of_credit"

    id: str = Field(primary_key=True, max_length=64)
    order_id: str = Field(max_length=64, index=True)
    issuing_bank: str = Field(max_length=200)
    amount: Decimal = Field(sa_type=Numeric(18, 2))
    currency: str = Field(max_length=3)
    expiry_date: date
    latest_shipment_date: date


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


class ReturnSummary(BaseModel):
    id: str
    rma_number: str
    status: str


class FulfilmentPublic(FulfilmentBase):
    lines: list[WantedLine]
    reserved: list[ReservedLine]
    shipment_id: str | None
    held: bool = False
    booking_blocked: str | None = None
    returns: list[ReturnSummary] = []
    returned: bool = False


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


class PackageDimensions(BaseModel):
    length_cm: int
    width_cm: int
    height_cm: int


class Packages(BaseModel):
    count: int
    type: str
    dimensions: PackageDimensions
    weight_kg: DecimalStr  # gross weight of all packages, packaging included


class CustomsLinePublic(BaseModel):
    sku: str
    description: str
    hs_code: str
    origin_country: str
    quantity: int
    net_weight_kg: DecimalStr
    gross_weight_kg: DecimalStr
    value: Money


class Customs(BaseModel):
    lines: list[CustomsLinePublic]
    total_value: Money | None
    incoterm: str | None
    named_place: str | None


class ShipmentPublic(ShipmentBase):
    carrier_name: str | None = None
    milestones: list[MilestonePublic] = []
    customs: Customs | None = None
    packages: Packages | None = None


class DocumentPublic(BaseModel):
    kind: str
    reason: str
    url: str
    exists: bool  # available: stored, or producible now from the data logistics holds
    stored: bool  # the PDF was produced (and is served as stored ever after)
    missing: str | None = None  # what is lacking while it cannot be produced


class CarrierEventCreate(_Body):
    tracking_number: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    status: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    location: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    at: AwareDatetime


class CarrierEventAccepted(BaseModel):
    shipment_id: str
    milestone: str
    applied: bool  # False: a duplicate or an older event, which changes nothing
    shipment_status: ShipmentStatus


# -- returns ---------------------------------------------------------------------------------------


class ReturnBase(Model):
    id: str = Field(primary_key=True, max_length=36)
    rma_number: str = Field(max_length=32, unique=True)
    order_id: str = Field(max_length=64, index=True)
    status: ReturnStatus = Field(sa_type=AutoString(length=16))
    reason: str = Field(max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime)
    authorized_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    received_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    inspected_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ReturnRequest(ReturnBase, table=True):
    __tablename__ = "return_request"


class ReturnItem(Model, table=True):
    __tablename__ = "return_item"
    __table_args__ = (UniqueConstraint("return_id", "sku", name="uq_return_item"),)

    id: int | None = Field(default=None, primary_key=True)
    return_id: str = Field(max_length=36, index=True)
    sku: str = Field(max_length=64)
    quantity: int = Field(sa_type=BigInteger)  # asked to return
    received: int = Field(default=0, sa_type=BigInteger)
    restocked: int = Field(default=0, sa_type=BigInteger)
    scrapped: int = Field(default=0, sa_type=BigInteger)


class ReturnItemPublic(BaseModel):
    sku: str
    quantity: int
    received: int
    restocked: int
    scrapped: int


class ReturnPublic(ReturnBase):
    lines: list[ReturnItemPublic]


class ReturnLineCreate(_Body):
    sku: Sku
    quantity: Quantity


class ReturnCreate(_Body):
    order_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    lines: Annotated[list[ReturnLineCreate], PydanticField(min_length=1, max_length=200)]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class ReturnReceive(_Body):
    """Units that arrived per SKU; without lines, everything asked for arrived."""

    lines: Annotated[list[ReturnLineCreate], PydanticField(max_length=200)] | None = None


class InspectLine(_Body):
    sku: Sku
    restock: Annotated[int, PydanticField(strict=True, ge=0, le=MAX_RECEIPT_QUANTITY)] = 0
    scrap: Annotated[int, PydanticField(strict=True, ge=0, le=MAX_RECEIPT_QUANTITY)] = 0


class ReturnInspect(_Body):
    lines: Annotated[list[InspectLine], PydanticField(min_length=1, max_length=200)]


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
    carrier: CarrierId | None = None  # a carrier id; without it, the cheapest carrier for the mode


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
    carrier: str
    carrier_name: str
