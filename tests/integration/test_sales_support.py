"""Support tickets over HTTP on the real broker, databases and an SMTP sink: SLA clocks in the buyer's zone."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import select

from hanse.events import utcnow
from services.sales.models import Ticket, TicketMessage
from tests.conftest import make_settings
from tests.integration.test_sales_api import account_body, assert_problem, created, get, place_order, post, sales_events
from tests.support.kafka import eventually
from tests.support.service import RunningService, run_service


def in_business_hours(stamp: str, offset: str) -> datetime:
    moment = datetime.fromisoformat(stamp)
    assert stamp.endswith(offset), stamp
    assert moment.weekday() < 5 and (9 <= moment.hour < 17 or (moment.hour, moment.minute) == (17, 0)), stamp
    return moment


async def count(svc: RunningService, model) -> int:
    async with svc.runtime.db.sessionmaker() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def test_tickets_in_the_buyers_zone_replies_mail_pause_and_one_breach_each(
    broker, database_url, smtp_sink, monkeypatch
):
    monkeypatch.setenv("HANSE_SALES_SLA_CHECK_SECONDS", "0.2")
    settings = make_settings(broker.bootstrap, database_url, smtp_url=smtp_sink.url, mail_poll_seconds=0.1)
    async with run_service("sales", settings) as svc:
        tokyo = await created(
            svc, "/accounts", account_body(country="JP", currency="JPY", email="kaito@tokyo.example", language="fr")
        )
        other_order = await place_order(svc, email="someone@else.example")

        # -- bad input: problem+json naming the field, nothing created
        base = {"account_id": tokyo["id"], "subject": "Pump leaks", "body": "It drips.", "channel": "web"}
        for body, status, field in [
            ({**base, "priority": "high", "account_id": "acc_nope"}, 422, "account_id"),
            ({**base, "priority": "high", "order_id": other_order["id"]}, 422, "order_id"),
            ({**base, "priority": "high", "order_id": "ord_nope"}, 422, "order_id"),
            ({**base, "priority": "asap"}, 422, "priority"),
            ({**base, "priority": "low", "channel": "fax"}, 422, "channel"),
            ({**base, "priority": "low", "body": "\x00"}, 422, "body"),
        ]:
            assert_problem(await post(svc, "/tickets", body), status, field)
        assert await count(svc, Ticket) == 0

        # -- opened: deadlines in Tokyo business hours, answered with Tokyo's offset
        ticket = await created(svc, "/tickets", {**base, "priority": "high"})
        assert (ticket["status"], ticket["language"], ticket["timezone"]) == ("open", "fr", "Asia/Tokyo")
        first = in_business_hours(ticket["first_response_due"], "+09:00")
        resolution = in_business_hours(ticket["resolution_due"], "+09:00")
        assert resolution > first > datetime.fromisoformat(ticket["created_at"])

        # -- the first agent reply stops the first-response clock and mails the customer in French
        await created(svc, f"/tickets/{ticket['id']}/messages", {"body": "Merci, nous regardons.", "author": "agent"})
        answered = (await get(svc, f"/tickets/{ticket['id']}")).json()
        assert answered["first_responded_at"] is not None
        assert [m["author"] for m in answered["messages"]] == ["customer", "agent"]
        [mail] = await eventually(lambda: _messages(smtp_sink, "kaito@tokyo.example"))
        assert mail["To"].addresses[0].addr_spec == "kaito@tokyo.example"
        assert mail["Subject"] == f"RE : Pump leaks [{ticket['id']}]"
        assert "Merci, nous regardons." in mail.get_body(preferencelist=("plain",)).get_content()
        assert '<html lang="fr">' in mail.get_body(preferencelist=("html",)).get_content()

        # -- pending pauses the resolution clock; the customer writing again resumes it
        paused = (await post(svc, f"/tickets/{ticket['id']}/status", {"status": "pending"})).json()
        assert paused["status"] == "pending"
        await created(svc, f"/tickets/{ticket['id']}/messages", {"body": "Still dripping.", "author": "customer"})
        resumed = (await get(svc, f"/tickets/{ticket['id']}")).json()
        assert resumed["status"] == "open"
        assert datetime.fromisoformat(resumed["resolution_due"]) >= resolution

        # -- two tickets breach: each clock is published once, and they lead the queue
        late = await created(svc, "/tickets", {**base, "priority": "urgent", "subject": "Late one"})
        later = await created(svc, "/tickets", {**base, "priority": "low", "subject": "Quiet one"})
        past = utcnow() - timedelta(minutes=5)
        async with svc.runtime.db.sessionmaker() as session:
            await session.exec(
                update(Ticket).where(Ticket.id == late["id"]).values(first_response_due=past, resolution_due=past)
            )
            await session.commit()

        async def breaches():
            events = await sales_events(svc, expect=1)
            found = [e for e in events if e.type == "sales.ticket.sla_breached.v1"]
            return found if len(found) >= 2 else None

        found = await eventually(breaches)
        assert sorted(e.data["clock"] for e in found) == ["first_response", "resolution"]
        assert {e.data["ticket_id"] for e in found} == {late["id"]}
        assert found[0].data["due"].endswith("+09:00")
        queue = (await get(svc, "/tickets")).json()["items"]
        assert queue[0]["id"] == late["id"] and queue[0]["breached"] is True
        assert [t["id"] for t in (await get(svc, "/tickets", breached="true")).json()["items"]] == [late["id"]]
        assert later["id"] in [t["id"] for t in (await get(svc, "/tickets", breached="false")).json()["items"]]
        # Several more scheduler runs later, still one event per clock.
        await asyncio.sleep(1.0)
        again = await sales_events(svc, expect=len(found) + 1)
        assert len([e for e in again if e.type == "sales.ticket.sla_breached.v1"]) == 2

        # -- closed: no more replies, no status going back; nothing changes
        await post(svc, f"/tickets/{ticket['id']}/status", {"status": "closed"})
        messages = await count(svc, TicketMessage)
        assert_problem(await post(svc, f"/tickets/{ticket['id']}/messages", {"body": "Hello?", "author": "agent"}), 409)
        assert_problem(await post(svc, f"/tickets/{ticket['id']}/status", {"status": "pending"}), 409, "status")
        assert_problem(await post(svc, "/tickets/tkt_nope/messages", {"body": "x", "author": "agent"}), 404)
        assert_problem(await post(svc, f"/tickets/{ticket['id']}/status", {"status": "open"}), 422, "status")
        assert await count(svc, TicketMessage) == messages
        assert (await get(svc, f"/tickets/{ticket['id']}")).json()["status"] == "closed"
        assert_problem(await get(svc, "/tickets", status="nope"), 422, "query.status")


async def _messages(sink, to: str):
    return [m for m in sink.messages() if m["To"].addresses[0].addr_spec == to] or None
