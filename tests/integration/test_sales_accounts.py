"""Account management over HTTP: contacts, PATCH with sales.account.updated, reorders at today's prices."""

from __future__ import annotations

from tests.integration.test_sales_api import (
    BASE,
    account_body,
    assert_problem,
    created,
    get,
    place_order,
    post,
    sales_events,
)
from tests.support.service import run_service


async def test_contacts_account_changes_and_reorders(settings):
    async with run_service("sales", settings) as svc:
        acc = await created(svc, "/accounts", account_body(country="DE", currency="EUR", email="a@muster.example"))

        async def patch(body: dict, account_id: str = acc["id"]):
            return await svc.client.patch(f"{BASE}/accounts/{account_id}", json=body, headers=svc.auth("sales"))

        # -- contacts
        contact = await created(
            svc,
            f"/accounts/{acc['id']}/contacts",
            {"name": "Jana Novak", "email": "jana@muster.example", "phone": "+49 40 1234-5", "role": "buyer"},
        )
        assert contact["account_id"] == acc["id"] and contact["language"] is None
        assert_problem(await post(svc, f"/accounts/{acc['id']}/contacts", {"name": "X", "email": "nope"}), 422, "email")
        assert_problem(await post(svc, "/accounts/acc_nope/contacts", {"name": "X", "email": "x@y.example"}), 404)
        contacts = (await get(svc, f"/accounts/{acc['id']}/contacts")).json()["items"]
        assert [c["id"] for c in contacts] == [contact["id"]]

        # -- bad changes: problem+json naming the field, nothing changed, nothing published
        for body, field in [
            ({"timezone": "Mars/Olympus"}, "timezone"),
            ({"vat_id": "DE000000000"}, "vat_id"),
            ({"payment_terms": "net_90"}, "payment_terms"),
            ({"email": None}, "email"),
            ({"language": "not a language"}, "language"),
        ]:
            assert_problem(await patch(body), 422, field)
        assert_problem(await patch({"email": "x@y.example"}, "acc_nope"), 404, "account_id")
        assert (await get(svc, f"/accounts/{acc['id']}")).json() == acc

        # -- a real change: answered, and published with the fields that changed
        changed = await patch(
            {"email": "b@muster.example", "vat_id": "DE 136 695 976", "timezone": "Europe/Berlin", "language": "de"}
        )
        assert changed.status_code == 200, changed.text
        account = changed.json()
        assert (account["vat_id"], account["vat_id_valid"], account["timezone"]) == (
            "DE136695976",
            True,
            "Europe/Berlin",
        )
        same = await patch({"language": "de", "payment_terms": "prepaid"})  # nothing new: no event
        assert same.status_code == 200
        letter = (await patch({"payment_terms": "letter_of_credit"})).json()
        assert letter["payment_terms"] == "letter_of_credit"
        events = await sales_events(svc, expect=3)
        updates = [e for e in events if e.type == "sales.account.updated.v1"]
        assert [u.data["changed"] for u in updates] == [
            ["email", "language", "timezone", "vat_id", "vat_id_valid"],
            ["payment_terms"],
        ]
        assert updates[0].data["email"] == "b@muster.example" and updates[0].data["timezone"] == "Europe/Berlin"

        # -- reorder: a new quote, same lines and terms, priced today; a cancelled order cannot be reordered
        order = await place_order(svc)
        again = await created(svc, f"/orders/{order['id']}/reorder", {})
        assert again["id"] != order["quote_id"] and again["status"] == "issued"
        assert [(ln["sku"], ln["quantity"]) for ln in again["lines"]] == [
            (ln["sku"], ln["quantity"]) for ln in order["lines"]
        ]
        assert (again["incoterm"], again["currency"], again["total"]) == (
            order["incoterm"],
            order["currency"],
            order["total"],
        )
        await post(svc, f"/orders/{order['id']}/cancel", {})
        quotes_before = len((await get(svc, "/quotes")).json()["items"])
        assert_problem(await post(svc, f"/orders/{order['id']}/reorder", {}), 409, "order_id")
        assert_problem(await post(svc, "/orders/ord_nope/reorder", {}), 404, "order_id")
        assert len((await get(svc, "/quotes")).json()["items"]) == quotes_before
