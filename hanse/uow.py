"""The unit of work: the one seam through which routes and handlers hand the domain its transaction.

A route builds one per request (`UnitOfWorkDep`), the consumer one per event. The domain gets the
session, the settings, its department's config and the causing event from it, and publishes only
through `uow.publish`, so every event is written in the transaction that decides it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from hanse import outbox
from hanse.events import CloudEvent, EventPayload
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

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()


__all__ = ["ConfigT", "UnitOfWork"]
