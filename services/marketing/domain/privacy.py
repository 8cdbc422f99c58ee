"""Data-subject requests (GDPR art. 15 / 17) for marketing's records: leads, consent records,
subscribers and the mail sent to the person; erasure also puts the address on the suppression list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import col, select

from hanse.privacy import Retained, pseudonym
from services.compliance.contract import PrivacyRequestOpened
from services.marketing import views
from services.marketing.config import UoW
from services.marketing.contract import PrivacyAnswered
from services.marketing.domain import subscribers
from services.marketing.domain.rules import email_key
from services.marketing.models import ConsentRecord, Lead, Model, Subscriber

ERASED_NAME = "(erased)"


def _plain(row: Any) -> dict[str, Any]:
    return row.model_dump(mode="json")


async def answer_privacy_request(uow: UoW, request: PrivacyRequestOpened) -> None:
    """Find the person's rows; export them (access) or erase / pseudonymise them (erasure).

    The answer is published in the same transaction as the erasure.
    """
    email = request.email.strip().lower()
    key = email_key(uow.config.secret, email)
    session = uow.session
    leads = list((await session.exec(select(Lead).where(func.lower(Lead.email) == email).with_for_update())).all())
    consents = list((await session.exec(select(ConsentRecord).where(func.lower(ConsentRecord.email) == email))).all())
    subs = list((await session.exec(select(Subscriber).where(Subscriber.email == email))).all())
    outbox = Model.metadata.tables["mail_outbox"]
    mail_rows = (
        await session.exec(
            select(outbox.c.id, outbox.c.status, outbox.c.subject, outbox.c.created_at, outbox.c.sent_at).where(
                func.lower(outbox.c.to_address) == email
            )
        )
    ).all()
    suppressed = bool(await subscribers.suppressed_keys(session, [key]))
    records = len(leads) + len(consents) + len(subs) + len(mail_rows)

    if request.kind == "access":
        export = {
            "leads": [views.lead_public(lead).model_dump(mode="json") for lead in leads],
            "consent_records": [_plain(c) for c in consents],
            "subscribers": [views.subscriber_public(s).model_dump(mode="json") for s in subs],
            "mail": [
                {"status": m.status, "subject": m.subject, "created_at": m.created_at.isoformat()} for m in mail_rows
            ],
            "suppressed": suppressed,
        }
        answer = PrivacyAnswered(
            request_id=request.request_id, kind="access", department="marketing", records=records, export=export
        )
        await uow.publish(answer)
        return

    stand_in = pseudonym(email, uow.config.secret)
    for lead in leads:  # kept for campaign figures (counts, attribution), no longer about a person
        lead.email = stand_in
        lead.contact_name = ERASED_NAME
        lead.message = None
        lead.nurture_due_at = None
        session.add(lead)
    for consent in consents:
        consent.email = stand_in
        session.add(consent)
    for sub in subs:
        await session.delete(sub)
    await session.exec(delete(outbox).where(func.lower(outbox.c.to_address) == email, outbox.c.status == "pending"))
    await session.exec(
        update(outbox)
        .where(func.lower(outbox.c.to_address) == email, col(outbox.c.status) != "pending")
        .values(to_address=stand_in, text_body="(erased)", html_body=None, headers="{}")
    )
    await subscribers.suppress(session, key, "erasure")
    retained = []
    if consents:
        retained.append(
            Retained(
                what=f"{len(consents)} consent record(s), address pseudonymised",
                why="GDPR art. 7(1): the controller must be able to prove consent was given or declined",
            )
        )
    retained.append(
        Retained(
            what="a keyed hash of the address on the suppression list",
            why="GDPR art. 17(3)/21(3): honouring the objection means never mailing the address again",
        )
    )
    pending = sum(1 for m in mail_rows if m.status == "pending")
    answer = PrivacyAnswered(
        request_id=request.request_id,
        kind="erasure",
        department="marketing",
        records=records,
        erased=len(subs) + pending,
        pseudonymised=len(leads) + len(consents) + len(mail_rows) - pending,
        retained=retained,
    )
    await uow.publish(answer)
