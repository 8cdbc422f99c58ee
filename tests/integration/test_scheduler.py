"""The kernel's scheduler: due rows are handled once, with their events, also by racing replicas."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import Field, select

from hanse.db import Database, UTCDateTime, model_base
from hanse.events import EventPayload, utcnow
from hanse.scheduler import Job, Scheduler, claim
from hanse.uow import UnitOfWork
from tests.conftest import make_settings

Model = model_base("reminders")


class Reminder(Model, table=True):
    id: str = Field(primary_key=True)
    due_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    times_sent: int = 0


class ReminderSent(EventPayload, event_type="reminders.reminder.sent.v1", subject="reminder_id"):
    reminder_id: str


async def send_due_reminders(uow: UnitOfWork[None]) -> int:
    """The shape of every timed job: claim what is due, change it, publish, in one transaction."""
    query = claim(select(Reminder).where(Reminder.sent_at.is_(None), Reminder.due_at <= utcnow()).limit(50))
    due = (await uow.session.exec(query)).all()
    for reminder in due:
        reminder.sent_at = utcnow()
        reminder.times_sent += 1
        uow.session.add(reminder)
        await uow.publish(ReminderSent(reminder_id=reminder.id))
    return len(due)


@pytest.fixture
async def db(database_url: str):
    settings = make_settings("127.0.0.1:9", database_url)
    database = Database(database_url, Model.metadata, settings=settings)
    await database.create_all()
    yield database
    await database.dispose()


async def add_reminders(db: Database, due: int, later: int) -> None:
    now = utcnow()
    async with db.session() as session:
        for i in range(due):
            session.add(Reminder(id=f"due-{i:04d}", due_at=now - timedelta(minutes=1 + i)))
        for i in range(later):
            session.add(Reminder(id=f"later-{i:04d}", due_at=now + timedelta(days=1)))
        await session.commit()


async def counts(db: Database) -> tuple[int, int, int]:
    """(reminders sent once, reminders sent more than once, outbox rows)."""
    async with db.read_session() as session:
        once = (await session.exec(select(func.count()).where(Reminder.times_sent == 1))).one()
        twice = (await session.exec(select(func.count()).where(Reminder.times_sent > 1))).one()
        outbox = db.metadata.tables["outbox"]
        events = (await session.exec(select(func.count()).select_from(outbox))).one()
    return once, twice, events


async def test_due_rows_are_handled_once_with_their_events_and_later_rows_wait(db: Database):
    await add_reminders(db, due=120, later=5)
    job = Job("send-reminders", every_seconds=60, run=send_due_reminders)
    scheduler = Scheduler(db, db.settings, None, [job])
    assert [await scheduler.run_once(job) for _ in range(4)] == [50, 50, 20, 0]
    assert await counts(db) == (120, 0, 120), "each due reminder once, each with its event"
    assert scheduler.handled == {"send-reminders": 120}


async def test_a_failing_job_is_retried_at_its_next_interval_and_keeps_nothing(db: Database):
    await add_reminders(db, due=3, later=0)
    calls = 0

    async def flaky(uow: UnitOfWork[None]) -> int:
        nonlocal calls
        calls += 1
        handled = await send_due_reminders(uow)
        if calls == 1:
            raise ConnectionError("the database went away mid-run")
        return handled

    scheduler = Scheduler(db, db.settings, None, [Job("flaky", every_seconds=0.05, run=flaky)])
    task = asyncio.create_task(scheduler.run())
    try:
        for _ in range(200):
            if scheduler.handled["flaky"] == 3:
                break
            await asyncio.sleep(0.02)
    finally:
        scheduler.stop()
        await asyncio.wait_for(task, 5)
    assert calls >= 2
    assert await counts(db) == (3, 0, 3), "the failed run rolled back; the retry did the work once"


async def test_a_queue_job_drains_its_backlog_at_once_and_an_interval_job_waits(db: Database):
    """`drain=True`: after a run that handled rows the next starts at once (the interval is 60 s
    here); without it one batch per interval. The drained queue's last run found nothing and waits."""
    await add_reminders(db, due=170, later=5)
    runs = {"queue": 0, "interval": 0}

    def counted(name: str):
        async def run(uow: UnitOfWork[None]) -> int:
            runs[name] += 1
            return await send_due_reminders(uow) if name == "queue" else 0

        return run

    queue = Job("queue", every_seconds=60, run=counted("queue"), drain=True)
    interval = Job("interval", every_seconds=60, run=counted("interval"))
    scheduler = Scheduler(db, db.settings, None, [queue, interval])
    task = asyncio.create_task(scheduler.run())
    try:
        for _ in range(250):
            if scheduler.handled["queue"] == 170:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # room for runs that should not happen
    finally:
        scheduler.stop()
        await asyncio.wait_for(task, 5)
    assert scheduler.handled["queue"] == 170, "50 + 50 + 50 + 20 in four runs, not one run a minute"
    assert runs == {"queue": 5, "interval": 1}, "the empty fifth run waits its interval; so does the other job"
    assert await counts(db) == (170, 0, 170)


def test_job_names_must_be_unique():
    job = Job("same", every_seconds=1, run=send_due_reminders)
    with pytest.raises(ValueError, match="unique"):
        Scheduler(None, None, None, [job, job])  # type: ignore[arg-type]


@pytest.mark.postgres
async def test_replicas_racing_on_one_postgres_database_never_handle_a_row_twice(db: Database):
    if not db.is_postgres:
        pytest.skip("SQLite has one writer at a time: replicas cannot race on it")
    await add_reminders(db, due=400, later=0)
    replicas = [
        Scheduler(db, db.settings, None, [Job("send-reminders", every_seconds=60, run=send_due_reminders)])
        for _ in range(4)
    ]

    async def drain(scheduler: Scheduler) -> None:
        while await scheduler.run_once(scheduler.jobs[0]):
            pass

    await asyncio.gather(*(drain(s) for s in replicas))
    assert await counts(db) == (400, 0, 400)
    assert sum(s.handled["send-reminders"] for s in replicas) == 400
    assert sum(1 for s in replicas if s.handled["send-reminders"]) >= 2, "the replicas really raced"


async def test_a_service_runs_its_jobs_from_create_service(broker, database_url: str):
    """`create_service(..., jobs=[...])` runs them in the service's lifespan, after its startup hooks."""
    import sys

    from hanse.app import create_service

    settings = make_settings(broker.bootstrap, database_url)
    loaded: list[str] = []

    async def load_reference_data(runtime) -> None:
        loaded.append("before any job")
        await add_reminders(runtime.db, due=7, later=1)

    job = Job("send-reminders", every_seconds=0.05, run=send_due_reminders)
    app = create_service(
        "reminders", models=sys.modules[__name__], settings=settings, startup=[load_reference_data], jobs=[job]
    )
    async with app.router.lifespan_context(app):
        database: Database = app.state.db
        for _ in range(200):
            if (await counts(database))[0] == 7:
                break
            await asyncio.sleep(0.02)
        assert loaded == ["before any job"]
        assert await counts(database) == (7, 0, 7)
