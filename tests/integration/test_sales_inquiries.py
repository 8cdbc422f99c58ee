"""Inquiries (RFQ) over HTTP: public and rate-limited, screened, quoted at the MOQ, won, lost."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, update
from sqlmodel import select

from hanse.events import utcnow
from services.compliance.contract import ScreeningCompleted
from services.sales.models import Inquiry, Quote
from tests.integration.test_sales_api import (
    BASE,
    account_body,
    assert_problem,
    created,
    get,
    post,
    product_body,
    quote_body,
    sales_events,
)
from tests.support.kafka import eventually
from tests.support.service import RunningService, run_service


def inquiry_body(**overrides) -> dict:
    body = {
        "company": "Kowloon Pumps Ltd",
        "contact_name": "Mei Chan",
        "email": "mei@kowloon.example",
        "country": "HK",
        "language": "zh",
        "lines": [{"sku": "PUMP-100", "quantity": 1}],
        "message": "Please quote\nwith delivery to Hong Kong.",
    }
    body.update(overrides)
    return body


async def inquiries_in_db(svc: RunningService) -> int:
    async with svc.runtime.db.sessionmaker() as session:
        return (await session.exec(select(func.count()).select_from(Inquiry))).one()


async def status_of(svc: RunningService, inquiry_id: str) -> dict:
    return (await get(svc, f"/inquiries/{inquiry_id}")).json()


async def test_an_inquiry_is_quoted_at_the_moq_won_lost_or_blocked(settings, monkeypatch):
    monkeypatch.setenv("HANSE_SALES_SLA_CHECK_SECONDS", "0.2")
    monkeypatch.setenv("HANSE_SALES_INQUIRY_RATE_LIMIT", "9/minute")
    async with run_service("sales", settings) as svc:
        await created(svc, "/products", product_body())  # MOQ 2
        public = svc.client

        # -- bad input first: unknown sku, bad email; problem+json, nothing recorded
        bad = await public.post(f"{BASE}/inquiries", json=inquiry_body(lines=[{"sku": "NOPE-1", "quantity": 5}]))
        assert_problem(bad, 422, "lines.0.sku")
        assert_problem(await public.post(f"{BASE}/inquiries", json=inquiry_body(email="not-an-address")), 422, "email")
        assert_problem(await public.post(f"{BASE}/inquiries", json=inquiry_body(incoterm="XYZ")), 422, "incoterm")
        assert await inquiries_in_db(svc) == 0

        # -- public, no token: below the MOQ is accepted and answered with the MOQ
        answer = await public.post(f"{BASE}/inquiries", json=inquiry_body())
        assert answer.status_code == 201, answer.text
        won = answer.json()
        assert won["status"] == "open" and won["lines"] == [{"sku": "PUMP-100", "quantity": 1, "moq": 2}]
        events = await sales_events(svc, expect=2)
        [received] = [e for e in events if e.type == "sales.inquiry.received.v1"]
        assert received.data["inquiry_id"] == won["id"] and received.data["country"] == "HK"

        # -- a quote answers it at the MOQ and says so; accepting it wins the inquiry
        acc = await created(svc, "/accounts", account_body(country="HK", currency="HKD", email="mei@kowloon.example"))
        body = quote_body(acc["id"], currency="HKD", destination_country="HK", inquiry_id=won["id"])
        del body["lines"]
        quote = await created(svc, "/quotes", body)
        [line] = quote["lines"]
        assert (line["quantity"], "minimum order quantity of 2" in line["note"]) == (2, True)
        assert quote["inquiry_id"] == won["id"]
        assert (await status_of(svc, won["id"]))["status"] == "quoted"
        assert (await status_of(svc, won["id"]))["quote_ids"] == [quote["id"]]
        await created(svc, f"/quotes/{quote['id']}/accept", {})
        assert (await status_of(svc, won["id"]))["status"] == "won"

        # -- another is quoted, its only quote expires: the scheduler marks it lost
        lost = (await public.post(f"{BASE}/inquiries", json=inquiry_body(company="Slow Co"))).json()
        expiring = await created(
            svc, "/quotes", quote_body(acc["id"], inquiry_id=lost["id"], lines=[{"sku": "PUMP-100", "quantity": 4}])
        )
        async with svc.runtime.db.sessionmaker() as session:
            await session.exec(
                update(Quote).where(Quote.id == expiring["id"]).values(valid_until=utcnow() - timedelta(seconds=1))
            )
            await session.commit()

        async def is_lost():
            found = await status_of(svc, lost["id"])
            return found if found["status"] == "lost" else None

        assert (await eventually(is_lost))["lost_reason"] == "every quote expired"
        assert (await status_of(svc, won["id"]))["status"] == "won"

        # -- compliance blocks a third one: lost, and it cannot be quoted
        blocked = (await public.post(f"{BASE}/inquiries", json=inquiry_body(company="Shady Ltd"))).json()
        await svc.deliver(
            ScreeningCompleted(
                check_id="chk_1", subject_type="inquiry", subject_id=blocked["id"], result="blocked", reasons=["match"]
            )
        )

        async def is_blocked():
            found = await status_of(svc, blocked["id"])
            return found if found["status"] == "lost" else None

        found = await eventually(is_blocked)
        assert (found["screening"], found["lost_reason"]) == ("blocked", "blocked by compliance screening")
        quotes_before = len((await get(svc, "/quotes")).json()["items"])
        assert_problem(await post(svc, "/quotes", quote_body(acc["id"], inquiry_id=blocked["id"])), 409, "inquiry_id")
        assert_problem(await post(svc, "/quotes", quote_body(acc["id"], inquiry_id="inq_nope")), 422, "inquiry_id")
        assert len((await get(svc, "/quotes")).json()["items"]) == quotes_before
        assert [i["id"] for i in (await get(svc, "/inquiries", status="lost")).json()["items"]] == [
            lost["id"],
            blocked["id"],
        ]

        # -- the public form is rate-limited per client
        statuses = [
            (await public.post(f"{BASE}/inquiries", json=inquiry_body(company=f"Spam {i}"))).status_code
            for i in range(8)
        ]
        assert 429 in statuses
        assert await inquiries_in_db(svc) == 3 + statuses.count(201)
