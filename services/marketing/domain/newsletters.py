"""Newsletters: a campaign email, fanned out to confirmed subscribers in batches by a scheduler job.

The send request only marks the newsletter `sending` (202 at once); the job writes at most
`newsletter_batch_size` messages to the mail outbox per run, each run one short transaction that
remembers where it stopped, so a send of any size never holds one giant transaction nor the API.
The kernel's mail worker delivers; sent/failed are counted from its outbox rows (`ref`).
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import Conflict, Invalid
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.pagination import get_or_404
from hanse.scheduler import claim
from services.marketing.config import UoW
from services.marketing.domain import subscribers
from services.marketing.domain.campaigns import get_campaign
from services.marketing.domain.rules import text_language, uncovered_languages
from services.marketing.models import Model, Newsletter, NewsletterCreate, NewsletterPublic, Subscriber

TEMPLATE = "campaign_message"


def newsletter_ref(newsletter_id: str) -> str:
    return f"newsletter:{newsletter_id}"


async def check_languages(session: AsyncSession, languages: set[str]) -> None:
    """Every confirmed subscriber must be served: their language or en (else 422, naming what is missing)."""
    if "en" in languages:
        return
    readers = await session.exec(select(Subscriber.language).where(Subscriber.status == "confirmed").distinct())
    missing = uncovered_languages(languages, readers.all())
    if missing:
        raise Invalid(
            f"no text in en nor in {', '.join(missing)}, the language of confirmed subscribers; add en as fallback",
            field="subject",
        )


async def create_newsletter(uow: UoW, campaign_id: str, body: NewsletterCreate) -> Newsletter:
    campaign = await get_campaign(uow.session, campaign_id)
    await check_languages(uow.session, set(body.subject))
    newsletter = Newsletter(
        id=new_id("nl"),
        campaign_id=campaign.id,
        subject=dict(body.subject),
        body=dict(body.body),
        status="draft",
        created_at=utcnow(),
    )
    uow.session.add(newsletter)
    await uow.commit()
    return newsletter


async def get_newsletter(session: AsyncSession, campaign_id: str, newsletter_id: str) -> Newsletter:
    newsletter = await get_or_404(session, Newsletter, newsletter_id, what="newsletter", field="email_id")
    if newsletter.campaign_id != campaign_id:
        raise Invalid(f"newsletter {newsletter_id} belongs to another campaign", field="email_id")
    return newsletter


async def request_send(uow: UoW, campaign_id: str, newsletter_id: str) -> Newsletter:
    """Mark the draft for sending; the job fans it out. A second send is a 409."""
    await get_campaign(uow.session, campaign_id)
    newsletter = await get_newsletter(uow.session, campaign_id, newsletter_id)
    locked = await uow.session.exec(select(Newsletter).where(Newsletter.id == newsletter.id).with_for_update())
    newsletter = locked.one()
    if newsletter.status != "draft":
        raise Conflict(f"newsletter {newsletter.id} was already sent", field="email_id")
    await check_languages(uow.session, set(newsletter.subject))
    newsletter.status = "sending"
    newsletter.send_requested_at = utcnow()
    uow.session.add(newsletter)
    await uow.commit()
    return newsletter


async def fan_out(uow: UoW) -> int:
    """One batch of one newsletter being sent: the next confirmed subscribers after its cursor."""
    due = claim(
        select(Newsletter).where(Newsletter.status == "sending").order_by(Newsletter.send_requested_at).limit(1)
    )
    newsletter = (await uow.session.exec(due)).first()
    if newsletter is None:
        return 0
    size = uow.config.newsletter_batch_size
    query = select(Subscriber).where(Subscriber.status == "confirmed").order_by(Subscriber.id).limit(size)
    if newsletter.cursor is not None:
        query = query.where(Subscriber.id > newsletter.cursor)
    batch = list((await uow.session.exec(query)).all())
    suppressed = await subscribers.suppressed_keys(uow.session, (s.email_key for s in batch))
    ref = newsletter_ref(newsletter.id)
    written = skipped = 0
    for subscriber in batch:
        language = text_language(newsletter.subject, subscriber.language)
        if language is None or subscriber.email_key in suppressed:
            skipped += 1
            continue
        await subscribers.marketing_mail(
            uow,
            TEMPLATE,
            to=subscriber.email,
            key=subscriber.email_key,
            language=language,
            context={"subject": newsletter.subject[language], "body": newsletter.body[language]},
            ref=ref,
            checked=True,
        )
        written += 1
    newsletter.recipients += written
    newsletter.skipped += skipped
    if batch:
        newsletter.cursor = batch[-1].id
    if len(batch) < size:  # the last batch: every confirmed subscriber has had their turn
        newsletter.status = "sent"
        newsletter.fanned_out_at = utcnow()
    uow.session.add(newsletter)
    return len(batch) or 1


async def newsletter_public(session: AsyncSession, newsletter: Newsletter) -> NewsletterPublic:
    """Counts from the kernel's mail outbox; `sent` once fanned out and nothing is pending any more."""
    outbox = Model.metadata.tables["mail_outbox"]
    rows = await session.exec(
        select(outbox.c.status, func.count())
        .where(outbox.c.ref == newsletter_ref(newsletter.id))
        .group_by(outbox.c.status)  # type: ignore[arg-type]
    )
    counts = {status: int(n) for status, n in rows.all()}
    pending = counts.get("pending", 0)
    if newsletter.status == "draft":
        status = "draft"
    elif newsletter.status == "sent" and pending == 0:
        status = "sent"
    else:
        status = "sending"
    counted = {"status": status, "sent": counts.get("sent", 0), "failed": counts.get("failed", 0), "pending": pending}
    return NewsletterPublic.model_validate({**newsletter.model_dump(), **counted})
