"""Finance rules without I/O: VAT, DDP duty and import VAT, invoice figures, numbering, payments."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from stdnum.eu import vat as eu_vat

from hanse.errors import Conflict, Invalid
from hanse.money import Money, round_money
from hanse.validators import check_minor_unit, is_country, positive_amount
from services.sales.contract import OrderTerms

DATA = Path(__file__).parent.parent / "data"
SERIES = {"proforma": "PF", "commercial": "INV", "credit_note": "CN"}
ZERO = Decimal(0)


# -- rate tables ---------------------------------------------------------------------------------------


def _load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


_VAT = _load("vat_rates.json")
_DUTY = _load("duty_rates.json")

EU_VAT_RATES: dict[str, Decimal] = {c: Decimal(r) for c, r in _VAT["eu_standard"].items()}
NON_EU_VAT_RATES: dict[str, Decimal] = {c: Decimal(r) for c, r in _VAT["non_eu_standard"].items()}
NON_EU_DEFAULT_VAT = Decimal(_VAT["non_eu_default"])
EU_MEMBERS = frozenset(EU_VAT_RATES)
DEFAULT_DUTY = Decimal(_DUTY["default"])
DUTY_RATES: dict[str, tuple[Decimal, dict[str, Decimal]]] = {
    dest: (Decimal(entry["default"]), {ch: Decimal(r) for ch, r in entry["chapters"].items()})
    for dest, entry in _DUTY["destinations"].items()
}


def is_eu(country: str) -> bool:
    return country.upper() in EU_MEMBERS


def standard_vat_rate(country: str) -> Decimal:
    """The standard VAT/GST rate of a country: EU table, the non-EU table, else the default."""
    country = country.upper()
    if country in EU_VAT_RATES:
        return EU_VAT_RATES[country]
    return NON_EU_VAT_RATES.get(country, NON_EU_DEFAULT_VAT)


def duty_rate(destination: str, hs_code: str) -> Decimal:
    """Import duty rate for goods of `hs_code` (its chapter: the first two digits) entering `destination`."""
    destination = destination.upper()
    key = "EU" if destination in EU_MEMBERS else destination
    if key not in DUTY_RATES:
        return DEFAULT_DUTY
    default, chapters = DUTY_RATES[key]
    return chapters.get(hs_code.strip()[:2], default)


# -- VAT -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VatDecision:
    treatment: str  # domestic | reverse_charge | eu_b2c_destination | export_zero_rated
    rate: Decimal
    note: str | None = None


def vat_id_country(vat_id: str) -> str:
    prefix = eu_vat.compact(vat_id)[:2].upper()
    return "GR" if prefix == "EL" else prefix


def usable_vat_id(vat_id: str | None, vat_id_valid: bool, seller_country: str) -> bool:
    """Reverse charge needs a VAT id sales validated, that is well-formed, of another EU member."""
    if not vat_id or not vat_id_valid:
        return False
    try:
        if not eu_vat.is_valid(vat_id):
            return False
        country = vat_id_country(vat_id)
    except Exception:  # stdnum raises on odd input; an odd id is simply not usable
        return False
    return country in EU_MEMBERS and country != seller_country.upper()


def decide_vat(
    seller_country: str,
    buyer_country: str,
    destination_country: str,
    vat_id: str | None = None,
    vat_id_valid: bool = False,
) -> VatDecision:
    """Which VAT applies to a sale of goods (PRODUCT.md): domestic, reverse charge, B2C destination, export.

    The destination (where the goods go) decides whether it is an export: goods leaving the EU
    are zero-rated whoever the buyer is; goods staying in the seller's country are a domestic sale.
    """
    seller, buyer, dest = seller_country.upper(), buyer_country.upper(), destination_country.upper()
    home = VatDecision("domestic", standard_vat_rate(seller))
    if not is_eu(seller):
        # A seller outside the EU: its own VAT at home, everything else leaves the country.
        if dest == seller:
            return home
        return VatDecision("export_zero_rated", ZERO, f"Zero-rated export from {seller} to {dest}.")
    if not is_eu(dest):
        return VatDecision(
            "export_zero_rated",
            ZERO,
            f"Zero-rated export of goods to {dest} (Art. 146 Directive 2006/112/EC).",
        )
    if dest == seller or buyer == seller:
        return home
    if is_eu(buyer) and usable_vat_id(vat_id, vat_id_valid, seller):
        return VatDecision(
            "reverse_charge",
            ZERO,
            f"Reverse charge: VAT to be accounted for by the recipient, VAT id {eu_vat.compact(vat_id or '')} "
            "(Art. 196 Directive 2006/112/EC).",
        )
    rate = standard_vat_rate(dest)
    return VatDecision(
        "eu_b2c_destination", rate, f"VAT at the standard rate of {dest} ({(rate * 100).normalize():f} %)."
    )


# -- import charges (DDP) and the invoice figures --------------------------------------------------


def crosses_customs_border(seller_country: str, destination_country: str) -> bool:
    """Goods pay import duty and import VAT unless they stay home or move inside the EU customs union."""
    seller, dest = seller_country.upper(), destination_country.upper()
    return seller != dest and not (is_eu(seller) and is_eu(dest))


@dataclass(frozen=True)
class ImportCharges:
    customs_value: Decimal
    customs_duty: Decimal
    import_vat_rate: Decimal
    import_vat: Decimal
    line_duty_rates: tuple[Decimal, ...]

    @property
    def total(self) -> Decimal:
        return self.customs_duty + self.import_vat


def import_charges(order: OrderTerms, seller_country: str) -> ImportCharges | None:
    """Duty and import VAT the seller bears under DDP, or None when there are none to bear.

    Customs value = goods + freight + insurance; freight and insurance are apportioned to the
    lines by value, so each line pays the duty rate of its own HS chapter.
    """
    if order.incoterm.upper() != "DDP" or not crosses_customs_border(seller_country, order.destination_country):
        return None
    cur = order.currency.upper()
    dest = order.destination_country
    customs_value = order.total.amount
    amounts = [line.amount for line in order.lines]
    goods = sum(amounts, ZERO)
    rates = tuple(duty_rate(dest, line.hs_code) for line in order.lines)
    if goods > 0:
        duty = sum((rate * customs_value * amount / goods for rate, amount in zip(rates, amounts, strict=True)), ZERO)
    else:
        duty = duty_rate(dest, "") * customs_value
    customs_duty = round_money(duty, cur)
    import_vat_rate = standard_vat_rate(dest)
    import_vat = round_money((customs_value + customs_duty) * import_vat_rate, cur)
    return ImportCharges(customs_value, customs_duty, import_vat_rate, import_vat, rates)


@dataclass(frozen=True)
class InvoiceFigures:
    currency: str
    goods: Decimal
    freight: Decimal
    insurance: Decimal
    subtotal: Decimal
    vat: VatDecision
    tax: Decimal
    imports: ImportCharges | None
    duty: Decimal
    total: Decimal
    lines: list[dict[str, Any]]


def price_invoice(order: OrderTerms, seller_country: str) -> InvoiceFigures:
    """The invoice of an order: subtotal (goods + freight + insurance), tax, duty, total, per currency."""
    cur = order.currency.upper()
    moneys = {"total": order.total, "subtotal": order.subtotal, "freight": order.freight, "insurance": order.insurance}
    for name, money in moneys.items():
        if money is not None and money.currency != cur:
            raise ValueError(f"order {name} is in {money.currency}, the order in {order.currency}")
    for name, country in (("buyer_country", order.buyer_country), ("destination_country", order.destination_country)):
        if not is_country(country.upper()):
            raise ValueError(f"{name} {country!r} is not an ISO 3166 alpha-2 code")
    freight = round_money(order.freight.amount, cur) if order.freight else ZERO
    insurance = round_money(order.insurance.amount, cur) if order.insurance else ZERO
    subtotal = round_money(order.total.amount, cur)
    vat = decide_vat(seller_country, order.buyer_country, order.destination_country, order.vat_id, order.vat_id_valid)
    tax = round_money(subtotal * vat.rate, cur)
    imports = import_charges(order, seller_country)
    duty = imports.total if imports else ZERO
    lines = [
        {
            "sku": line.sku,
            "name": line.name,
            "quantity": line.quantity,
            "unit_price": str(line.unit_price),
            "amount": str(round_money(line.amount, cur)),
            "hs_code": line.hs_code,
            "origin_country": line.origin_country,
        }
        for line in order.lines
    ]
    return InvoiceFigures(
        currency=cur,
        goods=round_money(order.subtotal.amount, cur),
        freight=freight,
        insurance=insurance,
        subtotal=subtotal,
        vat=vat,
        tax=tax,
        imports=imports,
        duty=duty,
        total=subtotal + tax + duty,
        lines=lines,
    )


def credit_note_figures(
    subtotal: Decimal, tax: Decimal, duty: Decimal, total: Decimal, refund: Decimal, currency: str
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """Negative (subtotal, tax, duty, total) crediting `refund` of an invoice, split in its proportions.

    A fully paid invoice is credited exactly; a part payment is split pro rata, the tax taking
    the rounding so the parts always add up to the refund.
    """
    if total <= 0 or refund <= 0:
        return ZERO, ZERO, ZERO, ZERO
    if refund >= total:
        return -subtotal, -tax, -duty, -total
    share_subtotal = round_money(subtotal * refund / total, currency)
    share_duty = round_money(duty * refund / total, currency)
    share_tax = refund - share_subtotal - share_duty
    return -share_subtotal, -share_tax, -share_duty, -refund


def due_date(issued_on: date, payment_terms: str) -> date:
    """prepaid: due on issue; net_30: thirty days later."""
    if payment_terms == "net_30":
        return issued_on + timedelta(days=30)
    return issued_on


def format_number(series: str, year: int, sequence: int) -> str:
    return f"{series}-{year}-{sequence:06d}"


def open_amount(kind: str, status: str, total: Decimal, paid: Decimal, superseded_by: str | None = None) -> Decimal:
    """What is still to be collected; a credit note's (negative) total is what is owed to the buyer.

    A proforma superseded by its commercial invoice is open no more: the commercial one collects.
    """
    if status != "issued" or superseded_by is not None:
        return ZERO
    if kind == "credit_note":
        return total
    return total - paid


def check_payment(
    kind: str, status: str, currency: str, open_now: Decimal, amount: Money, superseded_by: str | None = None
) -> None:
    """A payment must be in the invoice currency, positive, in minor units, and no more than is open."""
    if superseded_by is not None:
        raise Conflict(
            "the proforma was superseded by its commercial invoice: pay that one",
            field="invoice_id",
            superseded_by_id=superseded_by,
        )
    if kind == "credit_note":
        raise Conflict("a credit note is refunded to the buyer, not paid", field="invoice_id")
    if status != "issued":
        raise Conflict(f"the invoice is {status} and takes no payments", field="invoice_id", status_now=status)
    if amount.currency != currency:
        raise Invalid(f"the invoice is in {currency}, the payment in {amount.currency}", field="amount.currency")
    if amount.amount > open_now:
        raise Invalid(f"{amount.amount} is more than the open amount {open_now} {currency}", field="amount.amount")


def check_amount(amount: Money) -> None:
    """Input rules needing no database: the kernel's money rules, reported on `amount.amount`."""
    try:
        positive_amount(amount.amount)
        check_minor_unit(amount.amount, amount.currency)
    except ValueError as exc:
        raise Invalid(str(exc), field="amount.amount") from None


# -- the ledger: chart of accounts and balanced entries in the base currency ------------------------


@dataclass(frozen=True)
class Account:
    account: str
    name: str
    type: str  # asset, liability, income, expense


CHART: dict[str, Account] = {a["account"]: Account(**a) for a in _load("chart_of_accounts.json")["accounts"]}
BANK, RECEIVABLES, INPUT_VAT, PAYABLES = "1200", "1400", "1570", "1600"
OUTPUT_VAT, IMPORT_DUTY, FX_LOSSES, FX_GAINS = "1776", "1780", "2150", "2660"
PURCHASES, REVENUE = "3400", "8400"


def check_account(account: str | None, field: str = "query.account") -> None:
    """An account filter must name an account of the chart (422 naming the field otherwise)."""
    if account is not None and account not in CHART:
        raise Invalid(f"{account!r} is not an account of the chart", field=field)


def in_base(
    amounts: dict[str, Decimal], rate: Decimal | None, base: str, fixed: dict[str, Decimal] | None = None
) -> dict[str, Decimal]:
    """Signed document-currency amounts (debit > 0, credit < 0) as base-currency amounts that balance.

    `fixed` accounts take the base amounts given (receivables at the figure stored on the
    document); every other line is converted at `rate` and rounded, and the largest of them
    takes the rounding so the entry sums to zero exactly.
    """
    fixed = fixed or {}
    out = dict(fixed)
    free = [a for a, v in amounts.items() if a not in fixed and v != 0]
    for account in free:
        value = amounts[account] if rate is None else amounts[account] * rate
        out[account] = round_money(value, base)
    residual = -sum(out.values(), ZERO)
    if residual:
        if not free:
            raise ValueError(f"an entry of {amounts} does not balance by {residual}")
        largest = max(free, key=lambda a: abs(out[a]))
        out[largest] += residual
    return {a: v for a, v in out.items() if v != 0}


def invoice_amounts(subtotal: Decimal, tax: Decimal, duty: Decimal, total: Decimal) -> dict[str, Decimal]:
    """Invoice (or, with negative figures, credit note): receivables against revenue, VAT and duty."""
    return {RECEIVABLES: total, REVENUE: -subtotal, OUTPUT_VAT: -tax, IMPORT_DUTY: -duty}


def payment_amounts(bank_base: Decimal, receivable_base: Decimal) -> dict[str, Decimal]:
    """Money in the bank at the day's rate against the receivable at the invoice's: the gap is FX."""
    gap = bank_base - receivable_base
    amounts = {BANK: bank_base, RECEIVABLES: -receivable_base}
    if gap > 0:
        amounts[FX_GAINS] = -gap
    elif gap < 0:
        amounts[FX_LOSSES] = -gap
    return {a: v for a, v in amounts.items() if v != 0}


def fx_difference(account: str, amount: Decimal) -> dict[str, Decimal]:
    """Revalue `account` by `amount` (signed, base currency) against FX gains or losses."""
    if amount == 0:
        return {}
    return {account: amount, (FX_GAINS if amount < 0 else FX_LOSSES): -amount}


def receivable_share(
    total_base: Decimal, paid_before: Decimal, paid_after: Decimal, total: Decimal, base: str
) -> Decimal:
    """What a payment takes off receivables in base currency: the paid share of the stored total_base.

    Rounded cumulatively, so the payment that settles the invoice takes exactly what is left.
    """
    if not total:
        return ZERO
    return round_money(total_base * paid_after / total, base) - round_money(total_base * paid_before / total, base)


def debit_credit(value: Decimal) -> tuple[Decimal, Decimal]:
    return (value, ZERO) if value > 0 else (ZERO, -value)


def returned_lines(invoiced: list[dict[str, Any]], returned: dict[str, int], currency: str) -> list[dict[str, Any]]:
    """The invoice lines that came back, at the invoiced unit price, never more than was invoiced."""
    out = []
    for line in invoiced:
        quantity = min(returned.get(line["sku"], 0), int(line["quantity"]))
        if quantity <= 0:
            continue
        unit = Decimal(line["unit_price"])
        out.append({**line, "quantity": quantity, "amount": str(round_money(unit * quantity, currency))})
    return out


MAX_RANGE_DAYS = 5 * 366  # a report or export over more than five years is refused


def check_range(start: date | None, end: date | None, *, limit_years: bool = True) -> None:
    """`from` must not be after `to`, and a range may span five years at most (422 naming the field)."""
    if start is not None and end is not None:
        if start > end:
            raise Invalid(f"from {start} is after to {end}", field="query.from")
        if limit_years and (end - start).days > MAX_RANGE_DAYS:
            raise Invalid("a range may span five years at most", field="query.to")


AGING_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


def aging_bucket(due: date, at: date) -> str:
    """Days past due on `at`: not yet due is current, then 1-30, 31-60, 61-90, over 90."""
    days = (at - due).days
    if days <= 0:
        return "current"
    if days <= 30:
        return "1-30"
    if days <= 60:
        return "31-60"
    if days <= 90:
        return "61-90"
    return "90+"


def week_start(day: date) -> date:
    """The Monday of the ISO week of `day`."""
    return day - timedelta(days=day.weekday())


def open_share(total_base: Decimal, total: Decimal, open_now: Decimal, base: str) -> Decimal:
    """The open part of a document in the base currency, at the rate stored on it."""
    if not total:
        return ZERO
    return round_money(total_base * open_now / total, base)


def check_lc_dates(expiry: date, latest_shipment: date, today: date) -> None:
    """An L/C must still be valid, and the goods must ship before it expires."""
    if expiry < today:
        raise Invalid(f"expiry_date {expiry} is in the past", field="expiry_date")
    if latest_shipment > expiry:
        raise Invalid(
            f"latest_shipment_date {latest_shipment} is after expiry_date {expiry}", field="latest_shipment_date"
        )


@dataclass(frozen=True)
class BillVat:
    treatment: str  # domestic | reverse_charge | import
    tax: Decimal  # input VAT on the bill
    payable: Decimal  # what the supplier is owed


def bill_vat(net: Decimal, supplier_country: str | None, seller_country: str, currency: str) -> BillVat:
    """Input VAT of a purchase of goods by the supplier's country (unknown: treated as domestic).

    Domestic: the supplier charges home VAT, deductible. From another EU member: an intra-EU
    acquisition, VAT self-assessed (input and output VAT alike, nothing to the supplier). From
    outside the EU: the import VAT is paid to customs at import, not on the bill.
    """
    seller = seller_country.upper()
    country = (supplier_country or seller).upper()
    rate = standard_vat_rate(seller)
    if country == seller:
        tax = round_money(net * rate, currency)
        return BillVat("domestic", tax, net + tax)
    if is_eu(country) and is_eu(seller):
        return BillVat("reverse_charge", round_money(net * rate, currency), net)
    return BillVat("import", ZERO, net)


def bill_entry(net: Decimal, vat: BillVat) -> dict[str, Decimal]:
    """Purchases and input VAT against payables; a reverse charge also owes the VAT as output VAT."""
    amounts = {PURCHASES: net, INPUT_VAT: vat.tax, PAYABLES: -vat.payable}
    if vat.treatment == "reverse_charge":
        amounts[OUTPUT_VAT] = -vat.tax
    return amounts


MAX_AMOUNT = Decimal("1e12")  # far above any trade deal, far below what a Numeric(18, 4) column holds


def check_not_huge(amount: Money, field: str = "amount.amount") -> None:
    if amount.amount >= MAX_AMOUNT:
        raise Invalid(f"{amount.amount} is beyond any plausible amount", field=field)


def bill_payment_amounts(payable_base: Decimal, bank_base: Decimal) -> dict[str, Decimal]:
    """Paying a supplier: payables cleared at the bill's figure, the bank at the day's rate, the gap FX."""
    gap = payable_base - bank_base  # paid less (in base) than owed: a gain
    amounts = {PAYABLES: payable_base, BANK: -bank_base}
    if gap > 0:
        amounts[FX_GAINS] = -gap
    elif gap < 0:
        amounts[FX_LOSSES] = -gap
    return amounts
