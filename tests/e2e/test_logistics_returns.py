"""Issue 14 through the gateway: customs data and the papers of a DDP order to the US and an EU order,
a signed carrier event delivering the shipment (a tampered one changes nothing), a partial return
restocking its units."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pypdf
import pytest

from services.logistics.domain import carriers
from tests.e2e.conftest import Platform
from tests.e2e.flow import Gateway, unique

pytestmark = pytest.mark.e2e


@pytest.fixture
async def api(platform: Platform) -> AsyncIterator[Gateway]:
    gateway = Gateway(platform)
    yield gateway
    await gateway.close()


async def shipped_order(api: Gateway, sku: str, quantity: int, **terms) -> tuple[dict, dict]:
    account = await api.account(unique("Docks"), country=terms.get("destination", "FR"))
    order = await api.place_order(account, sku, quantity, **terms)
    await api.order_reaches(order["id"], "ready_to_ship")
    [shipment] = await api.shipments(order["id"])
    return order, await api.get(f"/logistics/shipments/{shipment['id']}")


async def test_papers_signed_carrier_events_and_a_partial_return_through_the_gateway(platform: Platform, api: Gateway):
    sku, _ = await api.stocked_product(10, price="100.00", weight="12.5")
    product = await api.get(f"/sales/products/{sku}")
    hs_code, origin = product["hs_code"], product["origin_country"]

    for terms in ({"incoterm": "DDP", "destination": "US", "named_place": "New York"}, {"destination": "FR"}):
        order, shipment = await shipped_order(api, sku, 2, **terms)
        customs = shipment["customs"]
        (line,) = customs["lines"]
        # The product's HS code and origin travelled from the catalogue through the order.
        assert (line["sku"], line["hs_code"], line["origin_country"], line["quantity"]) == (sku, hs_code, origin, 2)
        assert line["net_weight_kg"] == "25.000" and line["value"]["amount"] == "200.00"
        assert customs["incoterm"] == terms.get("incoterm", "DAP")
        # Every paper compliance lists exists before the pick-up; each carries the product's data.
        docs = await api.items(f"/logistics/shipments/{shipment['id']}/documents")

        async def ready(shipment_id=shipment["id"]):
            found = await api.items(f"/logistics/shipments/{shipment_id}/documents")
            return all(d["exists"] for d in found) or None

        await api.eventually(ready, "the documents compliance requires exist")
        kinds = {d["kind"] for d in docs} | {"packing_list", "certificate_of_origin"}
        for kind in sorted(kinds - {"export_licence"}):
            pdf = await api.call("GET", f"/logistics/shipments/{shipment['id']}/documents/{kind}", 200)
            assert pdf.headers["content-type"] == "application/pdf"
            text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
            assert hs_code in text and sku in text and origin in text, kind

    # The last (EU) order: its carrier signs its tracking events; the route is public at the gateway.
    carrier = shipment["carrier"]
    secret = (platform.data_dir / f"carrier-secret-{carrier}").read_text().strip()
    url = f"{platform.gateway}/api/v1/logistics/carriers/{carrier}/events"
    t0 = datetime.now(UTC) - timedelta(hours=2)

    def event(status: str, at: datetime) -> bytes:
        return json.dumps(
            {"tracking_number": shipment["tracking_number"], "status": status, "at": at.isoformat()}
        ).encode()

    async with httpx.AsyncClient(timeout=30) as public:
        picked = event("picked_up", t0)
        tampered = await public.post(
            url, content=picked, headers={carriers.HEADER: carriers.sign(secret, event("delivered", t0))}
        )
        assert tampered.status_code == 401, tampered.text
        assert (await api.get(f"/logistics/shipments/{shipment['id']}"))["status"] == "booked"
        for status, at in (("picked_up", t0), ("DLV", t0 + timedelta(hours=1))):
            body = event(status, at)
            answer = await public.post(url, content=body, headers={carriers.HEADER: carriers.sign(secret, body)})
            assert answer.status_code == 202, answer.text
    assert (await api.get(f"/logistics/shipments/{shipment['id']}"))["status"] == "delivered"
    await api.order_reaches(order["id"], "delivered", "completed")
    assert (await api.stock(sku))["on_hand"] == 8, "the EU order left; the US order waits"

    # A partial return: one unit restocked, one scrapped; the order lists it.
    rma = await api.post(
        "/logistics/returns", {"order_id": order["id"], "lines": [{"sku": sku, "quantity": 2}], "reason": "wrong size"}
    )
    assert rma["status"] == "requested"
    too_many = await api.call(
        "POST",
        "/logistics/returns",
        422,
        json={"order_id": order["id"], "lines": [{"sku": sku, "quantity": 1}], "reason": "again"},
    )
    assert too_many.json()["field"] == "lines.0.quantity"
    await api.call("POST", f"/logistics/returns/{rma['id']}/authorize", 200)
    await api.call("POST", f"/logistics/returns/{rma['id']}/receive", 200)
    await api.call(
        "POST", f"/logistics/returns/{rma['id']}/inspect", 200, json={"lines": [{"sku": sku, "restock": 1, "scrap": 1}]}
    )
    assert (await api.stock(sku))["on_hand"] == 9
    fulfilment = await api.get(f"/logistics/orders/{order['id']}")
    assert [r["rma_number"] for r in fulfilment["returns"]] == [rma["rma_number"]] and fulfilment["returned"] is True
