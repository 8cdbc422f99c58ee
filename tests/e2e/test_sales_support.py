"""Sales & support across the platform: an inquiry won through the gateway, one mail per step in the
buyer's language in the dev mailbox, and a Tokyo ticket whose deadlines are in Tokyo business hours."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest

from ops.smtp import read_mail
from tests.e2e.conftest import Platform
from tests.e2e.flow import Gateway, unique

pytestmark = pytest.mark.e2e


@pytest.fixture
async def api(platform: Platform) -> AsyncIterator[Gateway]:
    gateway = Gateway(platform)
    yield gateway
    await gateway.close()


def mail_to(platform: Platform, address: str) -> list:
    folder = platform.data_dir / "mail"
    if not folder.is_dir():
        return []
    return [m for m in read_mail(folder) if m["To"] and m["To"].addresses[0].addr_spec == address]


async def test_an_inquiry_won_and_the_buyer_mailed_in_german_at_every_step(platform: Platform, api: Gateway):
    sku, _ = await api.stocked_product(10)
    email = f"{unique('einkauf').lower()}@muster.example"

    # The storefront's inquiry needs no token; staff quote it and the buyer accepts.
    async with httpx.AsyncClient(base_url=f"{platform.gateway}/api/v1", timeout=30) as public:
        inquiry = await public.post(
            "/sales/inquiries",
            json={
                "company": "Muster GmbH",
                "contact_name": "Eva Muster",
                "email": email,
                "country": "DE",
                "language": "de",
                "lines": [{"sku": sku, "quantity": 3}],
            },
        )
    assert inquiry.status_code == 201, inquiry.text
    inquiry_id = inquiry.json()["id"]
    account = await api.post(
        "/sales/accounts",
        {
            "company": "Muster GmbH",
            "country": "DE",
            "email": email,
            "currency": "EUR",
            "language": "de",
            "payment_terms": "net_30",
        },
    )
    quote = await api.post(
        "/sales/quotes",
        {
            "account_id": account["id"],
            "currency": "EUR",
            "incoterm": "EXW",
            "named_place": "Hamburg",
            "destination_country": "DE",
            "inquiry_id": inquiry_id,
        },
    )
    order = await api.post(f"/sales/quotes/{quote['id']}/accept")
    assert (await api.get(f"/sales/inquiries/{inquiry_id}"))["status"] == "won"

    [shipment] = await api.eventually(lambda: api.shipments(order["id"]), "logistics books the shipment")
    await api.documents_ready(shipment["id"])
    for milestone in ({"status": "picked_up"}, {"status": "in_transit"}, {"status": "delivered"}):
        await api.post(f"/logistics/shipments/{shipment['id']}/tracking", milestone)
    await api.order_reaches(order["id"], "delivered", "completed")

    expected = [
        f"Ihr Angebot {quote['id']}",
        f"Auftrag {order['id']} bestätigt",
        f"Auftrag {order['id']} ist unterwegs",
        f"Auftrag {order['id']} zugestellt",
    ]

    async def all_sent():
        subjects = [m["Subject"] for m in mail_to(platform, email)]
        return subjects if all(s in subjects for s in expected) else None

    subjects = await api.eventually(all_sent, "the buyer's mail reaches the dev mailbox")
    assert all(subjects.count(s) == 1 for s in expected), subjects
    dispatched = next(m for m in mail_to(platform, email) if "unterwegs" in m["Subject"])
    assert shipment["tracking_number"] in dispatched.get_body(preferencelist=("plain",)).get_content()

    # The invoice mail carries finance's PDF (fetched by sales' invoice-mail job).
    async def invoice_mail():
        found = [m for m in mail_to(platform, email) if m["Subject"].strip().startswith("Rechnung")]
        return found if found and list(found[0].iter_attachments()) else None

    [attached, *_] = list((await api.eventually(invoice_mail, "the invoice mail with its PDF"))[0].iter_attachments())
    assert attached.get_content_type() == "application/pdf" and attached.get_content().startswith(b"%PDF")
    notes = (await api.get(f"/sales/accounts/{account['id']}/notifications"))["items"]
    assert {"quote_issued", "order_confirmed", "shipment_dispatched", "shipment_delivered"} <= {
        n["kind"] for n in notes
    }


async def test_a_ticket_opened_in_tokyo_is_due_in_tokyo_business_hours(api: Gateway):
    account = await api.post(
        "/sales/accounts",
        {
            "company": "Sakura Trading KK",
            "country": "JP",
            "email": "support@sakura.example",
            "currency": "JPY",
            "payment_terms": "prepaid",
        },
    )
    ticket = await api.post(
        "/sales/tickets",
        {
            "account_id": account["id"],
            "subject": "Invoice question",
            "body": "Which rate did you use?",
            "channel": "email",
            "priority": "urgent",
        },
    )
    for due in (ticket["first_response_due"], ticket["resolution_due"]):
        moment = datetime.fromisoformat(due)
        assert due.endswith("+09:00") and moment.weekday() < 5, due
        assert 9 <= moment.hour < 17 or (moment.hour, moment.minute) == (17, 0), due
    queue = await api.items("/sales/tickets", status="open")
    assert ticket["id"] in [t["id"] for t in queue]
