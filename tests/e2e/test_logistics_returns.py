"""Issue 14 through the gateway: customs data and the papers of a DDP order to the US and an EU order,
a signed carrier event delivering the shipment (a tampered one changes nothing), a return of part
of the order restocking its unit and credited by finance, then of the rest."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

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

    # A return of part of the order: its unit restocked, a credit note for it; the rest still to come.
    first = await returned(api, order["id"], sku, restock=1, scrap=0)
    assert (await api.stock(sku))["on_hand"] == 9
    fulfilment = await api.get(f"/logistics/orders/{order['id']}")
    assert fulfilment["returned"] is False, "one of two units came back"
    too_many = await api.call(
        "POST",
        "/logistics/returns",
        422,
        json={"order_id": order["id"], "lines": [{"sku": sku, "quantity": 2}], "reason": "again"},
    )
    assert too_many.json()["field"] == "lines.0.quantity"
    # The last unit comes back broken: scrapped, not on hand, yet credited (the buyer returned it).
    second = await returned(api, order["id"], sku, restock=0, scrap=1)
    assert (await api.stock(sku))["on_hand"] == 9
    fulfilment = await api.get(f"/logistics/orders/{order['id']}")
    assert [r["rma_number"] for r in fulfilment["returns"]] == [first["rma_number"], second["rma_number"]]
    assert fulfilment["returned"] is True

    # Finance credits each return: received quantity x the invoiced unit price, plus the tax as invoiced.
    invoices = await api.items("/finance/invoices", order_id=order["id"])
    [invoice] = [i for i in invoices if i["kind"] == "commercial"]
    [line] = invoice["lines"]
    assert line["unit_price"] == {"amount": "100.00", "currency": "EUR"}
    rate = Decimal(invoice["vat_rate"])
    assert rate > 0, "a French buyer without a VAT id pays VAT: the credit must carry it back"
    tax = (Decimal("100.00") * rate).quantize(Decimal("0.01"))  # the freight stays invoiced, not credited

    async def credit_notes():
        found = await api.items("/finance/invoices", order_id=order["id"])
        notes = [i for i in found if i["kind"] == "credit_note"]
        return notes if len(notes) == 2 else None

    notes = {n["return_id"]: n for n in await api.eventually(credit_notes, "finance to credit both returns")}
    for rma in (first, second):
        note = notes[rma["id"]]
        assert note["credited_invoice_id"] == invoice["id"] and note["status"] == "issued"
        assert note["subtotal"] == {"amount": "-100.00", "currency": "EUR"}
        assert note["tax"] == {"amount": f"{-tax:.2f}", "currency": "EUR"}
        assert note["total"] == {"amount": f"{-(Decimal('100.00') + tax):.2f}", "currency": "EUR"}


async def returned(api: Gateway, order_id: str, sku: str, *, restock: int, scrap: int) -> dict:
    """One unit returned: requested, authorised, received and inspected."""
    body = {"order_id": order_id, "lines": [{"sku": sku, "quantity": restock + scrap}], "reason": "wrong size"}
    rma = await api.post("/logistics/returns", body)
    assert rma["status"] == "requested"
    await api.call("POST", f"/logistics/returns/{rma['id']}/authorize", 200)
    await api.call("POST", f"/logistics/returns/{rma['id']}/receive", 200)
    result = {"lines": [{"sku": sku, "restock": restock, "scrap": scrap}]}
    await api.call("POST", f"/logistics/returns/{rma['id']}/inspect", 200, json=result)
    return rma
