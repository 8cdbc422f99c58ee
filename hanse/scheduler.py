"""Timed work: jobs a department declares run on an interval, each run one transaction.

A job finds its due rows (SLA deadlines, nurture steps, expiring contracts, re-screening) with a
query passed through `claim()`, handles them and publishes what it decided through the unit of
work, so a run's state changes and events commit together or not at all. On PostgreSQL `claim()`
locks the rows it returns and skips rows another replica holds (FOR UPDATE SKIP LOCKED): several
replicas run the same job and never handle one row twice. SQLite has one writer at a time, so a
run there already holds the database. A job that fails is logged and tried again at its next
interval; it never stops the others. A job that works off a queue (`drain=True`) runs again at
once after a run that handled rows, so a backlog drains as fast as the work allows instead of one
batch per interval; its interval is how long an empty queue waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hanse.db import Database, claim
from hanse.settings import Settings
from hanse.uow import UnitOfWork

log = logging.getLogger("hanse.scheduler")


@dataclass(frozen=True)
class Job:
    """`run(uow)` handles what is due now and returns how many rows it handled."""

    name: str
    every_seconds: float
    run: Callable[[UnitOfWork[Any]], Awaitable[int]]
    # A queue: run again at once while runs handle rows. Not for jobs that handle the same rows on
    # every run (re-screening), which would never stop.
    drain: bool = False


class Scheduler:
    def __init__(self, db: Database, settings: Settings, config: Any, jobs: Sequence[Job]) -> None:
        names = [job.name for job in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"job names must be unique: {names}")
        self.db = db
        self.settings = settings
        self.config = config
        self.jobs = list(jobs)
        self.handled: dict[str, int] = dict.fromkeys(names, 0)
        self._stopping = asyncio.Event()

    async def run_once(self, job: Job) -> int:
        """One run of `job` in one transaction; returns how many rows it handled."""
        async with self.db.sessionmaker() as session:
            uow = UnitOfWork(session, self.settings, self.config)
            handled = await job.run(uow)
            await session.commit()
        self.handled[job.name] += handled
        return handled

    async def run(self) -> None:
        """Run every job at its interval until stopped; the first runs start at once."""
        due = dict.fromkeys((job.name for job in self.jobs), time.monotonic())
        while not self._stopping.is_set():
            now = time.monotonic()
            for job in self.jobs:
                if due[job.name] > now:
                    continue
                due[job.name] = now + job.every_seconds
                try:
                    handled = await self.run_once(job)
                except Exception:
                    log.exception("scheduler: job %s failed; next try in %.0fs", job.name, job.every_seconds)
                    continue
                if handled:
                    log.info("scheduler: job %s handled %d", job.name, handled)
                    if job.drain:
                        due[job.name] = time.monotonic()
            wait = min(due.values(), default=now + 60) - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), max(wait, 0.01))

    def stop(self) -> None:
        self._stopping.set()


__all__ = ["Job", "Scheduler", "claim"]
