"""GDPR requests: sales exports or erases a person's data and answers in the same transaction."""

from __future__ import annotations

from datetime import date

from services.compliance.contract import PrivacyRequestOpened
from tests.integration.test_sales_api import BASE, account_body, created, get, place_order, sales_events
from tests.support.kafka import eventually
from tests.support.service import run_service

PERSON = "Ana.Perez@correo.example"


async def test_access_exports_and_erasure_erases_keeping_what_the_law_keeps(settings):
    async with run_service("sales", settings) as svc:
        order = await place_order(svc, email=PERSON.lower(), language="es")  # the account is the person
        account_id = order["account_id"]
        other = await created(svc, "/accounts", account_body(email="office@firma.example"))
        await created(svc, f"/accounts/{other['id']}/contacts", {"name": "Ana Pérez", "email": PERSON})
        await created(svc, f"/accounts/{other['id']}/contacts", {"name": "Ben Ode", "email": "ben@firma.example"})
        inquiry = (
            await svc.client.post(
                f"{BASE}/inquiries",
                json={
                    "company": "Pérez Import",
                    "contact_name": "Ana Pérez",
                    "email": PERSON,
                    "country": "ES",
                    "lines": [{"sku": "PUMP-100", "quantity": 3}],
                    "message": "Call me on +34 600 000 000",
                },
            )
        ).json()
        ticket = await created(
            svc,
            "/tickets",
            {"account_id": account_id, "subject": "Ana's pump", "body": "My phone: 600", "channel": "phone"}
            | {"priority": "normal"},
        )

        async def answers(n: int):
            events = await sales_events(svc, expect=1)
            found = [e for e in events if e.type == "sales.privacy_request.answered.v1"]
            return found if len(found) >= n else None

        # -- access: every record of the person, as JSON
        await svc.deliver(PrivacyRequestOpened(request_id="prq_1", kind="access", email=PERSON, due=date(2027, 1, 1)))
        [access] = await eventually(lambda: answers(1))
        export = access.data["export"]
        assert access.data["department"] == "sales" and access.data["records"] >= 5
        assert [c["name"] for c in export["contacts"]] == ["Ana Pérez"]
        assert [i["id"] for i in export["inquiries"]] == [inquiry["id"]]
        assert export["tickets"][0]["messages"][0]["body"] == "My phone: 600"
        assert [o["id"] for o in export["orders"]] == [order["id"]]
        assert {m["kind"] for m in export["mail"]} == {"quote_issued"}
        assert access.correlationid == access.data["request_id"] == "prq_1"

        # -- erasure: contact deleted, addresses pseudonymised, tickets blanked, orders and mail kept
        await svc.deliver(PrivacyRequestOpened(request_id="prq_2", kind="erasure", email=PERSON, due=date(2027, 1, 1)))
        erasure = (await eventually(lambda: answers(2)))[1]
        assert erasure.data["request_id"] == "prq_2"
        assert (erasure.data["erased"], erasure.data["pseudonymised"]) == (2, 2)  # contact + ticket; inquiry + account
        kept = {r["what"]: r for r in erasure.data["retained"]}
        assert set(kept) == {"1 orders and their quotes", "1 mails sent"}
        assert kept["1 orders and their quotes"]["until"] > date.today().isoformat()

        account = (await get(svc, f"/accounts/{account_id}")).json()
        assert account["email"].startswith("erased-") and account["email"].endswith("@invalid")
        contacts = (await get(svc, f"/accounts/{other['id']}/contacts")).json()["items"]
        assert [c["name"] for c in contacts] == ["Ben Ode"]
        erased_inquiry = (await get(svc, f"/inquiries/{inquiry['id']}")).json()
        assert (erased_inquiry["email"], erased_inquiry["contact_name"], erased_inquiry["message"]) == (
            account["email"],
            "[erased]",
            None,
        )
        blank = (await get(svc, f"/tickets/{ticket['id']}")).json()
        assert blank["subject"] == "[erased]" and {m["body"] for m in blank["messages"]} == {"[erased]"}
        assert (await get(svc, f"/orders/{order['id']}")).json()["status"] == "placed"
