"""Nurture sequences: steps sent N days after a lead qualified, by a scheduler job, until it stops.

Each lead carries how many steps it was sent and when the next one is due (`nurture_due_at`), set
when it qualifies, when the sequence changes and after each step; the job only looks at leads
whose step is due. A lead stops getting steps when it converts (sales opened an account), when it
gave no marketing consent, or when its address is on the suppression list (checked at write time).
"""

from __future__ import annotations

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import Invalid
from hanse.events import utcnow
from hanse.scheduler import claim
from services.marketing.config import UoW
from services.marketing.domain import subscribers
from services.marketing.domain.campaigns import get_campaign
from services.marketing.domain.rules import email_key, nurture_due, text_language, uncovered_languages
from services.marketing.models import Campaign, Lead, SequencePublic, SequencePut, SequenceStep, SequenceStepIn

TEMPLATE = "campaign_message"
BATCH = 200


async def steps_of(session: AsyncSession, campaign_id: str) -> list[SequenceStep]:
    rows = await session.exec(
        select(SequenceStep).where(SequenceStep.campaign_id == campaign_id).order_by(col(SequenceStep.position))
    )
    return list(rows.all())


def schedule(lead: Lead, steps: list[SequenceStep]) -> None:
    """When the lead's next step is due, or None when it gets no more."""
    if lead.status != "qualified" or not lead.consent_marketing or lead.qualified_at is None:
        lead.nurture_due_at = None
    elif lead.nurture_step < len(steps):
        lead.nurture_due_at = nurture_due(lead.qualified_at, steps[lead.nurture_step].after_days)
    else:
        lead.nurture_due_at = None


async def schedule_lead(session: AsyncSession, lead: Lead) -> None:
    schedule(lead, await steps_of(session, lead.campaign_id) if lead.campaign_id else [])


async def put_sequence(uow: UoW, campaign_id: str, body: SequencePut) -> SequencePublic:
    """Replace the campaign's sequence (steps in order of after_days) and reschedule its leads."""
    campaign = await get_campaign(uow.session, campaign_id)
    # One writer per campaign at a time: two PUTs must not interleave their delete and insert.
    await uow.session.exec(select(Campaign.id).where(Campaign.id == campaign.id).with_for_update())
    leads = list(
        (
            await uow.session.exec(
                select(Lead)
                .where(Lead.campaign_id == campaign.id, Lead.status == "qualified", col(Lead.consent_marketing))
                .with_for_update()
            )
        ).all()
    )
    ordered = sorted(body.steps, key=lambda s: s.after_days)
    for i, step in enumerate(ordered):
        missing = uncovered_languages(step.subject, (lead.language for lead in leads))
        if missing:
            raise Invalid(
                f"no text in en nor in {', '.join(missing)}, the language of this campaign's leads", field=f"steps.{i}"
            )
    await uow.session.exec(delete(SequenceStep).where(col(SequenceStep.campaign_id) == campaign.id))
    steps = [
        SequenceStep(
            campaign_id=campaign.id,
            position=i,
            after_days=step.after_days,
            subject=dict(step.subject),
            body=dict(step.body),
        )
        for i, step in enumerate(ordered)
    ]
    uow.session.add_all(steps)
    for lead in leads:
        schedule(lead, steps)
        uow.session.add(lead)
    await uow.commit()
    return SequencePublic(campaign_id=campaign.id, steps=ordered)


async def get_sequence(session: AsyncSession, campaign_id: str) -> SequencePublic:
    campaign = await get_campaign(session, campaign_id)
    steps = await steps_of(session, campaign.id)
    return SequencePublic(
        campaign_id=campaign.id,
        steps=[SequenceStepIn(after_days=s.after_days, subject=s.subject, body=s.body) for s in steps],
    )


async def send_due_steps(uow: UoW) -> int:
    """Scheduler job: the next step of each lead whose step is due, one step per lead per run."""
    due = claim(
        select(Lead).where(col(Lead.nurture_due_at) <= utcnow()).order_by(col(Lead.nurture_due_at)).limit(BATCH)
    )
    leads = list((await uow.session.exec(due)).all())
    cache: dict[str, list[SequenceStep]] = {}
    for lead in leads:
        campaign_id = lead.campaign_id or ""
        if campaign_id not in cache:
            cache[campaign_id] = await steps_of(uow.session, campaign_id) if campaign_id else []
        steps = cache[campaign_id]
        schedule(lead, steps)  # the lead may have converted or the sequence shrunk since
        if lead.nurture_due_at is not None and lead.nurture_due_at <= utcnow():
            step = steps[lead.nurture_step]
            language = text_language(step.subject, lead.language)
            sent = None
            if language is not None:
                sent = await subscribers.marketing_mail(
                    uow,
                    TEMPLATE,
                    to=lead.email,
                    key=email_key(uow.config.secret, lead.email),
                    language=language,
                    context={"subject": step.subject[language], "body": step.body[language]},
                    ref=f"lead:{lead.id}",
                )
                if sent is None:  # suppressed: the sequence ends for good
                    lead.nurture_due_at = None
                    uow.session.add(lead)
                    continue
            lead.nurture_step += 1
            schedule(lead, steps)
        uow.session.add(lead)
    return len(leads)
