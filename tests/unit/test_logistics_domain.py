"""Logistics rules without I/O: freight pricing, zones, allocation, shipment state machine."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from hanse.errors import Conflict, Invalid
from hanse.money import ecb_rate
from hanse.settings import Settings
from services.logistics.contract import ReservedLine, ShortLine
from services.logistics.domain import freight, rules
from services.logistics.models import RateRequest, TrackingCreate
from services.sales.contract import OrderLine

D = Decimal
RATES = {
    ("lufthansa-cargo", "air", "asia"): rules.Tariff(D("2.70"), D("120.00")),
    ("dhl-express", "courier", "eu"): rules.Tariff(D("2.90"), D("25.00")),
    ("maersk", "sea", "asia"): rules.Tariff(D("0.13"), D("250.00")),
    ("db-schenker", "road", "eu"): rules.Tariff(D("0.40"), D("75.00")),
}


# -- freight ---------------------------------------------------------------------------------------


def test_air_volumetric_weight_uses_the_6000_divisor():
    # 1 m³ by air counts as 1,000,000 cm³ / 6000 = 166.667 kg.
    assert rules.volumetric_weight_kg("air", D("1")) == D("166.667")
    priced = rules.price_freight("air", "DE", "CN", D("100"), D("1"), rates=RATES)
    assert priced.zone == "asia"
    assert priced.actual_weight_kg == D("100.000")
    assert priced.chargeable_weight_kg == D("166.667")
    assert priced.price == D("450.00")  # 166.667 × 2.70 = 450.0009 → 450.00


def test_courier_volumetric_weight_uses_the_5000_divisor():
    assert rules.volumetric_weight_kg("courier", D("0.5")) == D("100.000")
    priced = rules.price_freight("courier", "DE", "FR", D("40"), D("0.5"), rates=RATES)
    assert (priced.zone, priced.chargeable_weight_kg, priced.price) == ("eu", D("100.000"), D("290.00"))


def test_sea_counts_one_cubic_metre_as_one_tonne():
    assert rules.volumetric_weight_kg("sea", D("2.5")) == D("2500.000")
    priced = rules.price_freight("sea", "DE", "JP", D("1800"), D("2.5"), rates=RATES)
    assert priced.chargeable_weight_kg == D("2500.000")
    assert priced.price == D("325.00")


def test_road_counts_333_kg_per_cubic_metre():
    assert rules.volumetric_weight_kg("road", D("3")) == D("999.000")


def test_actual_weight_wins_when_heavier_than_volumetric():
    priced = rules.price_freight("air", "DE", "CN", D("500"), D("1"), rates=RATES)
    assert priced.chargeable_weight_kg == D("500.000")
    assert priced.volumetric_weight_kg == D("166.667")
    assert priced.price == D("1350.00")


def test_minimum_charge_applies_to_small_shipments():
    priced = rules.price_freight("air", "DE", "CN", D("2"), rates=RATES)
    assert priced.chargeable_weight_kg == D("2.000")
    assert priced.price == D("120.00"), "2 kg × 2.70 = 5.40 is below the 120.00 minimum"


def test_zones_by_destination():
    assert rules.freight_zone("DE", "DE") == "domestic"
    assert rules.freight_zone("DE", "FR") == "eu"
    assert rules.freight_zone("FR", "DE") == "eu"
    assert rules.freight_zone("DE", "CH") == "europe"
    assert rules.freight_zone("DE", "GB") == "europe"
    assert rules.freight_zone("DE", "US") == "north_america"
    assert rules.freight_zone("DE", "BR") == "latin_america"
    assert rules.freight_zone("DE", "AE") == "middle_east"
    assert rules.freight_zone("DE", "NG") == "africa"
    assert rules.freight_zone("DE", "CN") == "asia"
    assert rules.freight_zone("DE", "AU") == "oceania"
    assert rules.freight_zone("DE", "AQ") == "rest_of_world"
    assert rules.freight_zone("US", "US") == "domestic"


def test_shipped_rate_table_covers_every_zone_for_air_and_courier():
    table = rules.rate_table()
    zones = set(rules.zone_table().values()) | {"domestic", "rest_of_world"}
    for mode in ("air", "courier"):
        assert {zone for _, m, zone in table if m == mode} == zones
    assert {zone for _, m, zone in table if m == "road"} == {"domestic", "eu", "europe"}
    for carrier_id, mode, _ in table:
        assert mode in rules.carriers()[carrier_id].modes, "a carrier is priced only for the modes it offers"
    assert all(isinstance(t.rate_per_kg, Decimal) and t.minimum_charge > 0 for t in table.values())


def test_mode_not_offered_to_a_zone_names_the_mode():
    with pytest.raises(Invalid) as err:
        rules.price_freight("road", "DE", "CN", D("10"))
    assert err.value.field == "mode"


def test_bad_weight_or_volume_is_refused():
    with pytest.raises(Invalid) as err:
        rules.price_freight("air", "DE", "CN", D("0"), rates=RATES)
    assert err.value.field == "weight_kg"
    with pytest.raises(Invalid) as err:
        rules.price_freight("air", "DE", "CN", D("1"), D("-1"), rates=RATES)
    assert err.value.field == "volume_m3"


def test_quote_converts_the_eur_tariff_to_the_requested_currency_with_ecb_rates():
    settings = Settings(env="dev", seller_country="DE", base_currency="EUR")
    body = RateRequest(
        destination_country="cn", mode="air", weight_kg="100", volume_m3="1", currency="usd", carrier="lufthansa-cargo"
    )
    quote = freight.quote_freight(body, settings)
    rate = ecb_rate("EUR", "USD").rate
    assert quote.origin_country == "DE" and quote.destination_country == "CN"
    assert quote.price.currency == "USD" and quote.currency == "USD"
    assert quote.price.amount == (D("450.00") * rate).quantize(D("0.01"))
    assert quote.fx is not None and quote.fx.rate == rate
    assert quote.rate_per_kg.amount == D("2.70") and quote.rate_per_kg.currency == "EUR"
    same = freight.quote_freight(RateRequest(destination_country="DE", mode="road", weight_kg=10), settings)
    assert (same.zone, same.price.amount, same.currency, same.fx) == ("domestic", D("45.00"), "EUR", None)


def test_transport_mode_follows_the_incoterm_then_the_zone():
    assert rules.transport_mode("FOB", "eu") == "sea"
    assert rules.transport_mode("cif", "asia") == "sea"
    assert rules.transport_mode("DAP", "eu") == "road"
    assert rules.transport_mode("EXW", "domestic") == "road"
    assert rules.transport_mode("EXW", "europe") == "air"
    assert rules.transport_mode("DDP", "asia") == "air"
    assert rules.transport_mode(None, "north_america") == "air"
    # The mode the buyer was quoted wins, except against a sea-only term.
    assert rules.transport_mode("DAP", "asia", "courier") == "courier"
    assert rules.transport_mode("FOB", "asia", "air") == "sea"
    assert rules.transport_mode("DAP", "eu", "rail") == "road"


def test_tracking_numbers_follow_each_carriers_format_and_differ():
    for carrier_id, shape in [
        ("dhl-express", r"^\d{10}$"),
        ("lufthansa-cargo", r"^020-\d{8}$"),
        ("maersk", r"^MAEU\d{9}$"),
        ("db-schenker", r"^DBSK\d{10}$"),
    ]:
        numbers = {rules.new_tracking_number(carrier_id) for _ in range(200)}
        assert len(numbers) == 200, carrier_id
        assert all(re.match(shape, n) and rules.tracking_number_valid(carrier_id, n) for n in numbers), carrier_id
    # Check digits: DHL Express and IATA air waybills use the serial modulo 7.
    assert rules.tracking_number_valid("lufthansa-cargo", "020-12345675")  # 1234567 % 7 == 5
    assert not rules.tracking_number_valid("lufthansa-cargo", "020-12345674")
    assert rules.tracking_number_valid("dhl-express", "1234567891")  # 123456789 % 7 == 1
    assert not rules.tracking_number_valid("dhl-express", "1234567890")
    assert not rules.tracking_number_valid("maersk", "020-12345675")
    with pytest.raises(ValueError):
        rules.new_tracking_number("pigeon-post")


def test_carrier_table_has_the_contract_ids_and_names():
    table = rules.carriers()
    assert {"dhl-express", "maersk", "lufthansa-cargo", "db-schenker"} <= set(table)
    assert (table["dhl-express"].name, table["dhl-express"].modes) == ("DHL Express", ("courier",))
    assert "sea" in table["maersk"].modes and "air" in table["lufthansa-cargo"].modes
    assert "road" in table["db-schenker"].modes
    for carrier_id, found in table.items():
        assert set(found.codes.values()) <= rules.MILESTONES, carrier_id


def test_cheapest_carrier_for_the_mode_unless_one_is_named():
    # Air to Asia: Lufthansa Cargo 2.70/kg (min 120), DB Schenker 2.60/kg (min 190).
    light = rules.price_freight("air", "DE", "CN", D("10"))
    assert (light.carrier, light.price) == ("lufthansa-cargo", D("120.00"))
    heavy = rules.price_freight("air", "DE", "CN", D("1000"))
    assert (heavy.carrier, heavy.price) == ("db-schenker", D("2600.00"))
    named = rules.price_freight("air", "DE", "CN", D("1000"), carrier="lufthansa-cargo")
    assert (named.carrier, named.price) == ("lufthansa-cargo", D("2700.00"))
    with pytest.raises(Invalid) as err:
        rules.price_freight("air", "DE", "CN", D("10"), carrier="pigeon-post")
    assert err.value.field == "carrier"
    with pytest.raises(Invalid) as err:
        rules.price_freight("air", "DE", "CN", D("10"), carrier="maersk")
    assert err.value.field == "carrier"
    # Booking: the named carrier when it offers the mode, else the cheapest, else any offering the mode.
    assert rules.choose_carrier("air", "DE", "CN", D("1000")) == "db-schenker"
    assert rules.choose_carrier("air", "DE", "CN", D("1000"), "lufthansa-cargo") == "lufthansa-cargo"
    assert rules.choose_carrier("sea", "DE", "CN", D("1000"), "dhl-express") == "maersk"
    assert rules.choose_carrier("road", "DE", "US", D("10")) == "db-schenker"


def test_carrier_status_codes_map_to_milestones():
    assert rules.milestone_for("dhl-express", "PU") == "picked_up"
    assert rules.milestone_for("dhl-express", "ok") == "delivered"
    assert rules.milestone_for("lufthansa-cargo", "DLV") == "delivered"
    assert rules.milestone_for("maersk", "GTOT") == "picked_up"
    assert rules.milestone_for("db-schenker", "in_transit") == "in_transit"
    assert rules.milestone_for("db-schenker", "XYZ") is None


# -- allocation ------------------------------------------------------------------------------------


def _line(sku: str, quantity: int, weight: str = "1.5") -> OrderLine:
    return OrderLine(
        sku=sku,
        name=sku,
        quantity=quantity,
        unit_price=D("10"),
        hs_code="8501",
        origin_country="DE",
        unit_weight_kg=D(weight),
    )


def test_wanted_quantities_sum_lines_of_one_sku():
    assert rules.wanted_quantities([_line("B", 2), _line("A", 1), _line("B", 3)]) == {"A": 1, "B": 5}
    assert rules.order_weight_kg([_line("A", 2, "1.25"), _line("B", 1, "0.5")]) == D("3.000")


@pytest.mark.parametrize(
    ("lines", "message"),
    [([], "no lines"), ([_line("A", 0)], "quantity"), ([_line("bad sku!", 1)], "sku")],
)
def test_malformed_order_lines_are_refused(lines, message):
    with pytest.raises(ValueError, match=message):
        rules.wanted_quantities(lines)


def test_allocation_prefers_one_warehouse_that_holds_the_whole_line():
    available = {("A", "HAM"): 4, ("A", "MUC"): 10}
    allocation = rules.allocate({"A": 3}, available)
    assert allocation.complete
    assert allocation.reserved == [ReservedLine(sku="A", warehouse="MUC", quantity=3)]


def test_allocation_splits_across_warehouses_fullest_first():
    allocation = rules.allocate({"A": 12}, {("A", "HAM"): 4, ("A", "MUC"): 10, ("A", "BER"): 0})
    assert allocation.reserved == [
        ReservedLine(sku="A", warehouse="MUC", quantity=10),
        ReservedLine(sku="A", warehouse="HAM", quantity=2),
    ]


def test_allocation_is_all_or_nothing_across_lines():
    allocation = rules.allocate({"A": 2, "B": 5}, {("A", "HAM"): 10, ("B", "HAM"): 3, ("B", "MUC"): 1})
    assert not allocation.complete
    assert allocation.reserved == [], "one short line reserves nothing for the whole order"
    assert allocation.short == [ShortLine(sku="B", requested=5, available=4)]


def test_allocation_of_an_unknown_sku_is_short_with_zero_available():
    allocation = rules.allocate({"NEW": 1}, {("A", "HAM"): 10})
    assert allocation.short == [ShortLine(sku="NEW", requested=1, available=0)]


# -- shipment state machine ------------------------------------------------------------------------


def test_first_milestone_leaving_the_warehouse_dispatches():
    assert rules.apply_milestone("booked", "picked_up") == rules.MilestoneEffect("in_transit", True, False)
    assert rules.apply_milestone("booked", "in_transit") == rules.MilestoneEffect("in_transit", True, False)
    assert rules.apply_milestone("in_transit", "in_transit") == rules.MilestoneEffect("in_transit", False, False)
    assert rules.apply_milestone("booked", "customs_cleared") == rules.MilestoneEffect("booked", False, False)
    assert rules.apply_milestone("booked", "exception") == rules.MilestoneEffect("booked", False, False)


def test_delivered_ends_the_shipment_and_implies_dispatch_when_skipped():
    assert rules.apply_milestone("in_transit", "delivered") == rules.MilestoneEffect("delivered", False, True)
    assert rules.apply_milestone("booked", "delivered") == rules.MilestoneEffect("delivered", True, True)


@pytest.mark.parametrize("status", ["delivered", "cancelled"])
def test_no_milestone_after_delivery_or_cancellation(status):
    with pytest.raises(Conflict):
        rules.apply_milestone(status, "in_transit")


def test_a_milestone_time_needs_a_timezone():

    assert TrackingCreate(status="picked_up", at=datetime(2026, 1, 1, tzinfo=UTC)).at is not None
    with pytest.raises(ValidationError):
        TrackingCreate(status="picked_up", at=datetime(2026, 1, 1))


# -- customs, packages, letters of credit, returns, signatures (issue 14) ----------------------------


def test_customs_item_weights_and_value():
    item = rules.customs_item("P", "Pump", "841370", "DE", 3, D("12.50"), D("2.345"))
    assert (item.net_weight_kg, item.gross_weight_kg, item.value) == (D("7.035"), D("7.387"), D("37.50"))


def test_packages_by_mode():
    parcels = rules.package_count("courier", D("61"))
    assert (parcels.count, parcels.packaging.type, parcels.weight_kg) == (3, "carton", D("62.500"))
    pallets = rules.package_count("sea", D("1000"))
    assert (pallets.count, pallets.packaging.type, pallets.weight_kg) == (2, "pallet", D("1050.000"))
    assert rules.package_count("air", D("0")).count == 1


def test_letter_of_credit_must_be_in_the_order_currency_cover_it_and_be_in_time():
    today = datetime(2026, 11, 26, tzinfo=UTC).date()
    ok = rules.Credit("lc1", D("100.00"), "EUR", date(2026, 12, 31), date(2026, 12, 15))
    assert rules.letter_of_credit_refusal([ok], "EUR", D("100.00"), today) is None
    assert "no letter of credit" in rules.letter_of_credit_refusal([], "EUR", D("1"), today)
    assert "is in EUR, the order in USD" in rules.letter_of_credit_refusal([ok], "USD", D("1"), today)
    assert "covers 100.00 EUR of the order total 100.01" in rules.letter_of_credit_refusal(
        [ok], "EUR", D("100.01"), today
    )
    late = rules.Credit("lc2", D("500"), "EUR", date(2026, 12, 31), date(2026, 11, 25))
    assert "latest shipment date 2026-11-25 has passed" in rules.letter_of_credit_refusal([late], "EUR", D("1"), today)
    expired = rules.Credit("lc3", D("500"), "EUR", date(2026, 11, 25), date(2026, 11, 30))
    assert "expired" in rules.letter_of_credit_refusal([expired], "EUR", D("1"), today)
    assert rules.letter_of_credit_refusal([late, ok], "EUR", D("50"), today) is None, "one valid L/C suffices"


def test_returns_never_exceed_what_was_shipped_and_not_yet_returned():
    shipped = {"A": 5, "B": 1}
    assert rules.return_violations(shipped, {}, [("A", 5), ("B", 1)]) == []
    assert rules.return_violations(shipped, {"A": 3}, [("A", 2)]) == []
    assert [i for i, _ in rules.return_violations(shipped, {"A": 3}, [("A", 3)])] == [0]
    assert [i for i, _ in rules.return_violations(shipped, {}, [("A", 3), ("A", 3)])] == [1]
    (problem,) = rules.return_violations(shipped, {}, [("C", 1)])
    assert problem[0] == 0 and "not shipped" in problem[1]


def test_carrier_signatures_are_hmac_sha256_of_the_raw_body(tmp_path):
    from services.logistics.config import LogisticsConfig
    from services.logistics.domain import carriers

    body = b'{"tracking_number": "020-12345675", "status": "DLV", "at": "2026-11-26T10:00:00Z"}'
    header = carriers.sign("s3cret", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    carriers.verify("s3cret", body, header)
    carriers.verify("s3cret", body, header.upper().replace("SHA256=", "sha256="))
    for bad in (
        None,
        "",
        "sha256=xyz",
        "sha1=" + "0" * 64,
        carriers.sign("other", body),
        carriers.sign("s3cret", body + b" "),
    ):
        with pytest.raises(carriers.Unauthenticated) as err:
            carriers.verify("s3cret", body, bad)
        assert err.value.status == 401 and err.value.field == carriers.HEADER
    # Dev and test generate a secret per carrier once; configured ones win; prod has none unless configured.
    dev = Settings(env="dev", data_dir=tmp_path)
    generated = carriers.secrets_for(dev, LogisticsConfig())
    assert set(generated) == set(rules.carriers()) and len(set(generated.values())) == len(generated)
    assert carriers.secrets_for(dev, LogisticsConfig()) == generated
    configured = LogisticsConfig(HANSE_CARRIER_SECRETS={"maersk": "m-secret"})
    assert carriers.secrets_for(dev, configured)["maersk"] == "m-secret"
    prod = Settings(env="prod", data_dir=tmp_path / "prod", jwt_secret="x" * 40)
    assert carriers.secrets_for(prod, configured) == {"maersk": "m-secret"}
    with pytest.raises(carriers.Unauthenticated):
        carriers.secret_of(prod, configured, "dhl-express")
    with pytest.raises(ValueError):
        carriers.secrets_for(dev, LogisticsConfig(HANSE_CARRIER_SECRETS={"pigeon-post": "x"}))
