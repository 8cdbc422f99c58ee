"""The cross-department order flow through the gateway, on the real platform (PRODUCT.md's golden path)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import ROUND_HALF_UP, Decimal

import httpx
import pytest

from tests.e2e.conftest import Platform
from tests.e2e.flow import Gateway, flow_events, statuses, unique

pytestmark = pytest.mark.e2e

CONFIRMED = ("confirmed", "ready_to_ship")  # a net_30 order is booked at once after its reservation

# What each department's reaction names as its cause (`causationid` is the id of an event of this type).
CAUSED_BY = {
    "compliance.screening.completed.v1": "sales.order.placed.v1",
    "compliance.order.cleared.v1": "sales.order.placed.v1",
    "compliance.documents.required.v1": "sales.order.placed.v1",  # published with the clearance
    "logistics.stock.reserved.v1": "compliance.order.cleared.v1",
    "finance.invoice.issued.v1": "compliance.order.cleared.v1",
    "logistics.shipment.booked.v1": "finance.invoice.paid.v1",  # prepaid: booked once the invoice is paid
}
STATUS_CAUSED_BY = {
    "placed": "sales.order.placed.v1",  # the accept request's first event
    "confirmed": "logistics.stock.reserved.v1",
    "ready_to_ship": "logistics.shipment.booked.v1",
    "shipped": "logistics.shipment.dispatched.v1",
    "delivered": "logistics.shipment.delivered.v1",
    "completed": "logistics.shipment.delivered.v1",  # paid before delivery: delivery completes it
}
# A request's first event opens a chain (no causationid); its later events name that first one.
STARTED_BY_A_REQUEST = {
    "sales.order.placed.v1",  # POST /sales/quotes/{id}/accept
    "finance.payment.received.v1",  # POST /finance/payments
    "logistics.shipment.tracked.v1",  # POST /logistics/shipments/{id}/tracking
}
CAUSED_WITHIN_THE_REQUEST = {
    "finance.invoice.paid.v1": "finance.payment.received.v1",
    "logistics.shipment.dispatched.v1": "logistics.shipment.tracked.v1",
    "logistics.shipment.delivered.v1": "logistics.shipment.tracked.v1",
}


@pytest.fixture
async def api(platform: Platform) -> AsyncIterator[Gateway]:
    gateway = Gateway(platform)
    yield gateway
    await gateway.close()


def money(value: dict) -> Decimal:
    return Decimal(value["amount"])


async def test_golden_path_from_campaign_lead_to_completed_order_credits_paid_revenue_to_the_campaign(
    platform: Platform, api: Gateway
):
    sku, _ = await api.stocked_product(10, price="100.00", weight="12.5")
    utm = unique("fair").lower()
    campaign = await api.post(
        "/marketing/campaigns",
        {
            "name": "Hannover Messe",
            "channel": "trade_show",
            "budget": {"amount": "5000.00", "currency": "EUR"},
            "utm_campaign": utm,
        },
    )

    # The public web form: no token.
    company = unique("Brooklyn Pumps") + " Inc"
    form = httpx.post(
        f"{platform.gateway}/api/v1/marketing/leads",
        json={
            "company": company,
            "contact_name": "Jane Roe",
            "email": "jane.roe@example.com",
            "country": "US",
            "language": "en",
            "message": "Quote for three pumps, CIF New York please",
            "utm": {"source": "hannover", "medium": "booth", "campaign": utm.upper()},
            "consent_marketing": True,
        },
    )
    assert form.status_code == 202, form.text
    assert form.json()["status"] == "new"
    lead_id = form.json()["id"]

    async def converted():
        lead = await api.get(f"/marketing/leads/{lead_id}")
        return lead if lead["status"] == "converted" else None

    lead = await api.eventually(converted, "lead screened, qualified and converted")
    assert lead["campaign_id"] == campaign["id"] and lead["account_id"]
    lead_events = [e["type"] for e in await flow_events(platform, lead_id)]
    assert lead_events.index("marketing.lead.qualified.v1") < lead_events.index("marketing.lead.converted.v1")

    accounts = await api.items("/sales/accounts", lead_id=lead_id)
    assert [a["id"] for a in accounts] == [lead["account_id"]]
    account = accounts[0]
    assert account["company"] == company and account["country"] == "US"
    assert account["payment_terms"] == "prepaid" and account["currency"] == "USD"

    # CIF New York: the seller pays sea freight (logistics' rate table) and insures 110 % of the value.
    quote = await api.quote(account["id"], sku, 3, incoterm="CIF", destination="US", currency="USD", named_place="NY")
    assert quote["status"] == "issued" and quote["mode"] == "sea"
    assert [(line["sku"], line["quantity"]) for line in quote["lines"]] == [(sku, 3)]
    rate = await api.post(
        "/logistics/rates",
        {"destination_country": "US", "mode": "sea", "weight_kg": "37.5", "currency": "USD"},
        expect=200,
    )
    assert quote["freight"] == rate["price"] and money(quote["freight"]) > 0
    goods, freight, insurance = money(quote["subtotal"]), money(quote["freight"]), money(quote["insurance"])
    assert insurance == ((goods + freight) * Decimal("1.10") * Decimal("0.003")).quantize(
        Decimal("0.01"), ROUND_HALF_UP
    )
    assert money(quote["total"]) == goods + freight + insurance

    order = await api.post(f"/sales/quotes/{quote['id']}/accept")
    assert order["status"] == "placed" and order["quote_id"] == quote["id"] and order["total"] == quote["total"]
    order_id = order["id"]

    async def cleared():
        checks = await api.items("/compliance/checks", order_id=order_id)
        return checks if checks and checks[0]["result"] == "clear" else None

    [check] = await api.eventually(cleared, "compliance clears the order")
    assert check["subject_type"] == "order" and check["subject_id"] == order_id and check["matches"] == []

    await api.order_reaches(order_id, "confirmed")
    stock = await api.stock(sku)
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (10, 3, 7)

    async def proforma():
        invoices = await api.invoices(order_id)
        return invoices[0] if invoices else None

    invoice = await api.eventually(proforma, "finance issues the proforma invoice")
    assert (invoice["kind"], invoice["status"], invoice["currency"]) == ("proforma", "issued", "USD")
    assert invoice["vat_treatment"] == "export_zero_rated" and money(invoice["tax"]) == 0
    assert invoice["total"] == order["total"]
    assert await api.shipments(order_id) == [], "a prepaid order must not ship before it is paid"

    payment = await api.post(
        "/finance/payments",
        {"invoice_id": invoice["id"], "amount": invoice["total"], "method": "bank_transfer", "reference": "SWIFT 1"},
    )
    assert money(payment["open_amount"]) == 0

    async def paid():
        current = await api.get(f"/finance/invoices/{invoice['id']}")
        return current if current["status"] == "paid" else None

    invoice = await api.eventually(paid, "the invoice is paid")
    [shipment] = await api.eventually(lambda: api.shipments(order_id), "logistics books the shipment")
    assert (shipment["status"], shipment["mode"], shipment["carrier"]) == ("booked", "sea", "maersk")
    assert shipment["tracking_number"]
    await api.order_reaches(order_id, "ready_to_ship")

    await api.documents_ready(shipment["id"])
    for milestone in ({"status": "picked_up", "location": "Hamburg"}, {"status": "in_transit"}):
        await api.post(f"/logistics/shipments/{shipment['id']}/tracking", milestone)
    await api.order_reaches(order_id, "shipped")
    stock = await api.stock(sku)
    assert (stock["on_hand"], stock["reserved"]) == (7, 0), "dispatch moves the reserved units out"
    await api.post(f"/logistics/shipments/{shipment['id']}/tracking", {"status": "delivered", "location": "New York"})
    done = await api.order_reaches(order_id, "completed")
    assert statuses(done) == ["placed", "confirmed", "ready_to_ship", "shipped", "delivered", "completed"]
    assert done["paid"] is True

    # Revenue is the paid total in the base currency, at the rate stored on the invoice.
    revenue = Decimal(invoice["total"]["amount"]) * Decimal(invoice["fx_rate"])
    assert invoice["total_base"] == {"amount": str(revenue.quantize(Decimal("0.01"), ROUND_HALF_UP)), "currency": "EUR"}

    async def credited():
        performance = await api.get(f"/marketing/campaigns/{campaign['id']}/performance")
        return performance if performance["revenue"]["amount"] != "0.00" else None

    performance = await api.eventually(credited, "marketing credits the paid revenue to the campaign")
    assert (performance["leads"], performance["qualified"], performance["orders"]) == (1, 1, 1)
    assert performance["revenue"] == invoice["total_base"]

    await assert_every_event_names_the_order_and_its_cause(platform, order_id)


async def assert_every_event_names_the_order_and_its_cause(platform: Platform, order_id: str) -> None:
    events = await flow_events(platform, order_id)
    types = {e["type"] for e in events}
    expected = {
        "sales.order.placed.v1",
        "compliance.screening.completed.v1",
        "compliance.order.cleared.v1",
        "logistics.stock.reserved.v1",
        "finance.invoice.issued.v1",
        "finance.payment.received.v1",
        "finance.invoice.paid.v1",
        "logistics.shipment.booked.v1",
        "logistics.shipment.tracked.v1",
        "logistics.shipment.dispatched.v1",
        "logistics.shipment.delivered.v1",
        "sales.order.status_changed.v1",
    }
    assert expected <= types, f"missing: {expected - types}"
    by_id = {e["id"]: e for e in events}
    changes = [e["data"]["status"] for e in events if e["type"] == "sales.order.status_changed.v1"]
    assert changes == ["placed", "confirmed", "ready_to_ship", "shipped", "delivered", "completed"]
    for event in events:
        # Finance keys its events by invoice or payment, compliance's screening by subject: all name the order.
        assert event["data"].get("order_id", event["data"].get("subject_id")) == order_id, event
        cause = by_id.get(event.get("causationid"))
        if event["type"] in STARTED_BY_A_REQUEST:
            assert event.get("causationid") is None, event
            continue
        assert cause is not None, f"{event['type']} names no cause in the order's chain: {event}"
        wanted = (
            STATUS_CAUSED_BY[event["data"]["status"]]
            if event["type"] == "sales.order.status_changed.v1"
            # The commercial invoice is issued when the shipment is booked, the proforma on clearance.
            else "logistics.shipment.booked.v1"
            if event["type"] == "finance.invoice.issued.v1" and event["data"]["kind"] == "commercial"
            else {**CAUSED_BY, **CAUSED_WITHIN_THE_REQUEST}[event["type"]]
        )
        assert cause["type"] == wanted, f"{event['type']} caused by {cause['type']}, expected {wanted}"
        assert cause["time"] <= event["time"]


async def test_watchlist_near_match_holds_the_order_until_an_officer_clears_it(platform: Platform, api: Gateway):
    tag = unique("X").split("-")[1]
    await api.post(
        "/compliance/watchlist", {"name": f"Acme Trading {tag}", "country": "DE", "reason": "unpaid invoices 2024"}
    )
    sku, _ = await api.stocked_product(5)
    account = await api.account(f"ACME Tradíng {tag} GmbH", country="DE")
    order = await api.place_order(account, sku, 2, incoterm="DAP", destination="DE", named_place="Munich")

    await api.order_reaches(order["id"], "on_hold")
    [check] = await api.items("/compliance/checks", order_id=order["id"])
    assert (check["result"], check["status"]) == ("review", "open")
    assert check["matches"] and check["matches"][0]["list"] == "watchlist" and check["matches"][0]["score"] >= 88
    assert check["reasons"]
    stock = await api.stock(sku)
    assert stock["reserved"] == 0, "nothing is reserved while the order is held"
    assert await api.invoices(order["id"]) == []

    decided = await api.post(
        f"/compliance/checks/{check['id']}/decision",
        {"decision": "clear", "note": "different company: Munich register HRB 1234"},
        expect=200,
    )
    assert (decided["result"], decided["status"], decided["decision"]) == ("clear", "decided", "clear")
    confirmed = await api.order_reaches(order["id"], *CONFIRMED)
    # Sales hears compliance's clearance and logistics' reservation on two topics, in either order:
    # the order passes through placed again only when the clearance comes first; a clearance that
    # arrives after the reservation is stale and changes nothing (rules.advance).
    path = statuses(confirmed)
    assert path[:4] == ["placed", "on_hold", "placed", "confirmed"] or path[:3] == ["placed", "on_hold", "confirmed"]
    assert (await api.stock(sku))["reserved"] == 2
    # The officer's decision is a request, not a reaction: it opens a new chain with the decided
    # screening, and the clearance names that.
    chain = await flow_events(platform, order["id"])
    events = {e["type"]: e for e in chain}
    by_id = {e["id"]: e for e in chain}
    assert events["compliance.order.held.v1"]["causationid"] == events["sales.order.placed.v1"]["id"]
    decision = by_id[events["compliance.order.cleared.v1"]["causationid"]]
    assert decision["type"] == "compliance.screening.completed.v1" and decision["data"]["decided_by"]
    assert decision.get("causationid") is None
    assert events["logistics.stock.reserved.v1"]["causationid"] == events["compliance.order.cleared.v1"]["id"]
    await api.call(
        "POST", f"/compliance/checks/{check['id']}/decision", 409, json={"decision": "reject", "note": "changed mind"}
    )


async def test_embargoed_destination_rejects_the_order_and_holds_no_stock_and_no_invoice(
    platform: Platform, api: Gateway
):
    sku, _ = await api.stocked_product(5)
    account = await api.account(unique("Dalian Machinery"), country="CN", currency="EUR")
    order = await api.place_order(account, sku, 2, incoterm="FCA", destination="KP", named_place="Hamburg")

    rejected = await api.order_reaches(order["id"], "rejected")
    assert statuses(rejected) == ["placed", "rejected"]
    [check] = await api.items("/compliance/checks", order_id=order["id"])
    assert check["result"] == "blocked" and any("KP" in reason for reason in check["reasons"])

    async def logistics_saw_it():
        fulfilment = await api.get(f"/logistics/orders/{order['id']}")
        return fulfilment if fulfilment["status"] == "rejected" else None

    await api.eventually(logistics_saw_it, "logistics records the rejection")
    stock = await api.stock(sku)
    assert (stock["on_hand"], stock["reserved"]) == (5, 0)
    assert [i for i in await api.invoices(order["id"]) if i["status"] == "issued"] == []
    types = [e["type"] for e in await flow_events(platform, order["id"])]
    assert "compliance.order.rejected.v1" in types
    assert "compliance.order.cleared.v1" not in types and "finance.invoice.issued.v1" not in types
    await api.call("POST", f"/sales/orders/{order['id']}/cancel", 409)


async def test_two_orders_racing_for_the_last_units_confirm_one_and_backorder_the_other(api: Gateway):
    sku, _ = await api.stocked_product(5)
    first = await api.account(unique("Racer A"), country="FR")
    second = await api.account(unique("Racer B"), country="FR")
    quotes = [await api.quote(first, sku, 4), await api.quote(second, sku, 4)]
    accepted = await asyncio.gather(*(api.call("POST", f"/sales/quotes/{q['id']}/accept", 201) for q in quotes))
    orders = [response.json()["id"] for response in accepted]

    finals = await asyncio.gather(*(api.order_reaches(o, "backordered", *CONFIRMED) for o in orders))
    outcomes = sorted("backordered" if o["status"] == "backordered" else "confirmed" for o in finals)
    assert outcomes == ["backordered", "confirmed"]
    for _ in range(10):  # the count must stay put, not just pass once
        stock = await api.stock(sku)
        assert (stock["on_hand"], stock["reserved"]) == (5, 4)
        assert stock["reserved"] <= stock["on_hand"]
        await asyncio.sleep(0.1)
    fulfilment = sorted([(await api.get(f"/logistics/orders/{o}"))["status"] for o in orders])
    assert fulfilment == ["backordered", "reserved"]


async def test_cancel_after_confirmation_releases_the_stock_and_voids_the_invoice(api: Gateway):
    sku, _ = await api.stocked_product(5)
    account = await api.account(unique("Lyon Fluides"), country="FR", payment_terms="prepaid")
    order = await api.place_order(account, sku, 2)
    await api.order_reaches(order["id"], "confirmed")
    assert (await api.stock(sku))["reserved"] == 2
    await api.eventually(lambda: api.invoices(order["id"]), "finance issues the proforma invoice")

    cancelled = await api.post(f"/sales/orders/{order['id']}/cancel", {"reason": "buyer changed supplier"}, expect=200)
    assert cancelled["status"] == "cancelled"
    assert (await api.order(order["id"]))["status"] == "cancelled"

    async def released():
        stock = await api.stock(sku)
        return stock if stock["reserved"] == 0 else None

    stock = await api.eventually(released, "logistics releases the stock")
    assert (stock["on_hand"], stock["available"]) == (5, 5)

    async def voided():
        invoices = await api.invoices(order["id"])
        return invoices if invoices and all(i["status"] == "void" for i in invoices) else None

    [invoice] = await api.eventually(voided, "finance voids the open invoice")
    assert invoice["kind"] == "proforma"
    again = await api.call("POST", f"/sales/orders/{order['id']}/cancel", 409)
    assert again.headers["content-type"] == "application/problem+json"


async def test_an_order_cannot_be_cancelled_once_shipped(api: Gateway):
    sku, _ = await api.stocked_product(5)
    account = await api.account(unique("Wien Hydraulik"), country="AT")
    order = await api.place_order(account, sku, 1, destination="AT", named_place="Vienna")
    await api.order_reaches(order["id"], "ready_to_ship")
    [shipment] = await api.shipments(order["id"])
    await api.documents_ready(shipment["id"])
    await api.post(f"/logistics/shipments/{shipment['id']}/tracking", {"status": "picked_up"})
    await api.order_reaches(order["id"], "shipped")

    refused = await api.call("POST", f"/sales/orders/{order['id']}/cancel", 409)
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await api.order(order["id"]))["status"] == "shipped"
    assert (await api.shipments(order["id"]))[0]["status"] == "in_transit"


async def test_a_backorder_is_confirmed_when_a_later_stock_receipt_fills_it(api: Gateway):
    sku, warehouse = await api.stocked_product(1)
    account = await api.account(unique("Porto Bombas"), country="PT")
    order = await api.place_order(account, sku, 3, destination="PT", named_place="Porto")
    await api.order_reaches(order["id"], "backordered")
    assert (await api.stock(sku))["reserved"] == 0

    receipt = await api.receive(sku, warehouse, 5)
    assert receipt["backorders_filled"] == [order["id"]]
    confirmed = await api.order_reaches(order["id"], *CONFIRMED)
    assert statuses(confirmed)[:3] == ["placed", "backordered", "confirmed"]
    stock = await api.stock(sku)
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (6, 3, 3)


async def test_accepting_the_same_quote_twice_places_one_order(api: Gateway):
    sku, _ = await api.stocked_product(5)
    account = await api.account(unique("Gent Kleppen"), country="BE")
    quote = await api.quote(account, sku, 1, destination="BE", named_place="Ghent")
    order = await api.post(f"/sales/quotes/{quote['id']}/accept")
    second = await api.call("POST", f"/sales/quotes/{quote['id']}/accept", 409)
    assert second.headers["content-type"] == "application/problem+json"
    assert second.json()["order_id"] == order["id"]
    assert (await api.get(f"/sales/quotes/{quote['id']}"))["order_id"] == order["id"]
    orders = await api.items("/sales/orders", account_id=account)
    assert [o["id"] for o in orders] == [order["id"]]
