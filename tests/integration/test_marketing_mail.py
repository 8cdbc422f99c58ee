"""Marketing mail on the real broker, databases and an SMTP sink: double opt-in, newsletters, one-click
unsubscribe and the suppression list, nurture sequences."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import func, update
from sqlmodel import select

from hanse.events import utcnow
from ops.smtp import SmtpSink
from services.compliance.contract import ScreeningCompleted
from services.marketing.app import build
from services.marketing.config import MarketingConfig
from services.marketing.domain import rules
from services.marketing.models import Lead, Model, Subscriber, Suppression
from services.sales.contract import AccountCreated
from tests.integration.test_marketing_api import assert_problem, campaign_body, lead_body, marketing_events
from tests.support.kafka import eventually
from tests.support.service import RunningService

BASE = "/api/v1/marketing"
PUBLIC_URL = "https://hanse.example"
ONE_CLICK = {"content": b"List-Unsubscribe=One-Click", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


@asynccontextmanager
async def marketing(settings, smtp_sink: SmtpSink, **config) -> AsyncIterator[RunningService]:
    """Marketing with its mail going to the test's sink and its jobs running often."""
    settings = settings.model_copy(update={"smtp_url": smtp_sink.url, "mail_poll_seconds": 0.1})
    options = {
        "marketing_public_url": PUBLIC_URL,
        "subscribe_rate_limit": "100/minute",
        "newsletter_every_seconds": 0.1,
        "nurture_every_seconds": 0.2,
    }
    app = build(settings, MarketingConfig(**{**options, **config}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield RunningService("marketing", app, client, settings)


def mail_to(sink: SmtpSink, address: str) -> list[EmailMessage]:
    return [m for m in sink.messages() if m["To"].addresses[0].addr_spec == address]


async def one_mail_to(sink: SmtpSink, address: str, count: int = 1) -> list[EmailMessage]:
    async def arrived():
        found = mail_to(sink, address)
        return found if len(found) >= count else None

    return await eventually(arrived, timeout=15)


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def link_in(message: EmailMessage, path: str) -> str:
    [url] = re.findall(rf"{re.escape(PUBLIC_URL)}{re.escape(path)}\?token=\S+", text_of(message))
    return url


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


async def subscribe(svc: RunningService, email: str, language: str | None = None, **extra) -> httpx.Response:
    body = {"email": email, "consent": True, **({"language": language} if language else {}), **extra}
    return await svc.client.post(f"{BASE}/subscribers", json=body)


async def subscriber_rows(svc: RunningService) -> dict[str, Subscriber]:
    async with svc.runtime.db.session() as session:
        return {s.email: s for s in (await session.exec(select(Subscriber))).all()}


async def outbox_count(svc: RunningService) -> int:
    outbox = Model.metadata.tables["mail_outbox"]
    async with svc.runtime.db.session() as session:
        return int((await session.exec(select(func.count()).select_from(outbox))).one())


SUBJECTS = {
    "en": "Please confirm your subscription to the Hanse newsletter",
    "de": "Bitte bestätigen Sie Ihr Abonnement des Hanse-Newsletters",
    "fr": "Veuillez confirmer votre inscription à la newsletter Hanse",
    "es": "Confirme su suscripción al boletín de Hanse",
    "zh": "请确认订阅 Hanse 新闻简报",
}


async def test_double_opt_in_newsletter_and_one_click_unsubscribe(settings, smtp_sink: SmtpSink):
    async with marketing(settings, smtp_sink) as svc:
        mk = svc.auth("marketing")
        # -- subscribe: a confirmation mail in each of the five languages, with a signed link
        people = {lang: f"reader.{lang}@example.com" for lang in SUBJECTS}
        ids = {}
        for lang, email in people.items():
            response = await subscribe(svc, email.upper() if lang == "en" else email, lang)
            assert response.status_code == 202, response.text
            assert response.json()["status"] == "pending"
            ids[lang] = response.json()["id"]
        confirmations = {lang: (await one_mail_to(smtp_sink, email))[0] for lang, email in people.items()}
        for lang, message in confirmations.items():
            assert message["Subject"] == SUBJECTS[lang] and message["Content-Language"] == lang
            assert message["List-Unsubscribe"] is None, "a transactional confirmation is not marketing mail"
            assert link_in(message, "/api/v1/marketing/subscribers/confirm") in message.get_body(
                preferencelist=("html",)
            ).get_content().replace("&amp;", "&")
        rows = await subscriber_rows(svc)
        assert rows["reader.en@example.com"].consent_source == "subscribe_form"
        assert rows["reader.de@example.com"].consent_wording.startswith("Ja, schicken Sie mir den Hanse-Newsletter")
        assert (
            rows["reader.de@example.com"].consent_text_version == "2026-01"
            and rows["reader.de@example.com"].consented_at
        )

        # -- confirm de, zh and fr; es stays pending; a used link is refused
        for lang in ("de", "zh", "fr"):
            url = link_in(confirmations[lang], "/api/v1/marketing/subscribers/confirm")
            confirmed = await svc.client.get(url.removeprefix(PUBLIC_URL))
            assert confirmed.status_code == 200, confirmed.text
            assert confirmed.json() == {"id": ids[lang], "status": "confirmed"}
        reused = await svc.client.get(
            link_in(confirmations["de"], "/api/v1/marketing/subscribers/confirm").removeprefix(PUBLIC_URL)
        )
        assert_problem(reused, 409, "token")

        # -- forged and expired links change nothing
        es_token = token_of(link_in(confirmations["es"], "/api/v1/marketing/subscribers/confirm"))
        secret = svc.app.state.config.secret
        es = rows["reader.es@example.com"]
        expired = rules.confirm_token(secret, es.id, es.confirm_nonce, utcnow() - timedelta(days=7, minutes=1))
        forged = rules.confirm_token("x" * 40, es.id, es.confirm_nonce, utcnow())
        for bad, detail in ((expired, "expired"), (forged, "not valid"), (es_token[:-2], "not valid")):
            problem = assert_problem(
                await svc.client.get(f"{BASE}/subscribers/confirm", params={"token": bad}), 422, "token"
            )
            assert detail in problem["detail"]
        assert_problem(await svc.client.get(f"{BASE}/subscribers/confirm"), 422, "query.token")
        assert (await subscriber_rows(svc))["reader.es@example.com"].status == "pending"

        listed = (await svc.client.get(f"{BASE}/subscribers?status=confirmed", headers=mk)).json()
        assert sorted(s["email"] for s in listed["items"]) == sorted(people[lang] for lang in ("de", "zh", "fr"))
        assert (await svc.client.get(f"{BASE}/subscribers", headers=svc.auth("sales"))).status_code == 403
        assert_problem(await svc.client.get(f"{BASE}/subscribers?status=gone", headers=mk), 422, "query.status")

        # -- bad input: nothing stored, nothing sent
        before = await outbox_count(svc)
        for body, field in (
            ({"email": "not-an-address", "consent": True}, "email"),
            ({"email": "a@example.com", "consent": False}, "consent"),
            ({"email": "a@example.com"}, "consent"),
            ({"email": "a@example.com", "consent": "yes"}, "consent"),
            ({"email": "a@example.com", "consent": True, "language": "klingon!"}, "language"),
        ):
            assert_problem(await svc.client.post(f"{BASE}/subscribers", json=body), 422, field)

        # -- a newsletter: en fallback required when a confirmed reader's language is missing
        campaign = (await svc.client.post(f"{BASE}/campaigns", json=campaign_body(), headers=mk)).json()
        emails = f"{BASE}/campaigns/{campaign['id']}/emails"
        no_fallback = {"subject": {"de": "Neu"}, "body": {"de": "Text"}}
        assert_problem(await svc.client.post(emails, json=no_fallback, headers=mk), 422, "subject")
        assert_problem(await svc.client.post(f"{BASE}/campaigns/nope/emails", json=no_fallback, headers=mk), 404)
        assert await outbox_count(svc) == before, "bad input sent nothing"
        body = {
            "subject": {"en": "Spring news", "de": "Frühlingsneuheiten", "fr": "Nouveautés du printemps"},
            "body": {"en": "Our new pumps.\n\nSee you!", "de": "Unsere neuen Pumpen.", "fr": "Nos pompes."},
        }
        created = await svc.client.post(emails, json=body, headers=mk)
        assert created.status_code == 201, created.text
        newsletter = created.json()
        assert newsletter["status"] == "draft" and newsletter["id"]
        sent = await svc.client.post(f"{emails}/{newsletter['id']}/send", headers=mk)
        assert sent.status_code == 202 and sent.json() == {"id": newsletter["id"], "status": "sending"}
        assert_problem(await svc.client.post(f"{emails}/{newsletter['id']}/send", headers=mk), 409, "email_id")

        async def delivered():
            state = (await svc.client.get(f"{emails}/{newsletter['id']}", headers=mk)).json()
            return state if state["status"] == "sent" else None

        state = await eventually(delivered, timeout=20)
        assert (state["sent"], state["failed"], state["recipients"]) == (3, 0, 3)
        news = {lang: (await one_mail_to(smtp_sink, people[lang], 2))[1] for lang in ("de", "zh", "fr")}
        assert news["de"]["Subject"] == "Frühlingsneuheiten" and "Unsere neuen Pumpen." in text_of(news["de"])
        assert news["fr"]["Subject"] == "Nouveautés du printemps"
        assert news["zh"]["Subject"] == "Spring news", "no Chinese text: the English one"
        for message in news.values():
            assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert re.fullmatch(
                r"<https://hanse\.example/api/v1/marketing/unsubscribe\?token=\S+>", message["List-Unsubscribe"]
            )
        assert len(mail_to(smtp_sink, people["es"])) == 1, "the pending subscriber got only the confirmation"
        assert len(mail_to(smtp_sink, people["en"])) == 1

        # -- one click: the address is suppressed for good
        de_unsubscribe = news["de"]["List-Unsubscribe"].strip("<>")
        assert_problem(
            await svc.client.post(f"{BASE}/unsubscribe", params={"token": "forged.token"}, **ONE_CLICK), 422, "token"
        )
        assert_problem(
            await svc.client.post(de_unsubscribe.removeprefix(PUBLIC_URL), content=b"hello"), 422, "List-Unsubscribe"
        )
        assert (await subscriber_rows(svc))["reader.de@example.com"].status == "confirmed", "nothing changed"
        for _ in range(2):  # the same click twice is fine
            done = await svc.client.post(de_unsubscribe.removeprefix(PUBLIC_URL), **ONE_CLICK)
            assert done.status_code == 200 and done.json() == {"status": "unsubscribed"}
        assert (await subscriber_rows(svc))["reader.de@example.com"].status == "unsubscribed"
        before = await outbox_count(svc)
        assert_problem(await subscribe(svc, "Reader.DE@example.com", "de"), 409, "email")
        assert await outbox_count(svc) == before, "a suppressed address gets no confirmation"

        # -- the next newsletter reaches the two still subscribed, never the suppressed address
        second = (await svc.client.post(emails, json=body, headers=mk)).json()
        await svc.client.post(f"{emails}/{second['id']}/send", headers=mk)
        state = await eventually(lambda: _state_if_sent(svc, f"{emails}/{second['id']}", mk), timeout=20)
        assert (state["sent"], state["recipients"]) == (2, 2)
        await one_mail_to(smtp_sink, people["fr"], 3)
        assert len(mail_to(smtp_sink, people["de"])) == 2
        async with svc.runtime.db.session() as session:
            [suppressed] = (await session.exec(select(Suppression))).all()
        assert suppressed.reason == "unsubscribed" and suppressed.email_key == rules.email_key(secret, people["de"])


async def _state_if_sent(svc: RunningService, url: str, headers: dict) -> dict | None:
    state = (await svc.client.get(url, headers=headers)).json()
    return state if state["status"] == "sent" else None


def screening(lead_id: str, result: str = "clear") -> ScreeningCompleted:
    return ScreeningCompleted(check_id=f"chk-{lead_id}", subject_type="lead", subject_id=lead_id, result=result)


async def test_nurture_steps_reach_qualified_consenting_leads_until_they_convert(settings, smtp_sink: SmtpSink):
    async with marketing(settings, smtp_sink) as svc:
        mk = svc.auth("marketing")
        campaign = (await svc.client.post(f"{BASE}/campaigns", json=campaign_body(), headers=mk)).json()
        sequence = f"{BASE}/campaigns/{campaign['id']}/sequence"
        leads = {}
        for name, overrides in {
            "anna": {"email": "anna@nordlicht.example", "language": "de"},
            "ben": {"email": "ben@nordlicht.example", "language": "en"},
            "carl": {"email": "carl@nordlicht.example", "consent_marketing": False},
            "dora": {"email": "dora@nordlicht.example", "language": "es"},
        }.items():
            response = await svc.client.post(f"{BASE}/leads", json=lead_body(**overrides))
            leads[name] = response.json()["id"]

        # Scoring: a hot lead shows its score and reasons and is announced.
        anna = (await svc.client.get(f"{BASE}/leads/{leads['anna']}", headers=mk)).json()
        assert anna["score"] == 100 and "+20 business email domain (nordlicht.example)" in anna["score_reasons"]
        carl = (await svc.client.get(f"{BASE}/leads/{leads['carl']}", headers=mk)).json()
        assert carl["score"] == 95 and "+10 marketing consent given" not in carl["score_reasons"]

        for lead_id in leads.values():
            await svc.deliver(screening(lead_id))

        async def all_qualified():
            page = (await svc.client.get(f"{BASE}/leads?status=qualified", headers=mk)).json()
            return len(page["items"]) == 4

        await eventually(all_qualified)
        step = {"subject": {"en": "Welcome", "de": "Willkommen"}, "body": {"en": "Hello.", "de": "Hallo."}}
        bad = {"steps": [{"after_days": 0, "subject": {"de": "x"}, "body": {"de": "x"}}]}
        assert_problem(await svc.client.put(sequence, json=bad, headers=mk), 422, "steps.0")
        assert_problem(await svc.client.put(sequence, json={"steps": [{**step, "after_days": -1}]}, headers=mk), 422)
        put = await svc.client.put(
            sequence,
            json={
                "steps": [
                    {**step, "after_days": 3, "subject": {"en": "Day 3"}, "body": {"en": "Three"}},
                    {**step, "after_days": 0},
                ]
            },
            headers=mk,
        )
        assert put.status_code == 200, put.text
        assert [s["after_days"] for s in put.json()["steps"]] == [0, 3], "steps in order of their day"

        [first_anna] = await one_mail_to(smtp_sink, "anna@nordlicht.example")
        [first_ben] = await one_mail_to(smtp_sink, "ben@nordlicht.example")
        assert first_anna["Subject"] == "Willkommen" and first_ben["Subject"] == "Welcome"
        assert first_anna["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # Dora (Spanish: the English text) unsubscribes with one click from her first step.
        [first_dora] = await one_mail_to(smtp_sink, "dora@nordlicht.example")
        assert first_dora["Subject"] == "Welcome"
        click = await svc.client.post(first_dora["List-Unsubscribe"].strip("<>").removeprefix(PUBLIC_URL), **ONE_CLICK)
        assert click.status_code == 200

        # Ben becomes a customer; then three days pass for everybody.
        await svc.deliver(
            AccountCreated(
                account_id="acc-ben",
                lead_id=leads["ben"],
                company="Nordlicht",
                country="DE",
                email="ben@nordlicht.example",
                currency="EUR",
                payment_terms="prepaid",
            )
        )

        async def converted():
            lead = (await svc.client.get(f"{BASE}/leads/{leads['ben']}", headers=mk)).json()
            return lead["status"] == "converted"

        await eventually(converted)
        async with svc.runtime.db.session() as session:
            await session.exec(
                update(Lead)
                .where(Lead.qualified_at.is_not(None))
                .values(qualified_at=utcnow() - timedelta(days=3, minutes=1))
            )
            await session.exec(
                update(Lead)
                .where(Lead.nurture_due_at.is_not(None))
                .values(nurture_due_at=utcnow() - timedelta(minutes=1))
            )
            await session.commit()
        [_, day3] = await one_mail_to(smtp_sink, "anna@nordlicht.example", 2)
        assert day3["Subject"] == "Day 3"
        async with svc.runtime.db.session() as session:
            rows = {lead.id: lead for lead in (await session.exec(select(Lead))).all()}
        assert rows[leads["anna"]].nurture_step == 2 and rows[leads["anna"]].nurture_due_at is None
        assert rows[leads["ben"]].nurture_step == 1 and rows[leads["ben"]].nurture_due_at is None
        assert len(mail_to(smtp_sink, "ben@nordlicht.example")) == 1, "a customer gets no more nurture"
        assert mail_to(smtp_sink, "carl@nordlicht.example") == [], "no consent, no nurture"
        assert len(mail_to(smtp_sink, "dora@nordlicht.example")) == 1, "unsubscribed: no more nurture"
        assert rows[leads["dora"]].nurture_step == 1 and rows[leads["dora"]].nurture_due_at is None

        events = await marketing_events(svc, expect=1 + 4 + 4 + 4 + 1)
        scored = [e for e in events if e.type == "marketing.lead.scored.v1"]
        assert {e.subject for e in scored} == set(leads.values())
        assert all(e.data["score"] >= rules.HOT_LEAD for e in scored)
