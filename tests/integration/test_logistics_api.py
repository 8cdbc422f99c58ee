"""Logistics HTTP API: warehouses, receipts, stock, freight rates; roles and bad input."""

from __future__ import annotations

from decimal import Decimal

from hanse.money import ecb_rate
from tests.integration.test_logistics_support import of_type, open_warehouse, published, receive, stock
from tests.support.service import run_service

API = "/api/v1/logistics"
PROBLEM = "application/problem+json"


def assert_problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    if field is not None:
        assert body.get("field") == field, body
    return body


async def test_every_route_needs_a_token_and_the_right_role_and_freight_is_priced(settings):
    async with run_service("logistics", settings) as svc:
        c = svc.client
        routes = [
            ("POST", f"{API}/warehouses", {"code": "X", "name": "X", "country": "DE"}, "marketing"),
            ("GET", f"{API}/warehouses", None, "marketing"),
            ("GET", f"{API}/warehouses/HAM", None, "partner"),
            ("POST", f"{API}/stock/receipts", {"sku": "A", "warehouse": "HAM", "quantity": 1}, "sales"),
            ("GET", f"{API}/stock/A", None, "marketing"),
            ("GET", f"{API}/orders/o-1", None, "partner"),
            ("POST", f"{API}/rates", {"destination_country": "FR", "mode": "road", "weight_kg": 1}, "finance"),
            ("GET", f"{API}/shipments", None, "marketing"),
            ("GET", f"{API}/shipments/s-1", None, "marketing"),
            ("POST", f"{API}/shipments/s-1/tracking", {"status": "picked_up"}, "sales"),
        ]
        for method, path, body, wrong_role in routes:
            anonymous = await c.request(method, path, json=body)
            assert_problem(anonymous, 401)
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
            forged = await c.request(method, path, json=body, headers={"Authorization": "Bearer not-a-jwt"})
            assert_problem(forged, 401)
            forbidden = await c.request(method, path, json=body, headers=svc.auth(wrong_role))
            assert_problem(forbidden, 403)
        # Nothing was created by any refused request.
        listing = await c.get(f"{API}/warehouses", headers=svc.auth("admin"))
        assert listing.json() == {"items": [], "next_cursor": None}

        air = await c.post(
            f"{API}/rates",
            json={"destination_country": "cn", "mode": "air", "weight_kg": "100", "volume_m3": "1"},
            headers=svc.auth("sales"),
        )
        assert air.status_code == 200, air.text
        quote = air.json()
        assert quote["zone"] == "asia" and quote["origin_country"] == "DE" and quote["currency"] == "EUR"
        assert quote["actual_weight_kg"] == "100.000"
        assert quote["volumetric_weight_kg"] == "166.667"
        assert quote["chargeable_weight_kg"] == "166.667"
        # The cheapest carrier for the mode: DB Schenker 166.667 × 2.60 beats Lufthansa Cargo × 2.70.
        assert quote["price"] == {"amount": "433.33", "currency": "EUR"}
        assert (quote["carrier"], quote["carrier_name"]) == ("db-schenker", "DB Schenker")
        assert quote["rate_per_kg"] == {"amount": "2.60", "currency": "EUR"}
        assert quote["minimum_charge"] == {"amount": "190.00", "currency": "EUR"}
        # A named carrier is priced with its own table.
        named = await c.post(
            f"{API}/rates",
            json={
                "destination_country": "CN",
                "mode": "air",
                "weight_kg": "100",
                "volume_m3": "1",
                "carrier": "lufthansa-cargo",
            },
            headers=svc.auth("sales"),
        )
        assert named.status_code == 200, named.text
        assert named.json()["price"] == {"amount": "450.00", "currency": "EUR"}
        assert named.json()["carrier"] == "lufthansa-cargo"

        # A JSON number is accepted as a weight; small parcels pay the minimum; USD via ECB.
        courier = await c.post(
            f"{API}/rates",
            json={"destination_country": "US", "mode": "courier", "weight_kg": 0.5, "currency": "usd"},
            headers=svc.auth("logistics"),
        )
        assert courier.status_code == 200, courier.text
        usd = courier.json()
        expected = (Decimal("45.00") * ecb_rate("EUR", "USD").rate).quantize(Decimal("0.01"))
        assert usd["price"] == {"amount": str(expected), "currency": "USD"}
        assert usd["fx"]["rate"] == str(ecb_rate("EUR", "USD").rate)

        domestic = await c.post(
            f"{API}/rates",
            json={
                "destination_country": "FR",
                "origin_country": "FR",
                "mode": "road",
                "weight_kg": "1000",
                "volume_m3": "4",
            },
            headers=svc.auth("admin"),
        )
        assert domestic.json()["zone"] == "domestic"
        assert domestic.json()["chargeable_weight_kg"] == "1332.000"

        sales = svc.auth("sales")
        for bad, field in [
            ({"destination_country": "XX", "mode": "air", "weight_kg": "1"}, "destination_country"),
            ({"mode": "air", "weight_kg": "1"}, "destination_country"),
            ({"destination_country": "CN", "mode": "rail", "weight_kg": "1"}, "mode"),
            ({"destination_country": "CN", "mode": "road", "weight_kg": "1"}, "mode"),
            ({"destination_country": "CN", "mode": "air", "weight_kg": "0"}, "weight_kg"),
            ({"destination_country": "CN", "mode": "air", "weight_kg": "-2"}, "weight_kg"),
            ({"destination_country": "CN", "mode": "air", "weight_kg": "abc"}, "weight_kg"),
            ({"destination_country": "CN", "mode": "air", "weight_kg": "NaN"}, "weight_kg"),
            ({"destination_country": "CN", "mode": "air", "weight_kg": True}, "weight_kg"),
            ({"destination_country": "CN", "mode": "air"}, "weight_kg"),
            ({"destination_country": "CN", "mode": "air", "weight_kg": "1", "volume_m3": "-1"}, "volume_m3"),
            ({"destination_country": "CN", "mode": "air", "weight_kg": "1", "currency": "XYZ"}, "currency"),
            ({"destination_country": "CN", "mode": "air", "weight_kg": "1", "currency": "ZWL"}, "currency"),
            ({"destination_country": "CN", "mode": "air", "weight_kg": "1", "origin_country": "ZZ"}, "origin_country"),
            ({"destination_country": "CN", "mode": "air", "weight_kg": "1", "carrier": "pigeon-post"}, "carrier"),
            ({"destination_country": "CN", "mode": "air", "weight_kg": "1", "carrier": "maersk"}, "carrier"),
            ({"destination_country": "CN", "mode": "air", "weight_kg": "1", "carrier": "DHL Express!"}, "carrier"),
        ]:
            assert_problem(await c.post(f"{API}/rates", json=bad, headers=sales), 422, field)


async def test_warehouses_receipts_and_stock(settings):
    async with run_service("logistics", settings) as svc:
        c, ops = svc.client, svc.auth("logistics")

        created = await c.post(
            f"{API}/warehouses", json={"code": "ham", "name": "Hamburg", "country": "de"}, headers=ops
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert {k: body[k] for k in ("code", "name", "country")} == {"code": "HAM", "name": "Hamburg", "country": "DE"}
        assert body["id"]
        await open_warehouse(svc, "MUC")

        # -- bad warehouse input: 4xx naming the field, nothing created
        duplicate = await c.post(
            f"{API}/warehouses", json={"code": "HAM", "name": "Again", "country": "DE"}, headers=ops
        )
        assert_problem(duplicate, 409, "code")
        for bad, field in [
            ({"code": "HAM2", "name": "X", "country": "XX"}, "country"),
            ({"code": "HAM2", "name": "X", "country": "Germany"}, "country"),
            ({"code": "HAM 2", "name": "X", "country": "DE"}, "code"),
            ({"code": "", "name": "X", "country": "DE"}, "code"),
            ({"code": "HAM2", "country": "DE"}, "name"),
            ({"code": "HAM2", "name": "", "country": "DE"}, "name"),
            ({"code": "HAM2", "name": "X", "country": "DE", "extra": 1}, "extra"),
            ({"code": 7, "name": "X", "country": "DE"}, "code"),
        ]:
            assert_problem(await c.post(f"{API}/warehouses", json=bad, headers=ops), 422, field)
        malformed = await c.post(
            f"{API}/warehouses", content=b"{nope", headers={**ops, "content-type": "application/json"}
        )
        assert_problem(malformed, 400)

        listing = await c.get(f"{API}/warehouses", params={"limit": 1}, headers=svc.auth("sales"))
        assert listing.status_code == 200
        page = listing.json()
        assert [w["code"] for w in page["items"]] == ["HAM"] and page["next_cursor"]
        rest = await c.get(f"{API}/warehouses", params={"cursor": page["next_cursor"]}, headers=ops)
        assert [w["code"] for w in rest.json()["items"]] == ["MUC"]
        assert (await c.get(f"{API}/warehouses/muc", headers=svc.auth("finance"))).json()["code"] == "MUC"
        assert_problem(await c.get(f"{API}/warehouses/NOPE", headers=ops), 404)
        assert_problem(await c.get(f"{API}/warehouses", params={"limit": 0}, headers=ops), 422, "query.limit")

        # -- stock: never received → 404; receipts add up per warehouse
        assert_problem(await c.get(f"{API}/stock/SKU-1", headers=ops), 404, "sku")
        first = await receive(svc, "SKU-1", 7, "HAM")
        assert {k: first[k] for k in ("sku", "warehouse", "quantity")} == {
            "sku": "SKU-1",
            "warehouse": "HAM",
            "quantity": 7,
        }
        assert first["id"] and first["received_at"].endswith(("Z", "+00:00"))
        await receive(svc, "SKU-1", 5, "muc")
        await receive(svc, "SKU-1", 1, "HAM")
        view = await stock(svc, "SKU-1")
        assert view == {
            "sku": "SKU-1",
            "on_hand": 13,
            "reserved": 0,
            "available": 13,
            "warehouses": [
                {"warehouse": "HAM", "on_hand": 8, "reserved": 0, "available": 8},
                {"warehouse": "MUC", "on_hand": 5, "reserved": 0, "available": 5},
            ],
        }
        for role in ("sales", "compliance", "finance"):
            assert (await c.get(f"{API}/stock/SKU-1", headers=svc.auth(role))).status_code == 200

        # -- bad receipts: named field, stock unchanged, nothing published for them
        for bad, status, field in [
            ({"sku": "SKU-1", "warehouse": "NOPE", "quantity": 1}, 422, "warehouse"),
            ({"sku": "SKU-1", "warehouse": "HAM", "quantity": 0}, 422, "quantity"),
            ({"sku": "SKU-1", "warehouse": "HAM", "quantity": -3}, 422, "quantity"),
            ({"sku": "SKU-1", "warehouse": "HAM", "quantity": "3"}, 422, "quantity"),
            ({"sku": "SKU-1", "warehouse": "HAM", "quantity": 2.5}, 422, "quantity"),
            ({"sku": "SKU-1", "warehouse": "HAM", "quantity": 10**12}, 422, "quantity"),
            ({"sku": "bad sku", "warehouse": "HAM", "quantity": 1}, 422, "sku"),
            ({"sku": "x" * 65, "warehouse": "HAM", "quantity": 1}, 422, "sku"),
            ({"warehouse": "HAM", "quantity": 1}, 422, "sku"),
            ({"sku": "SKU-1", "quantity": 1}, 422, "warehouse"),
        ]:
            response = await c.post(f"{API}/stock/receipts", json=bad, headers=ops)
            assert_problem(response, status, field)
        assert (await stock(svc, "SKU-1"))["on_hand"] == 13
        assert_problem(await c.get(f"{API}/stock/bad%20sku", headers=ops), 422, "path.sku")
        assert_problem(await c.get(f"{API}/orders/unknown-order", headers=ops), 404, "order_id")

        events = await published(svc, expect=3)
        received = of_type(events, "stock.received")
        assert [(e.data["warehouse"], e.data["quantity"]) for e in received] == [("HAM", 7), ("MUC", 5), ("HAM", 1)]
        assert all(e.subject == "SKU-1" for e in received)
