"""Events the procurement department publishes (topic hanse.procurement)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from hanse.events import EventPayload
from hanse.money import DecimalStr, Money
from hanse.privacy import PrivacyAnswer


class SupplierRegistered(EventPayload, event_type="procurement.supplier.registered.v1", subject="supplier_id"):
    """A supplier was added (or its name or country changed): compliance screens it like a buyer."""

    supplier_id: str
    name: str
    country: str
    email: str
    currency: str
    vat_id: str | None = None
    payment_terms: str


class AcceptedLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    accepted: int
    rejected: int
    unit_price: DecimalStr  # in the purchase order's currency


class GoodsAccepted(EventPayload, event_type="procurement.goods.accepted.v1", subject="inspection_id"):
    """QC passed units of a receipt: logistics puts `accepted` on hand in `warehouse` (back-orders
    first); finance records a supplier bill for the accepted value, due by the payment terms."""

    inspection_id: str
    receipt_id: str
    purchase_order_id: str
    purchase_order_number: str
    supplier_id: str
    supplier_name: str
    warehouse: str
    currency: str
    lines: list[AcceptedLine]
    accepted_value: Money
    payment_terms: str
    due_date: date
    # Added (optional): what finance needs for input VAT and a base-currency ledger entry.
    supplier_country: str | None = None  # ISO 3166-1 alpha-2: domestic, intra-EU or import purchase
    supplier_vat_id: str | None = None
    incoterm: str | None = None
    accepted_value_base: Money | None = None  # at the ECB rate stored on the purchase order
    fx_rate: DecimalStr | None = None  # units of the base currency per unit of `currency`; None if the same
    fx_rate_date: date | None = None


class PrivacyAnswered(PrivacyAnswer, event_type="procurement.privacy_request.answered.v1"):
    """Procurement's answer: supplier contact addresses (purchase records are kept)."""
