"""Sales over HTTP on the real broker and databases: catalogue, accounts, quotes, accepting once, freight."""

from __future__ import annotations

import asyncio
import importlib
from datetime import timedelta
from decimal import Decimal

import httpx
from sqlalchemy import update

from hanse.events import CloudEvent, utcnow
from hanse.money import ecb_rate, round_money
from services.sales.contract import OrderPlaced
from services.sales.models import Quote
from tests.conftest import free_port, make_settings
from tests.support.kafka import read_all
from tests.support.service import RunningService, run_service, serve_on_port

BASE = "/api/v1/sales"
PROBLEM = "application/problem+json"


def product_body(**overrides) -> dict:
    body = {
        "sku": "PUMP-100",
        "name": "Centrifugal pump 100 l/min",
        "hs_code": "8413.70",
        "origin_country": "DE",
        "unit_price": {"amount": "250.00", "currency": "EUR"},
        "unit_weight_kg": "12.5",
        "dimensions_cm": {"length": "40", "width": "30", "height": "25"},
        "moq": 2,
        "price_tiers": [
            {"min_quantity": 50, "unit_price": {"amount": "210.00", "currency": "EUR"}},
            {"min_quantity": 10, "unit_price": {"amount": "230.00", "currency": "EUR"}},
        ],
    }
    body.update(overrides)
    return body


def account_body(**overrides) -> dict:
    body = {
        "company": "Acme Imports LLC",
        "country": "US",
        "email": "buyer@acme.example",
        "currency": "USD",
        "language": "en-US",
        "payment_terms": "prepaid",
    }
    body.update(overrides)
    return body


def quote_body(account_id: str, **overrides) -> dict:
    body = {
        "account_id": account_id,
        "currency": "USD",
        "incoterm": "FOB",
        "named_place": "Hamburg",
        "destination_country": "US",
        "lines": [{"sku": "PUMP-100", "quantity": 10}],
    }
    body.update(overrides)
    return body


def assert_problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    if field is not None:
        assert problem.get("field") == field, problem
    return problem


async def sales_events(svc: RunningService, expect: int) -> list[CloudEvent]:
    records = await read_all(svc.settings.kafka_bootstrap_servers, svc.settings.topic("sales"), expect=expect)
    return [CloudEvent.from_json(r.value) for r in records]


async def post(svc: RunningService, path: str, body: dict | None = None, role: str = "sales"):
    return await svc.client.post(f"{BASE}{path}", json=body, headers=svc.auth(role))


async def get(svc: RunningService, path: str, role: str = "sales", **params):
    return await svc.client.get(f"{BASE}{path}", params=params, headers=svc.auth(role))


async def created(svc: RunningService, path: str, body: dict) -> dict:
    response = await post(svc, path, body)
    assert response.status_code == 201, response.text
    return response.json()


async def place_order(svc: RunningService, sku: str = "PUMP-100", **account) -> dict:
    """A product (once), an account and an FOB quote, accepted: the placed order."""
    if (await get(svc, f"/products/{sku}")).status_code == 404:
        await created(svc, "/products", product_body(sku=sku))
    acc = await created(svc, "/accounts", account_body(**account))
    quote = await created(svc, "/quotes", quote_body(acc["id"], lines=[{"sku": sku, "quantity": 10}]))
    return await created(svc, f"/quotes/{quote['id']}/accept", {})


async def test_catalogue_accounts_and_quotes_with_bad_input(settings, monkeypatch):
    async with run_service("sales", settings) as svc:
        # -- auth
        assert_problem(await svc.client.post(f"{BASE}/products", json=product_body()), 401)
        assert_problem(await post(svc, "/products", product_body(), role="marketing"), 403)
        assert_problem(await svc.client.get(f"{BASE}/products"), 401)
        assert_problem(await post(svc, "/accounts", account_body(), role="finance"), 403)
        assert_problem(await get(svc, "/quotes", role="partner"), 403)

        # -- products
        product = await created(svc, "/products", product_body())
        assert product["hs_code"] == "841370"
        assert product["unit_price"] == {"amount": "250.00", "currency": "EUR"}
        assert [t["min_quantity"] for t in product["price_tiers"]] == [10, 50]
        assert product["dimensions_cm"] == {"length": "40.00", "width": "30.00", "height": "25.00"}
        assert_problem(await post(svc, "/products", product_body(name="Another")), 409, "sku")
        for overrides, field in [
            ({"sku": "has space"}, "sku"),
            ({"sku": "x" * 65}, "sku"),
            ({"name": "Pump\x00"}, "name"),
            ({"hs_code": "84"}, "hs_code"),
            ({"origin_country": "XX"}, "origin_country"),
            ({"unit_price": {"amount": 250.0, "currency": "EUR"}}, "unit_price.amount"),
            ({"unit_price": {"amount": "0", "currency": "EUR"}}, "unit_price.amount"),
            ({"unit_price": {"amount": "1.001", "currency": "EUR"}}, "unit_price"),
            ({"unit_price": {"amount": "1", "currency": "EURO"}}, "unit_price.currency"),
            ({"unit_weight_kg": "-1"}, "unit_weight_kg"),
            ({"moq": 0}, "moq"),
            ({"dimensions_cm": {"length": "0", "width": "1", "height": "1"}}, "dimensions_cm.length"),
            (
                {"price_tiers": [{"min_quantity": 5, "unit_price": {"amount": "9", "currency": "USD"}}]},
                "price_tiers.0.unit_price.currency",
            ),
            (
                {
                    "price_tiers": [
                        {"min_quantity": 5, "unit_price": {"amount": "9", "currency": "EUR"}},
                        {"min_quantity": 5, "unit_price": {"amount": "8", "currency": "EUR"}},
                    ]
                },
                "price_tiers.1.min_quantity",
            ),
        ]:
            response = await post(svc, "/products", product_body(**{"sku": "BAD-1", **overrides}))
            assert_problem(response, 422, field)
        bad_json = await svc.client.post(
            f"{BASE}/products", content=b"{not json", headers={**svc.auth("sales"), "content-type": "application/json"}
        )
        assert_problem(bad_json, 400)
        await created(svc, "/products", product_body(sku="VALVE-7", moq=1, price_tiers=[], dimensions_cm=None))
        listing = (await get(svc, "/products", role="logistics", limit=1)).json()
        assert [p["sku"] for p in listing["items"]] == ["PUMP-100"]
        rest = (await get(svc, "/products", role="marketing", cursor=listing["next_cursor"])).json()
        assert [p["sku"] for p in rest["items"]] == ["VALVE-7"] and rest["next_cursor"] is None
        assert_problem(await get(svc, "/products/BAD-1"), 404)
        assert_problem(await get(svc, "/products", cursor="__4"), 422, "cursor")

        # -- accounts
        de = await created(
            svc, "/accounts", account_body(country="DE", currency="EUR", vat_id="DE 136 695 976", language="de")
        )
        assert (de["vat_id"], de["vat_id_valid"], de["lead_id"]) == ("DE136695976", True, None)
        us = await created(svc, "/accounts", account_body(vat_id="12-3456789"))
        assert (us["vat_id"], us["vat_id_valid"]) == ("12-3456789", False)
        for overrides, field in [
            ({"country": "DE", "vat_id": "DE136695977"}, "vat_id"),
            ({"country": "FR", "vat_id": "DE136695976"}, "vat_id"),
            ({"email": "not-an-email"}, "email"),
            ({"country": "Germany"}, "country"),
            ({"currency": "XYZ"}, "currency"),
            ({"payment_terms": "net_90"}, "payment_terms"),
            ({"language": "xx-nope-nope"}, "language"),
            ({"company": " "}, "company"),
            ({"company": "Acme\x00"}, "company"),
            ({"country": "US", "vat_id": "12\x00"}, "vat_id"),
        ]:
            assert_problem(await post(svc, "/accounts", account_body(**overrides)), 422, field)
        accounts = (await get(svc, "/accounts")).json()["items"]
        assert {a["id"] for a in accounts} == {de["id"], us["id"]}, "refused accounts left nothing behind"
        assert (await get(svc, f"/accounts/{us['id']}")).json()["email"] == "buyer@acme.example"
        assert_problem(await get(svc, "/accounts/acc_nope"), 404)
        assert_problem(await get(svc, "/accounts/acc%00"), 422, "path.account_id")
        assert_problem(await get(svc, "/accounts", lead_id="\x00"), 422, "query.lead_id")
        assert (await get(svc, "/accounts", lead_id="lead-unknown")).json()["items"] == []

        # -- quotes: FOB in USD for a EUR catalogue, tier price for 10
        quote = await created(svc, "/quotes", quote_body(us["id"]))
        fx = ecb_rate("EUR", "USD")
        unit = round_money(Decimal("230.00") * fx.rate, "USD")
        assert quote["status"] == "issued"
        assert quote["mode"] == "sea"
        assert quote["lines"][0]["unit_price"] == str(unit)
        assert quote["lines"][0]["amount"] == str(unit * 10)
        assert quote["subtotal"] == quote["total"] == {"amount": str(unit * 10), "currency": "USD"}
        assert quote.get("freight") is None and quote.get("insurance") is None
        assert quote["fx"] == [
            {"base": "EUR", "quote": "USD", "rate": format(fx.rate, "f"), "rate_date": fx.rate_date.isoformat()}
        ]
        assert quote["valid_until"].endswith("Z") or quote["valid_until"].endswith("+00:00")
        eur_exw = await created(
            svc,
            "/quotes",
            quote_body(
                de["id"],
                currency="EUR",
                incoterm="exw",
                destination_country="AT",
                lines=[{"sku": "PUMP-100", "quantity": 50}],
            ),
        )
        assert (eur_exw["incoterm"], eur_exw["mode"], eur_exw["fx"]) == ("EXW", "road", [])
        assert eur_exw["total"] == {"amount": "10500.00", "currency": "EUR"}

        for overrides, field in [
            ({"lines": [{"sku": "PUMP-100", "quantity": 1}]}, "lines.0.quantity"),
            ({"lines": [{"sku": "VALVE-7", "quantity": 1}, {"sku": "NOPE", "quantity": 1}]}, "lines.1.sku"),
            ({"lines": [{"sku": "VALVE-7", "quantity": 0}]}, "lines.0.quantity"),
            ({"lines": []}, "lines"),
            ({"account_id": "acc_missing"}, "account_id"),
            ({"incoterm": "DAT"}, "incoterm"),
            ({"incoterm": "CIF", "mode": "air"}, "mode"),
            ({"mode": "rail"}, "mode"),
            ({"currency": "ABC"}, "currency"),
            ({"currency": "ARS"}, "currency"),  # no ECB rate to convert the EUR catalogue
            ({"destination_country": "ZZ"}, "destination_country"),
            ({"named_place": ""}, "named_place"),
            ({"account_id": "acc\x00"}, "account_id"),
            ({"lines": [{"sku": "PUMP\x00", "quantity": 10}]}, "lines.0.sku"),
        ]:
            assert_problem(await post(svc, "/quotes", {**quote_body(us["id"]), **overrides}), 422, field)

        # Seller pays carriage but logistics is down: 503 naming logistics, nothing saved.
        monkeypatch.setenv("HANSE_LOGISTICS_URL", f"http://127.0.0.1:{free_port()}")
        problem = assert_problem(await post(svc, "/quotes", quote_body(us["id"], incoterm="CPT")), 503)
        assert problem["service"] == "logistics" and "logistics" in problem["detail"]

        quotes = (await get(svc, "/quotes", account_id=us["id"])).json()["items"]
        assert [q["id"] for q in quotes] == [quote["id"]], "refused quotes left nothing behind"
        assert (await get(svc, f"/quotes/{quote['id']}")).json() == quote
        assert_problem(await get(svc, "/quotes/quo_nope"), 404)
        assert_problem(await post(svc, "/quotes/quo_nope/accept"), 404)

        events = await sales_events(svc, expect=6)
    types = [e.type for e in events]
    assert types.count("sales.product.created.v1") == 2
    assert types.count("sales.account.created.v1") == 2
    assert types.count("sales.quote.issued.v1") == 2
    issued = next(e for e in events if e.type == "sales.quote.issued.v1" and e.subject == quote["id"])
    assert issued.data["total"] == quote["total"] and issued.data["mode"] == "sea"
    assert issued.data["fx"][0]["rate"] == format(fx.rate, "f")


async def test_accepting_a_quote_places_the_order_exactly_once(settings):
    async with run_service("sales", settings) as svc:
        await created(svc, "/products", product_body())
        acc = await created(svc, "/accounts", account_body(country="DE", currency="EUR", vat_id="DE136695976"))
        quote = await created(svc, "/quotes", quote_body(acc["id"], currency="EUR", destination_country="DE"))
        assert_problem(await post(svc, f"/quotes/{quote['id']}/accept", role="finance"), 403)

        order = await created(svc, f"/quotes/{quote['id']}/accept", {})
        assert (order["status"], order["quote_id"], order["account_id"]) == ("placed", quote["id"], acc["id"])
        assert order["total"] == quote["total"] == {"amount": "2300.00", "currency": "EUR"}
        assert order["lines"][0]["hs_code"] == "841370" and order["lines"][0]["name"].startswith("Centrifugal")
        assert [h["status"] for h in order["history"]] == ["placed"]
        assert order["paid"] is False and order["payment_terms"] == "prepaid"
        again = assert_problem(await post(svc, f"/quotes/{quote['id']}/accept"), 409)
        assert again["order_id"] == order["id"]
        assert (await get(svc, f"/quotes/{quote['id']}")).json()["status"] == "accepted"

        # Two accepts at once: one order, one 409.
        racing = await created(svc, "/quotes", quote_body(acc["id"], currency="EUR"))
        answers = await asyncio.gather(*(post(svc, f"/quotes/{racing['id']}/accept") for _ in range(2)))
        assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
        orders = (await get(svc, "/orders", role="compliance", account_id=acc["id"])).json()["items"]
        assert sorted(o["quote_id"] for o in orders) == sorted([quote["id"], racing["id"]])

        # An expired quote cannot be accepted.
        stale = await created(svc, "/quotes", quote_body(acc["id"], currency="EUR"))
        async with svc.runtime.db.engine.begin() as conn:  # time passes: the quote's validity ends
            past = utcnow() - timedelta(minutes=1)
            await conn.execute(update(Quote).where(Quote.id == stale["id"]).values(valid_until=past))
        assert (await get(svc, f"/quotes/{stale['id']}")).json()["status"] == "expired"
        assert_problem(await post(svc, f"/quotes/{stale['id']}/accept"), 409, "valid_until")

        assert (await get(svc, f"/orders/{order['id']}", role="partner")).json() == order
        assert_problem(await get(svc, f"/orders/{order['id']}", role="marketing"), 403)
        assert_problem(await get(svc, "/orders/ord_nope"), 404)
        assert_problem(await get(svc, "/orders", status="lost"), 422, "query.status")
        placed = (await get(svc, "/orders", role="finance", status="placed", limit=1)).json()
        assert len(placed["items"]) == 1 and placed["next_cursor"]

        events = await sales_events(svc, expect=9)
    placed_events = [e for e in events if e.type == "sales.order.placed.v1"]
    assert len(placed_events) == 2, "two orders, each placed once"
    first = next(e for e in placed_events if e.subject == order["id"])
    assert first.correlationid == order["id"]
    terms = OrderPlaced.model_validate(first.data).order
    assert (terms.order_id, terms.quote_id, terms.account_id) == (order["id"], quote["id"], acc["id"])
    assert (terms.company, terms.email, terms.buyer_country) == ("Acme Imports LLC", "buyer@acme.example", "DE")
    assert (terms.vat_id, terms.vat_id_valid, terms.lead_id) == ("DE136695976", True, None)
    assert (terms.incoterm, terms.named_place, terms.destination_country, terms.mode) == ("FOB", "Hamburg", "DE", "sea")
    assert terms.payment_terms == "prepaid" and terms.currency == "EUR"
    line = terms.lines[0]
    assert (line.sku, line.quantity, line.unit_price, line.hs_code, line.origin_country) == (
        "PUMP-100",
        10,
        Decimal("230.00"),
        "841370",
        "DE",
    )
    assert line.unit_weight_kg == Decimal("12.5") and line.name == "Centrifugal pump 100 l/min"
    assert terms.subtotal.amount == terms.total.amount == Decimal("2300.00")
    changed = [e for e in events if e.type == "sales.order.status_changed.v1" and e.subject == order["id"]]
    assert [(e.data["status"], e.correlationid) for e in changed] == [("placed", order["id"])]


async def test_seller_paid_carriage_is_priced_by_logistics_with_insurance_for_cif(settings, tmp_path, monkeypatch):
    logistics_settings = make_settings(
        settings.kafka_bootstrap_servers, f"sqlite+aiosqlite:///{tmp_path / 'logistics.db'}"
    )
    logistics = importlib.import_module("services.logistics.app").build(logistics_settings)
    async with serve_on_port(logistics, free_port()) as url, run_service("sales", settings) as svc:
        monkeypatch.setenv("HANSE_LOGISTICS_URL", url)
        await created(svc, "/products", product_body())
        acc = await created(svc, "/accounts", account_body())
        cif = await created(svc, "/quotes", quote_body(acc["id"], incoterm="CIF", named_place="New York"))
        # The same request straight to logistics gives the freight on the quote.
        async with httpx.AsyncClient(base_url=url) as client:
            rate = await client.post(
                "/api/v1/logistics/rates",
                json={
                    "destination_country": "US",
                    "mode": "sea",
                    "weight_kg": "125.000",
                    "volume_m3": "0.300000",
                    "currency": "USD",
                    "origin_country": "DE",
                },
                headers=svc.auth("sales"),
            )
        assert rate.status_code == 200, rate.text
        freight = Decimal(rate.json()["price"]["amount"])
        goods = Decimal(cif["subtotal"]["amount"])
        insurance = round_money((goods + freight) * Decimal("1.10") * Decimal("0.003"), "USD")
        assert cif["freight"] == {"amount": str(round_money(freight, "USD")), "currency": "USD"}
        assert cif["insurance"] == {"amount": str(insurance), "currency": "USD"}
        assert Decimal(cif["total"]["amount"]) == goods + freight + insurance
        assert cif["mode"] == "sea"
        dap = await created(svc, "/quotes", quote_body(acc["id"], incoterm="DAP", named_place="Chicago"))
        assert (dap["mode"], dap.get("insurance")) == ("air", None)
        assert Decimal(dap["freight"]["amount"]) > 0
        assert Decimal(dap["total"]["amount"]) == goods + Decimal(dap["freight"]["amount"])
        order = await created(svc, f"/quotes/{cif['id']}/accept", {})
        assert order["freight"] == cif["freight"] and order["insurance"] == cif["insurance"]
        assert order["total"] == cif["total"]
