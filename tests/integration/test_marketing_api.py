"""Marketing on the real broker and databases: campaigns, the public lead form, lead life cycle, performance."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlmodel import select

from hanse.events import CloudEvent
from hanse.money import Money, ecb_rate, round_money
from services.compliance.contract import ScreeningCompleted
from services.finance.contract import InvoicePaid
from services.marketing.models import ConsentRecord
from services.sales.contract import AccountCreated, OrderLine, OrderPlaced, OrderTerms
from tests.support.kafka import eventually, read_all
from tests.support.service import RunningService, run_service

BASE = "/api/v1/marketing"
PROBLEM = "application/problem+json"


def campaign_body(**overrides) -> dict:
    body = {
        "name": "Hannover Messe 2026",
        "channel": "trade_show",
        "budget": {"amount": "5000.00", "currency": "EUR"},
        "utm_campaign": "Hannover-2026",
    }
    body.update(overrides)
    return body


def lead_body(**overrides) -> dict:
    body = {
        "company": "Nordlicht Maschinenbau GmbH",
        "contact_name": "Greta Berg",
        "email": "greta.berg@nordlicht.example",
        "country": "de",
        "language": "de",
        "message": "Please send a quote for 200 pumps.",
        "utm": {"source": "linkedin", "medium": "social", "campaign": "Hannover-2026"},
        "consent_marketing": True,
    }
    body.update(overrides)
    return body


def assert_problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    if field is not None:
        assert problem["field"] == field, problem
    return problem


async def marketing_events(svc: RunningService, expect: int) -> list[CloudEvent]:
    records = await read_all(svc.settings.kafka_bootstrap_servers, svc.settings.topic("marketing"), expect=expect)
    return [CloudEvent.from_json(r.value) for r in records]


async def create_campaign(svc: RunningService, **overrides) -> dict:
    response = await svc.client.post(
        f"{BASE}/campaigns", json=campaign_body(**overrides), headers=svc.auth("marketing")
    )
    assert response.status_code == 201, response.text
    return response.json()


async def post_lead(svc: RunningService, ip: str = "192.0.2.1", **overrides) -> str:
    response = await svc.client.post(f"{BASE}/leads", json=lead_body(**overrides), headers={"X-Forwarded-For": ip})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "new"
    return response.json()["id"]


async def test_campaigns_spend_and_bad_input(settings):
    async with run_service("marketing", settings) as svc:
        mk = svc.auth("marketing")
        campaign = await create_campaign(svc, budget={"amount": "1000.00", "currency": "usd"})
        assert campaign["utm_campaign"] == "hannover-2026", "stored lowercase"
        assert campaign["budget"] == {"amount": "1000.00", "currency": "USD"}
        assert campaign["spend"] == {"amount": "0.00", "currency": "USD"}
        assert campaign["channel"] == "trade_show" and campaign["id"]
        cid = campaign["id"]

        duplicate = await svc.client.post(
            f"{BASE}/campaigns", json=campaign_body(name="Other", utm_campaign="HANNOVER-2026"), headers=mk
        )
        assert_problem(duplicate, 409, "utm_campaign")

        bad_campaigns = [
            (campaign_body(budget={"amount": 5000.0, "currency": "EUR"}), "budget.amount"),
            (campaign_body(budget={"amount": "-1.00", "currency": "EUR"}), "budget.amount"),
            (campaign_body(budget={"amount": "10.123", "currency": "EUR"}), "budget.amount"),
            (campaign_body(budget={"amount": "1e20", "currency": "EUR"}), "budget.amount"),
            (campaign_body(budget={"amount": "10.00", "currency": "XYZ"}), "budget.currency"),
            (campaign_body(budget={"amount": "10", "currency": "VES"}), "budget.currency"),
            (campaign_body(channel="radio"), "channel"),
            (campaign_body(utm_campaign="spring sale!"), "utm_campaign"),
            (campaign_body(utm_campaign="x" * 101), "utm_campaign"),
            (campaign_body(name=""), "name"),
            (campaign_body(starts_on="2026-05-01", ends_on="2026-04-01"), "ends_on"),
            (campaign_body(starts_on="not a date"), "starts_on"),
            (campaign_body(colour="blue"), "colour"),
            (campaign_body(name="Fair\x00"), "name"),
            ({k: v for k, v in campaign_body().items() if k != "budget"}, "budget"),
        ]
        for body, field in bad_campaigns:
            body["utm_campaign"] = body.get("utm_campaign", "x") if field == "utm_campaign" else f"other-{field}"
            assert_problem(await svc.client.post(f"{BASE}/campaigns", json=body, headers=mk), 422, field)
        not_json = await svc.client.post(
            f"{BASE}/campaigns", content=b"{nope", headers={**mk, "Content-Type": "application/json"}
        )
        assert_problem(not_json, 400)

        # Spend: in the budget currency, converted to the base currency at the ECB rate of its day.
        spend = await svc.client.post(
            f"{BASE}/campaigns/{cid}/spend",
            json={"amount": {"amount": "250.00", "currency": "USD"}, "note": "booth", "on": "2024-03-01"},
            headers=mk,
        )
        assert spend.status_code == 201, spend.text
        entry = spend.json()
        fx = ecb_rate("USD", "EUR", date(2024, 3, 1))
        assert entry["amount"] == {"amount": "250.00", "currency": "USD"}
        assert entry["amount_base"] == {
            "amount": str(round_money(Decimal("250.00") * fx.rate, "EUR")),
            "currency": "EUR",
        }
        assert entry["fx_rate"] == str(fx.rate) and entry["fx_rate_date"] == fx.rate_date.isoformat()
        bad_spend = [
            ({"amount": {"amount": "10.00", "currency": "EUR"}}, "amount.currency"),
            ({"amount": {"amount": "0", "currency": "USD"}}, "amount.amount"),
            ({"amount": {"amount": "-5.00", "currency": "USD"}}, "amount.amount"),
            ({"amount": {"amount": 5.5, "currency": "USD"}}, "amount.amount"),
            ({"amount": {"amount": "5.555", "currency": "USD"}}, "amount.amount"),
            ({"amount": {"amount": "5.00", "currency": "USD"}, "on": "yesterday"}, "on"),
            ({"amount": {"amount": "5.00", "currency": "USD"}, "note": "n" * 501}, "note"),
            ({}, "amount"),
        ]
        for body, field in bad_spend:
            assert_problem(await svc.client.post(f"{BASE}/campaigns/{cid}/spend", json=body, headers=mk), 422, field)
        missing = await svc.client.post(
            f"{BASE}/campaigns/nope/spend", json={"amount": {"amount": "1.00", "currency": "USD"}}, headers=mk
        )
        assert_problem(missing, 404)

        got = (await svc.client.get(f"{BASE}/campaigns/{cid}", headers=mk)).json()
        assert got["spend"] == {"amount": "250.00", "currency": "USD"}, "only the one valid spend counted"
        spends = (await svc.client.get(f"{BASE}/campaigns/{cid}/spend", headers=mk)).json()
        assert [s["id"] for s in spends["items"]] == [entry["id"]]
        assert_problem(await svc.client.get(f"{BASE}/campaigns/nope", headers=mk), 404)
        assert_problem(await svc.client.get(f"{BASE}/campaigns/nope/performance", headers=mk), 404)

        performance = (await svc.client.get(f"{BASE}/campaigns/{cid}/performance", headers=mk)).json()
        assert performance == {
            "campaign_id": cid,
            "leads": 0,
            "qualified": 0,
            "converted": 0,
            "orders": 0,
            "cancelled_orders": 0,
            "revenue": {"amount": "0.00", "currency": "EUR"},
            "credited": {"amount": "0.00", "currency": "EUR"},
            "spend": entry["amount_base"],
            "roas": "0.0000",
            "cost_per_lead": None,
            "currency": "EUR",
        }

        # Pages and filters.
        second = await create_campaign(svc, name="Search ads", channel="ppc", utm_campaign="ppc.q2_de")
        first_page = (await svc.client.get(f"{BASE}/campaigns?limit=1", headers=mk)).json()
        assert [c["id"] for c in first_page["items"]] == [cid] and first_page["next_cursor"]
        next_page = (
            await svc.client.get(f"{BASE}/campaigns?limit=1&cursor={first_page['next_cursor']}", headers=mk)
        ).json()
        assert [c["id"] for c in next_page["items"]] == [second["id"]] and next_page["next_cursor"] is None
        ppc = (await svc.client.get(f"{BASE}/campaigns?channel=ppc", headers=mk)).json()
        assert [c["id"] for c in ppc["items"]] == [second["id"]]
        assert_problem(await svc.client.get(f"{BASE}/campaigns?channel=radio", headers=mk), 422, "query.channel")
        assert_problem(await svc.client.get(f"{BASE}/campaigns?limit=0", headers=mk), 422, "query.limit")

        # Roles: campaigns are marketing's; nothing without a token.
        for method, path in [
            ("POST", "/campaigns"),
            ("GET", "/campaigns"),
            ("GET", f"/campaigns/{cid}"),
            ("POST", f"/campaigns/{cid}/spend"),
            ("GET", f"/campaigns/{cid}/spend"),
            ("GET", f"/campaigns/{cid}/performance"),
            ("GET", "/leads"),
            ("GET", "/leads/some-id"),
        ]:
            body = campaign_body(utm_campaign="role-check") if method == "POST" else None
            assert_problem(await svc.client.request(method, BASE + path, json=body), 401)
            forbidden = await svc.client.request(method, BASE + path, json=body, headers=svc.auth("finance"))
            assert_problem(forbidden, 403)
            if "campaigns" in path:
                assert_problem(await svc.client.request(method, BASE + path, json=body, headers=svc.auth("sales")), 403)
        admin = await svc.client.get(f"{BASE}/campaigns", headers=svc.auth("admin"))
        assert admin.status_code == 200

        # Nothing but the two campaigns and the one spend entry was stored or announced.
        assert len((await svc.client.get(f"{BASE}/campaigns", headers=mk)).json()["items"]) == 2
        events = await marketing_events(svc, expect=2)
    assert [e.type for e in events] == ["marketing.campaign.created.v1"] * 2
    created = next(e for e in events if e.subject == cid)
    assert created.data["utm_campaign"] == "hannover-2026"
    assert created.data["budget"] == {"amount": "1000.00", "currency": "USD"}
    assert created.correlationid == cid


async def test_public_lead_form_attribution_consent_and_rate_limit(settings, monkeypatch):
    monkeypatch.setenv("HANSE_BEHIND_GATEWAY", "true")
    monkeypatch.setenv("HANSE_LEAD_RATE_LIMIT", "4/minute")
    async with run_service("marketing", settings) as svc:
        campaign = await create_campaign(svc)
        attributed = await post_lead(svc, "192.0.2.1", utm={"source": "fair", "campaign": " HANNOVER-2026 "})
        unknown_code = await post_lead(
            svc,
            "192.0.2.2",
            email="li.wei@huaxia.example",
            country="CN",
            language="zh-hans-cn",
            utm={"source": "google", "medium": "cpc", "campaign": "Summer-Promo"},
            consent_marketing=False,
            consent_text_version="2025-07",
        )
        no_utm = await post_lead(svc, "192.0.2.3", utm=None, language=None, message=None)

        mk = svc.auth("marketing")
        lead = (await svc.client.get(f"{BASE}/leads/{attributed}", headers=svc.auth("sales"))).json()
        assert lead["status"] == "new" and lead["campaign_id"] == campaign["id"] and lead["account_id"] is None
        assert lead["country"] == "DE" and lead["email"] == "greta.berg@nordlicht.example"
        assert lead["utm"] == {"source": "fair", "medium": None, "campaign": "hannover-2026"}
        assert lead["consent_marketing"] is True and lead["status_reason"] is None
        other = (await svc.client.get(f"{BASE}/leads/{unknown_code}", headers=mk)).json()
        assert other["campaign_id"] is None, "unknown code: no campaign"
        assert other["utm"] == {"source": "google", "medium": "cpc", "campaign": "summer-promo"}, "utm kept"
        assert other["language"] == "zh-Hans-CN" and other["country"] == "CN"
        plain = (await svc.client.get(f"{BASE}/leads/{no_utm}", headers=mk)).json()
        assert plain["utm"] is None and plain["campaign_id"] is None and plain["language"] is None

        async with svc.runtime.db.session() as session:
            consents = {c.lead_id: c for c in (await session.exec(select(ConsentRecord))).all()}
        assert set(consents) == {attributed, unknown_code, no_utm}
        assert consents[attributed].granted is True and consents[attributed].text_version == "2026-01"
        assert consents[attributed].source == "lead_form" and consents[attributed].purpose == "marketing"
        assert consents[attributed].email == "greta.berg@nordlicht.example"
        assert consents[unknown_code].granted is False and consents[unknown_code].text_version == "2025-07"
        assert consents[attributed].recorded_at.tzinfo is not None

        # Bad input: each from its own address so the rate limit does not interfere.
        bad_leads = [
            (lead_body(email="not-an-email"), "email"),
            (lead_body(country="XX"), "country"),
            (lead_body(country="DEU"), "country"),
            (lead_body(language="xx"), "language"),
            (lead_body(language="de_DE"), "language"),
            (lead_body(message="m" * 5001), "message"),
            (lead_body(consent_marketing="yes"), "consent_marketing"),
            ({k: v for k, v in lead_body().items() if k != "consent_marketing"}, "consent_marketing"),
            (lead_body(company="  "), "company"),
            (lead_body(company="Nord\x00licht"), "company"),
            (lead_body(utm="fair"), "utm"),
            (lead_body(utm={"campaign": "c" * 201}), "utm.campaign"),
            (lead_body(consent_text_version="v 1"), "consent_text_version"),
            (lead_body(phone="+49 40 1234"), "phone"),
        ]
        for i, (body, field) in enumerate(bad_leads):
            response = await svc.client.post(f"{BASE}/leads", json=body, headers={"X-Forwarded-For": f"198.51.100.{i}"})
            assert_problem(response, 422, field)

        # Honeypot: a bot gets a 202 and nothing is stored.
        bot = await svc.client.post(
            f"{BASE}/leads", json=lead_body(website="http://spam.example"), headers={"X-Forwarded-For": "192.0.2.9"}
        )
        assert bot.status_code == 202
        assert_problem(await svc.client.get(f"{BASE}/leads/{bot.json()['id']}", headers=mk), 404)

        # Rate limit per client: forged first X-Forwarded-For entries do not escape it.
        for i in range(4):
            response = await svc.client.post(
                f"{BASE}/leads", json={}, headers={"X-Forwarded-For": f"10.0.0.{i}, 203.0.113.7"}
            )
            assert response.status_code == 422
        limited = await svc.client.post(
            f"{BASE}/leads", json=lead_body(), headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.7"}
        )
        problem = assert_problem(limited, 429)
        # The kernel's sliding-window counter weighs the previous minute's hits until they age out:
        # for 4/minute the wait is at most 60 * (1 + 1/4) = 75 s (a moving window's would be 60 s).
        assert 1 <= int(limited.headers["Retry-After"]) <= 75
        assert "4/minute" in problem["detail"]
        elsewhere = await svc.client.post(f"{BASE}/leads", json={}, headers={"X-Forwarded-For": "203.0.113.8"})
        assert elsewhere.status_code == 422, "another client is not limited"

        listed = (await svc.client.get(f"{BASE}/leads", headers=mk)).json()
        assert [item["id"] for item in listed["items"]] == [attributed, unknown_code, no_utm], "nothing else stored"
        by_campaign = (await svc.client.get(f"{BASE}/leads?campaign_id={campaign['id']}", headers=mk)).json()
        assert [item["id"] for item in by_campaign["items"]] == [attributed]
        assert_problem(await svc.client.get(f"{BASE}/leads?status=won", headers=mk), 422, "query.status")
        assert_problem(await svc.client.get(f"{BASE}/leads/nope", headers=mk), 404)
        assert_problem(await svc.client.get(f"{BASE}/leads/%00", headers=mk), 422, "path.lead_id")
        assert_problem(await svc.client.get(f"{BASE}/leads?cursor=AA", headers=mk), 422, "cursor")
        assert_problem(await svc.client.get(f"{BASE}/leads?campaign_id=%00", headers=mk), 422, "query.campaign_id")

        events = await marketing_events(svc, expect=4)
    captured = {e.subject: e for e in events if e.type == "marketing.lead.captured.v1"}
    assert set(captured) == {attributed, unknown_code, no_utm}, "one event per stored lead, none for bad input"
    event = captured[attributed]
    assert event.correlationid == attributed
    assert event.data["campaign_id"] == campaign["id"] and event.data["country"] == "DE"
    assert event.data["consent_marketing"] is True
    assert captured[unknown_code].data["campaign_id"] is None


def order_placed(order_id: str, account_id: str, lead_id: str | None) -> OrderPlaced:
    total = Money.of("1190.00", "USD")
    return OrderPlaced(
        order_id=order_id,
        order=OrderTerms(
            order_id=order_id,
            quote_id=f"q-{order_id}",
            account_id=account_id,
            lead_id=lead_id,
            company="Nordlicht Maschinenbau GmbH",
            email="greta.berg@nordlicht.example",
            buyer_country="US",
            destination_country="US",
            incoterm="CIF",
            named_place="New York",
            currency="USD",
            payment_terms="prepaid",
            lines=[
                OrderLine(
                    sku="PUMP-1",
                    name="Pump",
                    quantity=10,
                    unit_price=Decimal("119.00"),
                    hs_code="841370",
                    origin_country="DE",
                    unit_weight_kg=Decimal("12.5"),
                )
            ],
            subtotal=total,
            total=total,
            placed_at=datetime.now(UTC),
        ),
    )


def invoice_paid(invoice_id: str, order_id: str, base_amount: str) -> InvoicePaid:
    return InvoicePaid(
        invoice_id=invoice_id,
        order_id=order_id,
        total=Money.of("1190.00", "USD"),
        total_base=Money.of(base_amount, "EUR"),
        fx_rate=Decimal("0.92"),
        fx_rate_date=date(2026, 1, 5),
    )


def account_created(account_id: str, lead_id: str | None) -> AccountCreated:
    return AccountCreated(
        account_id=account_id,
        lead_id=lead_id,
        company="Nordlicht Maschinenbau GmbH",
        country="DE",
        email="greta.berg@nordlicht.example",
        currency="EUR",
        payment_terms="prepaid",
    )


def screening(lead_id: str, result: str, *, subject_type: str = "lead", **extra) -> ScreeningCompleted:
    return ScreeningCompleted(
        check_id=f"chk-{lead_id}-{result}", subject_type=subject_type, subject_id=lead_id, result=result, **extra
    )


async def test_lead_life_cycle_and_campaign_performance(settings):
    async with run_service("marketing", settings) as svc:
        mk = svc.auth("marketing")
        campaign = await create_campaign(svc)
        cid = campaign["id"]
        spend = await svc.client.post(
            f"{BASE}/campaigns/{cid}/spend", json={"amount": {"amount": "100.00", "currency": "EUR"}}, headers=mk
        )
        assert spend.status_code == 201
        a, b, c, d = [await post_lead(svc, f"192.0.2.{i}", contact_name=f"Contact {i}") for i in range(4)]
        delivered = 0

        async def deliver(payload, **kw) -> CloudEvent:
            nonlocal delivered
            delivered += 1
            return await svc.deliver(payload, **kw)

        async def lead(lead_id: str) -> dict:
            return (await svc.client.get(f"{BASE}/leads/{lead_id}", headers=mk)).json()

        async def status_is(lead_id: str, status: str):
            current = await lead(lead_id)
            return current if current["status"] == status else None

        async def all_processed():
            return svc.runtime.consumer.processed >= delivered

        clear_a = await deliver(screening(a, "clear"), correlation_id=a)
        await deliver(screening(b, "blocked", reasons=["watchlist: Nordlicht GmbH (92)"]), correlation_id=b)
        await deliver(screening(c, "review", reasons=["sanctions: fuzzy 87"]), correlation_id=c)
        # Not about a lead: an order screening that happens to carry d's id changes nothing.
        await deliver(screening(d, "blocked", subject_type="order"))
        await deliver(screening(d, "clear"), correlation_id=d)

        assert (await eventually(lambda: status_is(a, "qualified")))["campaign_id"] == cid
        disqualified = await eventually(lambda: status_is(b, "disqualified"))
        assert disqualified["status_reason"] == "watchlist: Nordlicht GmbH (92)"
        await eventually(lambda: status_is(d, "qualified"))

        async def in_review():
            current = await lead(c)
            return current if (current["status_reason"] or "").startswith("screening under review") else None

        assert (await eventually(in_review))["status"] == "new"
        await deliver(screening(c, "clear", decided_by="officer-1"), correlation_id=c)
        await eventually(lambda: status_is(c, "qualified"))

        # Accounts convert leads; the disqualified one too when sales opened an account anyway.
        await deliver(account_created("acc-a", a))
        await deliver(account_created("acc-b", b))
        await deliver(account_created("acc-x", None))
        converted = await eventually(lambda: status_is(a, "converted"))
        assert converted["account_id"] == "acc-a"
        assert (await eventually(lambda: status_is(b, "converted")))["account_id"] == "acc-b"

        # Late or repeated events never move a lead backwards or replace its account.
        await deliver(screening(a, "blocked", reasons=["late"]))
        await deliver(account_created("acc-a2", a))
        await eventually(all_processed)
        assert (await lead(a))["status"] == "converted" and (await lead(a))["account_id"] == "acc-a"

        # Orders and paid revenue, from sales and finance, in any order.
        await deliver(order_placed("ord-1", "acc-a", a))
        await deliver(invoice_paid("inv-1", "ord-1", "1000.00"))
        await deliver(invoice_paid("inv-2", "ord-2", "500.50"))  # paid before its order is known
        await deliver(invoice_paid("inv-1", "ord-1", "1000.00"))  # the same invoice again (a new event)
        await deliver(order_placed("ord-3", "acc-elsewhere", None))
        await deliver(invoice_paid("inv-3", "ord-3", "70.00"))
        await eventually(all_processed)
        before_order = (await svc.client.get(f"{BASE}/campaigns/{cid}/performance", headers=mk)).json()
        assert before_order["orders"] == 1 and before_order["revenue"] == {"amount": "1000.00", "currency": "EUR"}

        await deliver(order_placed("ord-2", "acc-b", None))  # attributed through its account's lead

        async def two_orders():
            perf = (await svc.client.get(f"{BASE}/campaigns/{cid}/performance", headers=mk)).json()
            return perf if perf["orders"] == 2 else None

        performance = await eventually(two_orders)
        await eventually(all_processed)
        assert performance == {
            "campaign_id": cid,
            "leads": 4,
            "qualified": 4,
            "converted": 2,
            "orders": 2,
            "cancelled_orders": 0,
            "revenue": {"amount": "1500.50", "currency": "EUR"},
            "credited": {"amount": "0.00", "currency": "EUR"},
            "spend": {"amount": "100.00", "currency": "EUR"},
            "roas": "15.0050",
            "cost_per_lead": {"amount": "25.00", "currency": "EUR"},
            "currency": "EUR",
        }
        qualified = (await svc.client.get(f"{BASE}/leads?status=qualified", headers=mk)).json()
        assert [item["id"] for item in qualified["items"]] == [c, d]

        events = await marketing_events(svc, expect=1 + 4 + 3 + 1 + 2)
    by_type: dict[str, list[CloudEvent]] = {}
    for event in events:
        by_type.setdefault(event.type, []).append(event)
    assert len(by_type["marketing.lead.captured.v1"]) == 4
    qualified_events = {e.subject: e for e in by_type["marketing.lead.qualified.v1"]}
    assert set(qualified_events) == {a, c, d}, "one lead.qualified per lead, none for the order screening"
    assert qualified_events[a].causationid == clear_a.id
    assert qualified_events[a].correlationid == a
    assert qualified_events[a].data["campaign_id"] == cid and qualified_events[a].data["country"] == "DE"
    assert qualified_events[a].data["email"] == "greta.berg@nordlicht.example"
    (disq,) = by_type["marketing.lead.disqualified.v1"]
    assert disq.subject == b and disq.data["reason"] == "watchlist: Nordlicht GmbH (92)"
    conversions = {e.subject: e.data for e in by_type["marketing.lead.converted.v1"]}
    assert conversions == {
        a: {"lead_id": a, "account_id": "acc-a", "campaign_id": cid},
        b: {"lead_id": b, "account_id": "acc-b", "campaign_id": cid},
    }


@pytest.fixture(autouse=True)
def _default_marketing_env(monkeypatch):
    """Tests do not inherit a developer's HANSE_LEAD_RATE_LIMIT or HANSE_BEHIND_GATEWAY."""
    for name in ("HANSE_LEAD_RATE_LIMIT", "HANSE_BEHIND_GATEWAY", "HANSE_CONSENT_TEXT_VERSION"):
        monkeypatch.delenv(name, raising=False)
