"""The unit of work: the one seam through which routes and handlers hand the domain its transaction.

A route builds one per request (`UnitOfWorkDep`), the consumer one per event. The domain gets the
session, the settings, its department's config and the causing event from it, and publishes only
through `uow.publish` and writes mail only through `uow.send_mail`, so every event and every
message is written in the transaction that decides it; `uow.document` produces a PDF once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from hanse import documents, mail, outbox
from hanse.documents import StoredDocument
from hanse.events import CloudEvent, EventPayload
from hanse.mail import Attachment, QueuedMail
from hanse.settings import Settings

ConfigT = TypeVar("ConfigT")


@dataclass(eq=False)
class UnitOfWork(Generic[ConfigT]):
    session: AsyncSession
    settings: Settings
    config: ConfigT
    # The event being handled; None in an HTTP request.
    cause: CloudEvent | None = None
    attempt: int = 1
    _first: CloudEvent | None = field(default=None, init=False, repr=False)

    @property
    def correlation_id(self) -> str | None:
        return self.cause.correlationid if self.cause else None

    async def publish(self, payload: EventPayload, *, correlation_id: str | None = None) -> CloudEvent:
        """Record an event in this transaction; it is published after the commit.

        Without a causing event (an HTTP request), later events name the first one as their
        cause (payment.received -> invoice.paid, shipment.tracked -> shipment.dispatched).
        """
        cause = self.cause or self._first
        event = await outbox.append(
            self.session, payload, cause=cause, correlation_id=correlation_id, settings=self.settings
        )
        if self._first is None:
            self._first = event
        return event

    async def send_mail(
        self,
        template: str,
        *,
        to: str,
        language: str | None = None,
        context: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        attachments: Sequence[Attachment] = (),
        sender: str | None = None,
        ref: str | None = None,
    ) -> QueuedMail:
        """Render a mail template in the recipient's language and record the message in this transaction.

        The service's `templates/mail/<template>.<language>.{subject,txt,html}` are used (falling back
        to `en`); the kernel's worker sends it after the commit. A rollback means it is never sent.
        `headers` adds fields such as List-Unsubscribe; `ref` names what the mail is about.
        """
        return await mail.append(
            self.session,
            template,
            to=to,
            language=language,
            context=context or {},
            settings=self.settings,
            headers=headers,
            attachments=attachments,
            sender=sender,
            ref=ref,
        )

    async def document(
        self,
        key: str,
        template: str,
        *,
        language: str | None,
        context: Mapping[str, Any],
        filename: str,
    ) -> StoredDocument:
        """The PDF stored under `key`, rendered from `templates/documents/<template>.<language>.html` the first time.

        Produced once: later calls (and later template changes) return the stored file unchanged.
        """
        return await documents.produce(
            self.session, key, template, language=language, context=context, filename=filename
        )

    async def stored_document(self, key: str) -> StoredDocument | None:
        """The PDF stored under `key`, or None if it was never produced."""
        return await documents.stored(self.session, key)

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()


__all__ = ["Attachment", "ConfigT", "QueuedMail", "StoredDocument", "UnitOfWork"]
