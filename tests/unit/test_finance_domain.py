"""Finance rules without I/O: VAT treatment, DDP duty and import VAT, rounding, credit notes, payments."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from hanse.errors import Conflict, Invalid
from hanse.ids import new_id
from hanse.money import Money
from services.finance.domain import rules
from services.sales.contract import OrderLine, OrderTerms

D = Decimal


def line(sku: str = "WID-1", quantity: int = 10, unit_price: str = "100.00", hs_code: str = "847130") -> OrderLine:
    return OrderLine(
        sku=sku,
        name=f"Product {sku}",
        quantity=quantity,
        unit_price=D(unit_price),
        hs_code=hs_code,
        origin_country="DE",
        unit_weight_kg=D("1.5"),
    )


def order(
    *,
    buyer: str = "DE",
    dest: str | None = None,
    currency: str = "EUR",
    incoterm: str = "DAP",
    vat_id: str | None = None,
    vat_id_valid: bool = False,
    lines: list[OrderLine] | None = None,
    freight: str | None = "50.00",
    insurance: str | None = None,
) -> OrderTerms:
    lines = lines or [line()]
    goods = sum((ln.amount for ln in lines), D(0))
    extra = D(freight or 0) + D(insurance or 0)
    return OrderTerms(
        order_id="ord_1",
        quote_id="quo_1",
        account_id="acc_1",
        company="Acme",
        email="buyer@example.com",
        buyer_country=buyer,
        vat_id=vat_id,
        vat_id_valid=vat_id_valid,
        destination_country=dest or buyer,
        incoterm=incoterm,
        named_place="Somewhere",
        currency=currency,
        payment_terms="prepaid",
        lines=lines,
        freight=Money.of(freight, currency) if freight else None,
        insurance=Money.of(insurance, currency) if insurance else None,
        subtotal=Money.of(goods, currency),
        total=Money.of(goods + extra, currency),
        placed_at=datetime(2026, 3, 1, tzinfo=UTC),
    )


# -- the rate tables ------------------------------------------------------------------------------------


def test_eu_table_has_all_27_members_with_current_standard_rates():
    members = {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"}
    members |= {"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"}
    assert set(rules.EU_VAT_RATES) == members
    assert all(isinstance(r, Decimal) and D("0.17") <= r <= D("0.27") for r in rules.EU_VAT_RATES.values())
    assert rules.EU_VAT_RATES["DE"] == D("0.19")
    assert rules.EU_VAT_RATES["FR"] == D("0.20")
    assert rules.EU_VAT_RATES["HU"] == D("0.27")
    assert rules.EU_VAT_RATES["FI"] == D("0.255")
    assert not rules.is_eu("GB") and not rules.is_eu("CH") and rules.is_eu("fr")


def test_standard_rate_falls_back_to_the_non_eu_table_then_the_default():
    assert rules.standard_vat_rate("GB") == D("0.20")
    assert rules.standard_vat_rate("US") == D("0")
    assert rules.standard_vat_rate("BR") == rules.NON_EU_DEFAULT_VAT


def test_duty_rate_by_destination_and_hs_chapter_with_defaults():
    assert rules.duty_rate("US", "847130") == D("0.015")
    assert rules.duty_rate("US", "991234") == D("0.035")  # chapter not listed: the destination default
    assert rules.duty_rate("FR", "610910") == D("0.12")  # EU members share the common tariff
    assert rules.duty_rate("BR", "847130") == rules.DEFAULT_DUTY


# -- VAT treatment --------------------------------------------------------------------------------------


def test_domestic_sale_pays_the_home_standard_rate():
    figures = rules.price_invoice(order(buyer="DE"), "DE")
    assert figures.vat.treatment == "domestic"
    assert figures.vat.rate == D("0.19")
    assert figures.subtotal == D("1050.00")  # goods + freight
    assert figures.tax == D("199.50")
    assert figures.duty == 0
    assert figures.total == D("1249.50")


def test_eu_business_with_a_valid_vat_id_is_reverse_charged():
    figures = rules.price_invoice(order(buyer="FR", vat_id="FR40303265045", vat_id_valid=True), "DE")
    assert figures.vat.treatment == "reverse_charge"
    assert figures.vat.rate == 0
    assert figures.tax == 0
    assert "reverse charge" in (figures.vat.note or "").lower()
    assert "FR40303265045" in (figures.vat.note or "")
    assert figures.total == D("1050.00")


def test_greek_vat_ids_with_the_el_prefix_count_as_eu():
    decision = rules.decide_vat("DE", "GR", "GR", "EL094259216", True)
    assert decision.treatment == "reverse_charge"


@pytest.mark.parametrize(
    ("vat_id", "valid", "why"),
    [
        (None, False, "no VAT id"),
        ("FR40303265045", False, "sales could not validate it"),
        ("FR00000000000", True, "checksum fails on re-validation"),
        ("DE136695976", True, "an id of the seller's own country"),
        ("not a vat id", True, "garbage"),
    ],
)
def test_eu_buyer_without_a_usable_vat_id_pays_the_destination_rate(vat_id, valid, why):
    figures = rules.price_invoice(order(buyer="FR", vat_id=vat_id, vat_id_valid=valid), "DE")
    assert figures.vat.treatment == "eu_b2c_destination", why
    assert figures.vat.rate == D("0.20")
    assert figures.tax == D("210.00")


def test_export_outside_the_eu_is_zero_rated():
    figures = rules.price_invoice(order(buyer="US", currency="USD"), "DE")
    assert figures.vat.treatment == "export_zero_rated"
    assert figures.vat.rate == 0 and figures.tax == 0 and figures.duty == 0
    assert figures.total == D("1050.00")
    assert "export" in (figures.vat.note or "").lower()


def test_the_destination_decides_whether_goods_are_exported():
    # A German buyer shipping to the US: the goods leave the EU.
    assert rules.decide_vat("DE", "DE", "US").treatment == "export_zero_rated"
    # A French business with goods staying in Germany: a domestic supply.
    assert rules.decide_vat("DE", "FR", "DE", "FR40303265045", True).treatment == "domestic"


def test_seller_outside_the_eu_charges_home_vat_at_home_and_zero_otherwise():
    assert rules.decide_vat("GB", "GB", "GB") == rules.VatDecision("domestic", D("0.20"))
    assert rules.decide_vat("GB", "FR", "FR").treatment == "export_zero_rated"


# -- DDP: duty and import VAT -----------------------------------------------------------------------------


def test_ddp_export_adds_duty_on_the_customs_value():
    figures = rules.price_invoice(order(buyer="US", currency="USD", incoterm="DDP"), "DE")
    imports = figures.imports
    assert imports is not None
    assert imports.customs_value == D("1050.00")  # goods 1000 + freight 50
    assert imports.customs_duty == D("15.75")  # chapter 84 into the US: 1.5 %
    assert imports.import_vat_rate == 0 and imports.import_vat == 0  # the US has no import VAT
    assert figures.tax == 0
    assert figures.duty == D("15.75")
    assert figures.total == D("1065.75")


def test_ddp_duty_per_hs_chapter_and_import_vat_on_value_plus_duty():
    lines = [line("TEE", 60, "10.00", "610910"), line("PSU", 20, "20.00", "850440")]
    figures = rules.price_invoice(
        order(buyer="GB", currency="GBP", incoterm="DDP", lines=lines, freight="100.00", insurance="20.00"), "DE"
    )
    imports = figures.imports
    assert imports is not None
    assert imports.customs_value == D("1120.00")
    # Freight and insurance apportioned by value: 60 % at 12 % (ch. 61), 40 % at 2 % (ch. 85).
    assert imports.customs_duty == D("89.60")
    assert imports.line_duty_rates == (D("0.12"), D("0.02"))
    assert imports.import_vat_rate == D("0.20")
    assert imports.import_vat == D("241.92")  # 20 % of (1120.00 + 89.60)
    assert figures.duty == D("331.52")
    assert figures.total == figures.subtotal + figures.tax + figures.duty == D("1451.52")


def test_ddp_inside_the_eu_has_no_import_charges():
    figures = rules.price_invoice(order(buyer="FR", incoterm="DDP"), "DE")
    assert figures.imports is None and figures.duty == 0
    assert figures.vat.treatment == "eu_b2c_destination"


def test_ddp_to_an_unlisted_country_uses_the_default_rates():
    figures = rules.price_invoice(order(buyer="BR", currency="USD", incoterm="DDP", freight=None), "DE")
    assert figures.imports is not None
    assert figures.imports.customs_duty == D("50.00")  # default 5 % of 1000
    assert figures.imports.import_vat == D("210.00")  # default 20 % of 1050


def test_non_ddp_terms_never_carry_duty():
    for term in ("EXW", "FCA", "CPT", "CIP", "DAP", "DPU", "FOB", "CIF"):
        assert rules.price_invoice(order(buyer="US", currency="USD", incoterm=term), "DE").duty == 0


def test_seller_outside_the_eu_pays_eu_duty_and_destination_import_vat_under_ddp():
    imports = rules.import_charges(order(buyer="FR", incoterm="DDP", freight=None), "GB")
    assert imports is not None
    assert imports.customs_duty == D("17.00")  # EU common tariff, chapter 84: 1.7 %
    assert imports.import_vat == D("203.40")  # FR 20 % of 1017


# -- rounding ---------------------------------------------------------------------------------------------


def test_tax_rounds_half_up_to_the_currency_minor_unit():
    figures = rules.price_invoice(order(lines=[line(quantity=1, unit_price="1.50")], freight=None), "DE")
    assert figures.tax == D("0.29")  # 0.285 half up, not half even


def test_currencies_without_minor_units_round_to_whole_amounts():
    figures = rules.price_invoice(
        order(currency="JPY", lines=[line(quantity=1, unit_price="10001")], freight=None), "DE"
    )
    assert figures.tax == D("1900")  # 1900.19
    assert figures.total == D("11901")
    assert figures.tax.as_tuple().exponent == 0


def test_lowercase_codes_are_normalised_and_malformed_countries_refused():
    figures = rules.price_invoice(order(buyer="fr", currency="EUR").model_copy(update={"currency": "eur"}), "DE")
    assert figures.currency == "EUR" and figures.vat.rate == D("0.20")
    with pytest.raises(ValueError, match="destination_country"):
        rules.price_invoice(order(buyer="DE", dest="GERMANY"), "DE")


def test_order_money_in_another_currency_is_refused():
    bad = order().model_copy(update={"freight": Money.of("50", "USD")})
    with pytest.raises(ValueError, match="freight"):
        rules.price_invoice(bad, "DE")


# -- credit notes, due dates, numbers -------------------------------------------------------------------


def test_credit_note_of_a_paid_invoice_is_its_exact_negative():
    assert rules.credit_note_figures(D("1000"), D("190"), D("0"), D("1190"), D("1190"), "EUR") == (
        D("-1000"),
        D("-190"),
        D("0"),
        D("-1190"),
    )


def test_credit_note_of_a_part_payment_splits_pro_rata_and_adds_up():
    subtotal, tax, duty, total = rules.credit_note_figures(
        D("1000.00"), D("190.00"), D("0.00"), D("1190.00"), D("500.00"), "EUR"
    )
    assert (subtotal, tax, duty, total) == (D("-420.17"), D("-79.83"), D("0.00"), D("-500.00"))
    assert subtotal + tax + duty == total


def test_due_date_follows_payment_terms():
    assert rules.due_date(date(2026, 1, 15), "prepaid") == date(2026, 1, 15)
    assert rules.due_date(date(2026, 1, 15), "net_30") == date(2026, 2, 14)


def test_invoice_numbers_are_series_year_and_six_digits():
    assert rules.format_number("PF", 2026, 1) == "PF-2026-000001"
    assert rules.format_number("CN", 2027, 123456) == "CN-2027-123456"
    assert rules.SERIES == {"proforma": "PF", "commercial": "INV", "credit_note": "CN"}


def test_ids_are_time_ordered():
    ids = [new_id("inv") for _ in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50


# -- payments ---------------------------------------------------------------------------------------------


def test_open_amount():
    assert rules.open_amount("proforma", "issued", D("100"), D("30")) == D("70")
    assert rules.open_amount("proforma", "paid", D("100"), D("100")) == 0
    assert rules.open_amount("proforma", "void", D("100"), D("0")) == 0
    assert rules.open_amount("credit_note", "issued", D("-100"), D("0")) == D("-100")


def test_payment_checks_name_the_field():
    eur = Money.of("10.00", "EUR")
    rules.check_payment("proforma", "issued", "EUR", D("10.00"), eur)  # exactly the open amount: fine
    with pytest.raises(Invalid) as wrong:
        rules.check_payment("proforma", "issued", "USD", D("100"), eur)
    assert wrong.value.field == "amount.currency"
    with pytest.raises(Invalid) as over:
        rules.check_payment("proforma", "issued", "EUR", D("9.99"), eur)
    assert over.value.field == "amount.amount"
    for status in ("paid", "void"):
        with pytest.raises(Conflict):
            rules.check_payment("proforma", status, "EUR", D("0"), eur)
    with pytest.raises(Conflict):
        rules.check_payment("credit_note", "issued", "EUR", D("-10"), eur)


@pytest.mark.parametrize(
    ("amount", "currency", "ok"),
    [
        ("0", "EUR", False),
        ("-5.00", "EUR", False),
        ("10.001", "EUR", False),
        ("10.500", "EUR", True),
        ("1E+3", "EUR", True),
        ("1.5", "JPY", False),
        ("150", "JPY", True),
    ],
)
def test_amount_must_be_positive_and_in_minor_units(amount, currency, ok):
    money = Money(amount=D(amount), currency=currency)
    if ok:
        rules.check_amount(money)
    else:
        with pytest.raises(Invalid) as err:
            rules.check_amount(money)
        assert err.value.field == "amount.amount"


# -- ledger, reports, bills: the pure rules ---------------------------------------------------------


def test_in_base_balances_to_the_cent_with_receivables_at_the_stored_figure():
    amounts = rules.invoice_amounts(D("100.01"), D("19.00"), D("3.33"), D("122.34"))
    out = rules.in_base(amounts, D("0.912345"), "EUR", fixed={rules.RECEIVABLES: D("111.62")})
    assert out[rules.RECEIVABLES] == D("111.62") and sum(out.values()) == 0
    assert all(v == v.quantize(D("0.01")) for v in out.values())
    same = rules.in_base(amounts, None, "EUR", fixed={rules.RECEIVABLES: D("122.34")})
    assert same == {"1400": D("122.34"), "8400": D("-100.01"), "1776": D("-19.00"), "1780": D("-3.33")}


def test_payment_gap_to_the_invoice_rate_is_an_fx_gain_or_loss():
    assert rules.payment_amounts(D("101.00"), D("100.00")) == {
        "1200": D("101.00"),
        "1400": D("-100.00"),
        "2660": D("-1.00"),
    }
    assert rules.payment_amounts(D("99.50"), D("100.00")) == {
        "1200": D("99.50"),
        "1400": D("-100.00"),
        "2150": D("0.50"),
    }
    assert rules.payment_amounts(D("100.00"), D("100.00")) == {"1200": D("100.00"), "1400": D("-100.00")}


def test_receivable_shares_add_up_to_the_total_base_exactly():
    total, total_base, paid, taken = D("100.00"), D("91.23"), D(0), D(0)
    for part in (D("33.33"), D("33.33"), D("33.34")):
        taken += rules.receivable_share(total_base, paid, paid + part, total, "EUR")
        paid += part
    assert taken == total_base


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(-5, "current"), (0, "current"), (1, "1-30"), (30, "1-30"), (31, "31-60"), (90, "61-90"), (91, "90+")],
)
def test_aging_buckets_by_days_past_due(days: int, bucket: str):
    at = date(2026, 6, 30)
    assert rules.aging_bucket(date.fromordinal(at.toordinal() - days), at) == bucket


def test_ranges_and_lc_dates_name_the_field():
    with pytest.raises(Invalid) as wrong_order:
        rules.check_range(date(2026, 2, 1), date(2026, 1, 1))
    assert wrong_order.value.field == "query.from"
    with pytest.raises(Invalid) as too_long:
        rules.check_range(date(2020, 1, 1), date(2025, 12, 31))
    assert too_long.value.field == "query.to"
    rules.check_range(date(2021, 1, 1), date(2025, 12, 31))  # five years: fine
    with pytest.raises(Invalid) as late:
        rules.check_lc_dates(date(2026, 6, 1), date(2026, 6, 2), date(2026, 1, 1))
    assert late.value.field == "latest_shipment_date"
    with pytest.raises(Invalid) as expired:
        rules.check_lc_dates(date(2025, 6, 1), date(2025, 5, 1), date(2026, 1, 1))
    assert expired.value.field == "expiry_date"
    with pytest.raises(Invalid):
        rules.check_account("9999")
    rules.check_account("1400")


def test_supplier_bill_vat_by_the_supplier_country():
    assert rules.bill_vat(D("100.00"), "DE", "DE", "EUR") == rules.BillVat("domestic", D("19.00"), D("119.00"))
    assert rules.bill_vat(D("100.00"), None, "DE", "EUR").treatment == "domestic"
    rc = rules.bill_vat(D("100.00"), "FR", "DE", "EUR")
    assert rc == rules.BillVat("reverse_charge", D("19.00"), D("100.00"))
    assert rules.bill_entry(D("100.00"), rc) == {
        "3400": D("100.00"),
        "1570": D("19.00"),
        "1600": D("-100.00"),
        "1776": D("-19.00"),
    }
    assert rules.bill_vat(D("100.00"), "CN", "DE", "EUR") == rules.BillVat("import", D(0), D("100.00"))


def test_returned_lines_never_credit_more_than_was_invoiced():
    invoiced = [
        {"sku": "A", "quantity": 2, "unit_price": "10.005", "amount": "20.01"},
        {"sku": "B", "quantity": 1, "unit_price": "5", "amount": "5.00"},
    ]
    out = rules.returned_lines(invoiced, {"A": 5, "C": 1}, "EUR")
    assert out == [{"sku": "A", "quantity": 2, "unit_price": "10.005", "amount": "20.01"}]
