"""Subscribers: double opt-in with a signed, expiring link; one-click unsubscribe; the suppression list.

Every marketing mail is written through `marketing_mail`, which refuses a suppressed address at
write time and adds the RFC 8058 headers, so no path can send marketing mail without them.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import Conflict, Invalid
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.pagination import Page, paginate
from hanse.uow import QueuedMail
from services.marketing.config import MarketingConfig, UoW
from services.marketing.domain.rules import (
    TokenError,
    confirm_token,
    email_key,
    read_confirm_token,
    read_unsubscribe_token,
    unsubscribe_token,
)
from services.marketing.models import Subscriber, SubscriberCreate, Suppression

SUBSCRIBE_SOURCE = "subscribe_form"
# What the form asks the person to agree to, per language: stored on the row with its version.
CONSENT_WORDING = {
    "en": "Yes, send me the Hanse newsletter with product news and offers by email. I can unsubscribe at any time.",
    "de": "Ja, schicken Sie mir den Hanse-Newsletter mit Produktneuheiten und Angeboten per E-Mail. "
    "Ich kann mich jederzeit abmelden.",
    "fr": "Oui, envoyez-moi la newsletter Hanse avec les nouveautés et offres par e-mail. "
    "Je peux me désinscrire à tout moment.",
    "es": "Sí, envíenme el boletín de Hanse con novedades y ofertas por correo electrónico. "
    "Puedo darme de baja en cualquier momento.",
    "zh": "是的，请通过电子邮件向我发送 Hanse 新闻简报（产品新闻和优惠）。我可以随时退订。",
}


def consent_wording(language: str | None) -> tuple[str, str]:
    primary = (language or "en").split("-")[0].lower()
    chosen = primary if primary in CONSENT_WORDING else "en"
    return chosen, CONSENT_WORDING[chosen]


# -- links and headers ----------------------------------------------------------------------------------


def unsubscribe_url(config: MarketingConfig, key: str) -> str:
    token = unsubscribe_token(config.secret, key)
    return f"{config.marketing_public_url}/api/v1/marketing/unsubscribe?token={quote(token)}"


def confirm_url(config: MarketingConfig, token: str) -> str:
    return f"{config.marketing_public_url}/api/v1/marketing/subscribers/confirm?token={quote(token)}"


def unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe: mailbox providers POST `List-Unsubscribe=One-Click` to the URL."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


# -- the suppression list -------------------------------------------------------------------------------


async def suppressed_keys(session: AsyncSession, keys: Iterable[str]) -> set[str]:
    keys = list(set(keys))
    if not keys:
        return set()
    found = await session.exec(select(Suppression.email_key).where(Suppression.email_key.in_(keys)))
    return set(found.all())


async def suppress(session: AsyncSession, key: str, reason: str) -> bool:
    """Put an address on the list (once; the first reason stays); True when it was not there yet."""
    if await session.get(Suppression, key) is not None:
        return False
    session.add(Suppression(email_key=key, reason=reason, created_at=utcnow()))
    return True


async def marketing_mail(
    uow: UoW,
    template: str,
    *,
    to: str,
    key: str,
    language: str | None,
    context: Mapping[str, Any],
    ref: str,
    checked: bool = False,
) -> QueuedMail | None:
    """Write one marketing mail with its unsubscribe link and headers; None when the address is suppressed.

    `checked=True` when the caller already looked the key up (a newsletter batch checks in bulk).
    """
    if not checked and await suppressed_keys(uow.session, [key]):
        return None
    url = unsubscribe_url(uow.config, key)
    return await uow.send_mail(
        template,
        to=to,
        language=language,
        context={**context, "unsubscribe_url": url},
        headers=unsubscribe_headers(url),
        ref=ref,
    )


# -- subscribing ----------------------------------------------------------------------------------------


async def subscribe(uow: UoW, body: SubscriberCreate) -> Subscriber:
    """A pending subscriber and its confirmation mail; the same address again gets a fresh link.

    A suppressed address is refused (409) and nothing is sent. An address already confirmed is
    answered like a new one (nobody learns who subscribed) and gets no mail.
    """
    if body.consent is not True:
        raise Invalid("consent must be true to subscribe", field="consent")
    email = str(body.email).strip().lower()
    key = email_key(uow.config.secret, email)
    if await suppressed_keys(uow.session, [key]):
        raise Conflict("this address unsubscribed or asked for erasure; it gets no marketing mail", field="email")
    now = utcnow()
    found = await uow.session.exec(select(Subscriber).where(Subscriber.email == email).with_for_update())
    subscriber = found.first()
    _, wording = consent_wording(body.language)
    if subscriber is None:
        subscriber = Subscriber(
            id=new_id("sub"),
            email=email,
            email_key=key,
            language=body.language,
            status="pending",
            consent_text_version=body.consent_text_version or uow.config.consent_text_version,
            consent_wording=wording,
            consent_source=SUBSCRIBE_SOURCE,
            consented_at=now,
            created_at=now,
        )
    elif subscriber.status == "confirmed":
        return subscriber
    else:  # pending again: the newest consent and language count, the old link stops working
        subscriber.language = body.language or subscriber.language
        subscriber.consent_text_version = body.consent_text_version or uow.config.consent_text_version
        subscriber.consent_wording = wording
        subscriber.consented_at = now
    subscriber.confirm_nonce = secrets.token_urlsafe(12)
    uow.session.add(subscriber)
    token = confirm_token(uow.config.secret, subscriber.id, subscriber.confirm_nonce, now)
    await uow.send_mail(
        "confirm_subscription",
        to=email,
        language=subscriber.language,
        context={"confirm_url": confirm_url(uow.config, token), "days": uow.config.confirm_token_days},
        ref=f"subscriber:{subscriber.id}",
    )
    try:
        await uow.commit()
    except IntegrityError:  # the same address subscribed concurrently: the first one stands
        await uow.rollback()
        raise Conflict("this address is being subscribed right now; try again", field="email") from None
    return subscriber


def _token_problem(exc: TokenError) -> Invalid:
    if exc.reason == "expired":
        return Invalid("this confirmation link expired; subscribe again to get a new one", field="token")
    return Invalid("this link is not valid", field="token")


async def confirm(uow: UoW, token: str) -> Subscriber:
    """Confirm the subscriber of a genuine, unexpired, unused link (else 422 / 409, nothing changed)."""
    try:
        subscriber_id, nonce = read_confirm_token(uow.config.secret, token, utcnow(), uow.config.confirm_token_days)
    except TokenError as exc:
        raise _token_problem(exc) from None
    found = await uow.session.exec(select(Subscriber).where(Subscriber.id == subscriber_id).with_for_update())
    subscriber = found.first()
    if subscriber is None:
        raise Invalid("this link is not valid (the subscription no longer exists)", field="token")
    if subscriber.status != "pending" or subscriber.confirm_nonce != nonce:
        raise Conflict("this confirmation link was already used or replaced by a newer one", field="token")
    if await suppressed_keys(uow.session, [subscriber.email_key]):
        raise Conflict("this address unsubscribed or asked for erasure; it gets no marketing mail", field="token")
    subscriber.status = "confirmed"
    subscriber.confirm_nonce = None
    subscriber.confirmed_at = utcnow()
    uow.session.add(subscriber)
    await uow.commit()
    return subscriber


async def unsubscribe(uow: UoW, token: str) -> None:
    """One click: the address goes on the suppression list; its subscriptions and nurture stop."""
    try:
        key = read_unsubscribe_token(uow.config.secret, token)
    except TokenError:
        raise Invalid("this unsubscribe link is not valid", field="token") from None
    await suppress(uow.session, key, "unsubscribed")
    now = utcnow()
    await uow.session.exec(
        update(Subscriber)
        .where(Subscriber.email_key == key, Subscriber.status != "unsubscribed")
        .values(status="unsubscribed", unsubscribed_at=now, confirm_nonce=None)
    )
    try:
        await uow.commit()
    except IntegrityError:  # the same click landed twice at once: the other one suppressed it
        await uow.rollback()


async def list_subscribers(
    session: AsyncSession, status: str | None, cursor: str | None, limit: int
) -> Page[Subscriber]:
    return await paginate(
        session, select(Subscriber), Subscriber.id, cursor, limit, filters={Subscriber.status: status}
    )
