"""Sales rules without I/O: tier prices, MOQ, Incoterms, insurance, VAT ids and the order life cycle."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from hanse import ids
from hanse.errors import Conflict, Invalid
from hanse.money import FxRate
from services.sales.domain import rules
from services.sales.domain.rules import CatalogueItem, OrderState, Transition, advance
from services.sales.models import ProductCreate, QuoteCreate, normalize_hs_code

WIDGET = CatalogueItem(
    sku="W-1",
    name="Widget",
    hs_code="847130",
    origin_country="DE",
    unit_price=Decimal("10.00"),
    currency="EUR",
    unit_weight_kg=Decimal("1.250"),
    moq=5,
    tiers=((100, Decimal("8.00")), (10, Decimal("9.50")), (1000, Decimal("7.25"))),
    dimensions_cm=(Decimal("10"), Decimal("20"), Decimal("50")),
)
GADGET = CatalogueItem(
    sku="G-1",
    name="Gadget",
    hs_code="850440",
    origin_country="CN",
    unit_price=Decimal("3.33"),
    currency="USD",
    unit_weight_kg=Decimal("0.100"),
)
CATALOGUE = {WIDGET.sku: WIDGET, GADGET.sku: GADGET}


def fixed_rate(base: str, quote: str) -> FxRate:
    rates = {("USD", "EUR"): Decimal("0.9"), ("EUR", "JPY"): Decimal("161.234")}
    if (base, quote) not in rates:
        raise ValueError(f"no ECB reference rate for {base}/{quote}")
    return FxRate(base=base, quote=quote, rate=rates[base, quote], rate_date=date(2025, 3, 14))


# -- tier pricing and MOQ --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "price"),
    [
        (5, "10.00"),
        (9, "10.00"),
        (10, "9.50"),
        (99, "9.50"),
        (100, "8.00"),
        (999, "8.00"),
        (1000, "7.25"),
        (5000, "7.25"),
    ],
)
def test_tier_with_the_highest_min_quantity_not_above_the_quantity_sets_the_price(quantity, price):
    assert rules.tier_price(WIDGET, quantity) == Decimal(price)


def test_a_product_without_tiers_has_its_base_price():
    assert rules.tier_price(GADGET, 1_000_000) == Decimal("3.33")


def test_goods_are_priced_per_line_with_weight_and_volume():
    goods = rules.price_goods([("W-1", 10), ("W-1", 100)], CATALOGUE, "EUR", fixed_rate)
    assert [(ln.unit_price, ln.amount) for ln in goods.lines] == [
        (Decimal("9.50"), Decimal("95.00")),
        (Decimal("8.00"), Decimal("800.00")),
    ]
    assert goods.subtotal == Decimal("895.00")
    assert goods.weight_kg == Decimal("137.500")
    assert goods.volume_m3 == Decimal("1.1")  # 0.01 m³ a piece
    assert goods.fx == []


def test_below_the_moq_is_refused_naming_the_line():
    with pytest.raises(Invalid) as err:
        rules.price_goods([("G-1", 1), ("W-1", 4)], CATALOGUE, "USD", fixed_rate)
    assert err.value.field == "lines.1.quantity"
    assert "minimum order quantity of 5" in err.value.detail


def test_an_unknown_sku_is_refused_naming_the_line():
    with pytest.raises(Invalid) as err:
        rules.price_goods([("W-1", 5), ("W-1", 5), ("nope", 1)], CATALOGUE, "EUR", fixed_rate)
    assert err.value.field == "lines.2.sku"


def test_prices_are_converted_at_the_ecb_rate_and_rounded_to_the_quote_currency():
    goods = rules.price_goods([("G-1", 3), ("W-1", 10)], CATALOGUE, "EUR", fixed_rate)
    # 3.33 USD × 0.9 = 2.997 → 3.00 EUR; the line amount is unit price × quantity exactly.
    assert (goods.lines[0].unit_price, goods.lines[0].amount) == (Decimal("3.00"), Decimal("9.00"))
    assert goods.lines[1].unit_price == Decimal("9.50"), "no conversion within one currency"
    assert [(r.base, r.quote, r.rate) for r in goods.fx] == [("USD", "EUR", Decimal("0.9"))]
    assert goods.volume_m3 is None, "a line without dimensions leaves the volume to logistics"
    jpy = rules.price_goods([("W-1", 10)], CATALOGUE, "JPY", fixed_rate)
    assert jpy.lines[0].unit_price == Decimal("1532"), "JPY has no minor unit: 9.50 × 161.234 = 1531.72"


def test_a_currency_without_an_ecb_rate_is_refused_naming_currency():
    with pytest.raises(Invalid) as err:
        rules.price_goods([("G-1", 1)], CATALOGUE, "JPY", fixed_rate)
    assert err.value.field == "currency"


# -- Incoterms 2020 ----------------------------------------------------------------------------------


def test_the_eleven_incoterms_and_nothing_else():
    assert set(rules.INCOTERMS) == set("EXW FCA CPT CIP DAP DPU DDP FAS FOB CFR CIF".split())
    assert rules.incoterm(" cif ") == "CIF"
    for bad in ("DAT", "DDU", "XYZ", "", "FOBB"):
        with pytest.raises(Invalid) as err:
            rules.incoterm(bad)
        assert err.value.field == "incoterm"


def test_who_pays_carriage_and_insurance():
    carriage = {t for t in rules.INCOTERMS if rules.seller_pays_carriage(t)}
    assert carriage == {"CPT", "CIP", "DAP", "DPU", "DDP", "CFR", "CIF"}
    assert {t for t in rules.INCOTERMS if rules.seller_insures(t)} == {"CIP", "CIF"}


@pytest.mark.parametrize("term", ["FAS", "FOB", "CFR", "CIF"])
def test_sea_only_terms_need_sea_transport(term):
    assert rules.transport_mode(term, None, "DE", "FR") == "sea"
    assert rules.transport_mode(term, "sea", "DE", "US") == "sea"
    for mode in ("air", "road", "courier"):
        with pytest.raises(Invalid) as err:
            rules.transport_mode(term, mode, "DE", "US")
        assert err.value.field == "mode"


def test_default_mode_of_any_mode_terms_is_road_in_the_eu_and_air_beyond():
    assert rules.transport_mode("DAP", None, "DE", "FR") == "road"
    assert rules.transport_mode("EXW", None, "DE", "DE") == "road"
    assert rules.transport_mode("CPT", None, "DE", "US") == "air"
    assert rules.transport_mode("DDP", "courier", "DE", "US") == "courier"


# -- insurance and totals ----------------------------------------------------------------------------


def test_insurance_covers_110_percent_of_goods_and_freight():
    # (1000 + 200) × 1.10 × 0.3 % = 3.96
    assert rules.insurance_premium(Decimal("1000"), Decimal("200"), Decimal("0.003"), "EUR") == Decimal("3.96")
    assert rules.insurance_premium(Decimal("333.33"), Decimal("0"), Decimal("0.003"), "EUR") == Decimal("1.10")


def test_totals_per_term():
    rate = Decimal("0.003")
    cif = rules.quote_totals("CIF", Decimal("1000.00"), Decimal("200.00"), rate, "EUR")
    assert (cif.freight, cif.insurance, cif.total) == (Decimal("200.00"), Decimal("3.96"), Decimal("1203.96"))
    dap = rules.quote_totals("DAP", Decimal("1000.00"), Decimal("200.00"), rate, "EUR")
    assert (dap.insurance, dap.total) == (None, Decimal("1200.00"))
    fob = rules.quote_totals("FOB", Decimal("1000.00"), None, rate, "EUR")
    assert (fob.freight, fob.insurance, fob.total) == (None, None, Decimal("1000.00"))
    with pytest.raises(ValueError):
        rules.quote_totals("CPT", Decimal("1"), None, rate, "EUR")


# -- VAT ids and currencies --------------------------------------------------------------------------


def test_eu_vat_ids_are_checked_and_must_belong_to_the_buyer_country():
    assert rules.vat_id_check("DE 136 695 976", "DE") == ("DE136695976", True)
    assert rules.vat_id_check("EL094259216", "GR") == ("EL094259216", True)
    for vat_id, country in [("DE136695977", "DE"), ("DE13669597", "DE"), ("DE136695976", "FR"), ("hello", "AT")]:
        with pytest.raises(Invalid) as err:
            rules.vat_id_check(vat_id, country)
        assert err.value.field == "vat_id"


def test_non_eu_vat_ids_use_the_country_module_or_are_kept_unverified():
    assert rules.vat_id_check("GB 980 7806 84", "GB") == ("980780684", True)
    with pytest.raises(Invalid):
        rules.vat_id_check("GB980780685", "GB")
    assert rules.vat_id_check("12-3456789", "US") == ("12-3456789", False)


def test_account_currency_follows_the_country_when_the_ecb_quotes_it():
    assert rules.currency_for_country("US", "EUR") == "USD"
    assert rules.currency_for_country("AT", "EUR") == "EUR"
    assert rules.currency_for_country("AR", "EUR") == "EUR", "no ECB rate for ARS: base currency"


# -- request field rules ---------------------------------------------------------------------------


def test_hs_codes_are_stored_as_digits():
    assert normalize_hs_code("8471.30") == "847130"
    assert normalize_hs_code("8471 30 00 10") == "8471300010"
    for bad in ("84713", "84713000101", "8471.3a", "８４７１３０"):
        with pytest.raises(ValueError):
            normalize_hs_code(bad)


def product(**over):
    body = {
        "sku": "W-1",
        "name": "Widget",
        "hs_code": "847130",
        "origin_country": "de",
        "unit_price": {"amount": "10.00", "currency": "EUR"},
        "unit_weight_kg": "1.5",
    }
    return ProductCreate.model_validate({**body, **over})


def test_product_rules():
    assert product().origin_country == "DE"
    assert product().moq == 1
    bad = {
        "sku": "a b",
        "origin_country": "XX",
        "unit_price": {"amount": "10.001", "currency": "EUR"},
        "unit_weight_kg": "0",
        "moq": 0,
    }
    for field, value in bad.items():
        with pytest.raises(ValidationError) as err:
            product(**{field: value})
        assert err.value.errors()[0]["loc"][0] == field
    with pytest.raises(ValidationError):
        product(unit_price={"amount": 10.0, "currency": "EUR"})  # floats are not money
    with pytest.raises(ValidationError):
        product(unit_price={"amount": "-1", "currency": "EUR"})
    assert product(unit_price={"amount": "1500", "currency": "JPY"}).unit_price.amount == 1500


def test_price_tiers_are_in_the_product_currency_and_unique():
    rules.check_price_tiers("EUR", [(10, "EUR"), (100, "EUR")])
    with pytest.raises(Invalid) as err:
        rules.check_price_tiers("EUR", [(10, "EUR"), (100, "USD")])
    assert err.value.field == "price_tiers.1.unit_price.currency"
    with pytest.raises(Invalid) as err:
        rules.check_price_tiers("EUR", [(10, "EUR"), (10, "EUR")])
    assert err.value.field == "price_tiers.1.min_quantity"


def test_quote_request_rules():
    body = {
        "account_id": "acc",
        "currency": "usd",
        "incoterm": "FOB",
        "named_place": "Hamburg",
        "destination_country": "us",
        "lines": [{"sku": "W-1", "quantity": 5}],
    }
    quote = QuoteCreate.model_validate(body)
    assert (quote.currency, quote.destination_country) == ("USD", "US")
    for field, value in [("currency", "XXY"), ("destination_country", "ZZ"), ("lines", []), ("mode", "rail")]:
        with pytest.raises(ValidationError) as err:
            QuoteCreate.model_validate({**body, field: value})
        assert err.value.errors()[0]["loc"][0] == field


# -- the order life cycle ------------------------------------------------------------------------------


def run(status: str, *signals: str, paid: bool = False) -> tuple[OrderState, list[Transition]]:
    state, seen = OrderState(status, paid), []
    for signal in signals:
        state, steps = advance(state, signal)  # type: ignore[arg-type]
        seen += steps
    return state, seen


def test_the_golden_path_ends_completed():
    state, steps = run("placed", "reserved", "booked", "paid", "dispatched", "delivered")
    assert [s.status for s in steps] == ["confirmed", "ready_to_ship", "shipped", "delivered", "completed"]
    assert [s.previous for s in steps] == ["placed", "confirmed", "ready_to_ship", "shipped", "delivered"]
    assert state == OrderState("completed", paid=True)


def test_delivered_and_paid_complete_in_either_order():
    assert run("shipped", "delivered", "paid")[0] == OrderState("completed", True)
    state, steps = run("shipped", "paid", "delivered")
    assert state == OrderState("completed", True)
    assert [(s.previous, s.status) for s in steps] == [("shipped", "delivered"), ("delivered", "completed")]
    assert run("shipped", "delivered")[0] == OrderState("delivered", False), "delivered but unpaid waits"


def test_hold_back_order_and_clearance():
    assert run("placed", "held")[0].status == "on_hold"
    assert run("placed", "held", "cleared")[0].status == "placed"
    assert run("placed", "held", "reserved")[0].status == "confirmed"
    assert run("placed", "held", "rejected")[0].status == "rejected"
    assert run("placed", "short")[0].status == "backordered"
    assert run("placed", "short", "reserved")[0].status == "confirmed"
    assert run("placed", "cleared")[1] == [], "a clearance without a hold changes nothing"


def test_events_never_move_an_order_backwards():
    for late in ("held", "short", "reserved", "booked", "dispatched", "cleared", "rejected"):
        state, steps = run("delivered", late)
        assert (state.status, steps) == ("delivered", []), late
    assert run("ready_to_ship", "reserved")[1] == []
    state, steps = run("placed", "delivered")
    assert [s.status for s in steps] == ["delivered"], "missed milestones are skipped, not replayed"


@pytest.mark.parametrize("cleared", ["backordered", "confirmed", "ready_to_ship"])
def test_a_hold_after_clearance_holds_the_order_until_cleared_back_where_it_was(cleared):
    state, steps = run(cleared, "held")
    assert state == OrderState("on_hold", held_from=cleared)
    assert [(s.previous, s.status) for s in steps] == [(cleared, "on_hold")]
    assert run(cleared, "held", "held")[0] == state, "held again: still held, still returning there"
    state, steps = run(cleared, "held", "cleared")
    assert state == OrderState(cleared) and [(s.previous, s.status) for s in steps[1:]] == [("on_hold", cleared)]
    assert run(cleared, "held", "rejected")[0] == OrderState("rejected")


def test_logistics_news_under_a_hold_after_clearance_moves_where_it_returns_not_the_order():
    state, steps = run("backordered", "held", "reserved")
    assert (state, len(steps)) == (OrderState("on_hold", held_from="confirmed"), 1), "the hold stays"
    assert run("backordered", "held", "reserved", "booked", "short")[0] == OrderState(
        "on_hold", held_from="ready_to_ship"
    )
    state, steps = run("backordered", "held", "reserved", "cleared")
    assert state == OrderState("confirmed") and steps[-1] == Transition("on_hold", "confirmed")
    # A hold when placed is lifted as before: back to placed (or on by logistics' news).
    assert run("placed", "held", "cleared")[0] == OrderState("placed")
    assert run("placed", "held", "reserved")[0] == OrderState("confirmed")
    # The goods left regardless (logistics never dispatches a held order; if it did, it is a fact).
    assert run("ready_to_ship", "held", "dispatched")[0] == OrderState("shipped")
    assert run("ready_to_ship", "held", "paid")[0] == OrderState("on_hold", True, "ready_to_ship")


@pytest.mark.parametrize("terminal", ["rejected", "cancelled", "completed"])
def test_terminal_orders_ignore_events_but_payment_is_recorded(terminal):
    for signal in ("held", "cleared", "short", "reserved", "booked", "dispatched", "delivered"):
        assert run(terminal, signal) == (OrderState(terminal, False), [])
    assert run(terminal, "paid") == (OrderState(terminal, True), [])


def test_cancel_before_shipping_only():
    for status in ("placed", "on_hold", "backordered", "confirmed", "ready_to_ship"):
        step = rules.cancel(OrderState(status), None)
        assert (step.previous, step.status) == (status, "cancelled")
    for status in ("shipped", "delivered", "completed", "rejected", "cancelled"):
        with pytest.raises(Conflict):
            rules.cancel(OrderState(status), "too late")


def test_ids_sort_by_creation():
    first = ids.new_id("ord")
    time.sleep(0.002)
    assert first < ids.new_id("ord")
    assert len({ids.new_id("ord") for _ in range(100)}) == 100
