"""The mail outbox with a real SMTP sink, on SQLite and PostgreSQL: sent once, after the commit, never lost."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import select

from hanse.app import UnitOfWorkDep, create_service
from hanse.db import Database
from hanse.events import utcnow
from hanse.mail import Attachment, MailTemplates, MailWorker, QueuedMail
from hanse.metrics import Metrics
from hanse.settings import Settings
from hanse.uow import UnitOfWork
from ops.broker import die_with_parent
from ops.smtp import MailDrop, SmtpSink, read_mail
from tests.conftest import free_port, make_settings
from tests.support.kafka import eventually
from tests.support.mail_worker import Model

TEMPLATES = Path(__file__).resolve().parents[1] / "data" / "templates"
NO_BROKER = "127.0.0.1:9"


def mail_settings(database_url: str, smtp_url: str, **overrides) -> Settings:
    knobs = {"mail_backoff_seconds": 0.05, "mail_backoff_max_seconds": 0.2, "mail_poll_seconds": 0.1}
    return make_settings(NO_BROKER, database_url, smtp_url=smtp_url, **{**knobs, **overrides})


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, Model.metadata, mail_templates=MailTemplates(TEMPLATES / "mail"))
    await database.create_all()
    yield database
    await database.dispose()


async def write_mail(
    db: Database, settings: Settings, count: int = 1, *, rollback: bool = False, language: str = "de", **extra
) -> list[QueuedMail]:
    async with db.session() as session:
        uow = UnitOfWork(session, settings, None)
        queued = [
            await uow.send_mail(
                "welcome", to=f"buyer{i}@example.com", language=language, context={"name": f"B{i}", "order": i}, **extra
            )
            for i in range(count)
        ]
        await (uow.rollback() if rollback else uow.commit())
    return queued


async def rows(db: Database) -> list:
    table = db.metadata.tables["mail_outbox"]
    async with db.engine.connect() as conn:
        return list((await conn.execute(select(table).order_by(table.c.id))).all())


def by_message_id(folder: Path) -> Counter[str]:
    return Counter(message["Message-ID"] for message in read_mail(folder))


async def test_mail_of_a_rolled_back_transaction_is_never_sent(db, database_url, smtp_sink: SmtpSink):
    settings = mail_settings(database_url, smtp_sink.url)
    await write_mail(db, settings, 2, rollback=True)
    [kept] = await write_mail(db, settings)
    worker = MailWorker(db, settings)
    assert await worker.send_due() == 1
    assert await worker.send_due() == 0
    assert by_message_id(smtp_sink.directory) == {kept.message_id: 1}
    assert [r.message_id for r in await rows(db)] == [kept.message_id]


async def test_committed_mail_arrives_once_with_both_parts_its_headers_and_attachment(
    db, database_url, smtp_sink: SmtpSink
):
    settings = mail_settings(database_url, smtp_sink.url, mail_from="Hanse Sales <sales@hanse.example>")
    pdf = Attachment("invoice-7.pdf", "application/pdf", b"%PDF-1.7\n\x00\x01\xfe\xff")
    unsubscribe = {
        "List-Unsubscribe": "<https://hanse.example/u?t=abc>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    [queued] = await write_mail(db, settings, headers=unsubscribe, attachments=[pdf], ref="account:42")
    metrics = Metrics("mailtest")
    worker = MailWorker(db, settings, metrics)
    await worker.send_due()
    await worker.send_due()

    [message] = read_mail(smtp_sink.directory)
    assert message["Message-ID"] == queued.message_id and queued.message_id.endswith("@hanse.example>")
    assert message["Date"] is not None and message["From"].addresses[0].addr_spec == "sales@hanse.example"
    assert message["To"].addresses[0].addr_spec == "buyer0@example.com"
    assert message["Delivered-To"] == "buyer0@example.com"
    assert message["Subject"] == "Willkommen, B0" == queued.subject
    assert message["List-Unsubscribe"] == unsubscribe["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert "Ihre Bestellung 0 ist bestätigt." in text.get_content()
    assert '<html lang="de">' in html.get_content()
    [attached] = list(message.iter_attachments())
    assert (attached.get_filename(), attached.get_content()) == ("invoice-7.pdf", pdf.content)

    [row] = await rows(db)
    assert (row.status, row.attempts, row.last_error, row.ref) == ("sent", 1, None, "account:42")
    assert row.sent_at is not None and row.sent_at >= row.created_at
    assert metrics.mail_sent.labels(template="welcome")._value.get() == 1


@pytest.mark.parametrize(
    ("language", "subject"), [("de-AT", "Willkommen, B0"), ("zh", "欢迎，B0"), ("sw", "Welcome, B0")]
)
async def test_the_recipients_language_picks_the_template_and_an_unknown_one_gets_english(
    db, database_url, smtp_sink: SmtpSink, language: str, subject: str
):
    settings = mail_settings(database_url, smtp_sink.url)
    [queued] = await write_mail(db, settings, language=language)
    await MailWorker(db, settings).send_due()
    [message] = read_mail(smtp_sink.directory)
    assert message["Subject"] == subject
    assert message["Content-Language"] == queued.language == {"de-AT": "de", "zh": "zh", "sw": "en"}[language]


async def test_smtp_down_is_retried_with_backoff_and_sent_when_the_server_is_back(db, database_url, tmp_path: Path):
    port = free_port()
    settings = mail_settings(database_url, f"smtp://127.0.0.1:{port}", mail_max_attempts=100)
    queued = await write_mail(db, settings, 3)
    worker = MailWorker(db, settings)
    task = asyncio.create_task(worker.run())
    sink = SmtpSink(tmp_path / "late", port)
    try:

        async def retried():
            return [r for r in await rows(db) if r.attempts >= 2]

        tried = await eventually(retried, timeout=20)
        assert all(r.status == "pending" and "Connect" in r.last_error for r in tried)
        assert all(r.next_attempt_at > r.created_at for r in tried)
        sink.start()

        async def all_sent():
            return all(r.status == "sent" for r in await rows(db))

        await eventually(all_sent, timeout=20)
        assert by_message_id(sink.directory) == {q.message_id: 1 for q in queued}
    finally:
        await worker.stop()
        task.cancel()
        sink.stop()


async def test_out_of_attempts_the_message_is_recorded_as_failed(db, database_url):
    settings = mail_settings(database_url, f"smtp://127.0.0.1:{free_port()}", mail_max_attempts=3)
    await write_mail(db, settings)
    metrics = Metrics("mailtest")
    worker = MailWorker(db, settings, metrics)
    task = asyncio.create_task(worker.run())
    try:

        async def failed():
            return [r for r in await rows(db) if r.status == "failed"]

        [row] = await eventually(failed, timeout=20)
    finally:
        await worker.stop()
        task.cancel()
    assert row.attempts == 3 and row.sent_at is None and "Connect" in row.last_error
    assert metrics.mail_failed.labels(template="welcome")._value.get() == 1
    assert await worker.backlog() == 0


class RefusingDrop(MailDrop):
    """A server that has no mailbox for some addresses (550), and keeps the rest."""

    def __init__(self, directory: Path, unknown: set[str]) -> None:
        super().__init__(directory)
        self.unknown = unknown

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.unknown:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"


async def test_a_refused_recipient_fails_at_once_and_the_others_still_go(db, database_url, tmp_path: Path):
    folder = tmp_path / "refusing"
    sink = SmtpSink(folder, free_port(), handler=RefusingDrop(folder, {"buyer1@example.com"}))
    sink.start()
    try:
        settings = mail_settings(database_url, sink.url)
        await write_mail(db, settings, 3)
        await MailWorker(db, settings).send_due()
    finally:
        sink.stop()
    status = {r.to_address: (r.status, r.attempts) for r in await rows(db)}
    assert status == {
        "buyer0@example.com": ("sent", 1),
        "buyer1@example.com": ("failed", 1),
        "buyer2@example.com": ("sent", 1),
    }
    assert "550" in next(r.last_error for r in await rows(db) if r.status == "failed")
    assert sorted(m["To"] for m in read_mail(folder)) == ["buyer0@example.com", "buyer2@example.com"]


@pytest.mark.postgres
async def test_two_workers_on_one_postgres_database_send_each_message_once(db, database_url, smtp_sink: SmtpSink):
    if not db.is_postgres:
        pytest.skip("several workers share one database on PostgreSQL only (SQLite: one process per database)")
    settings = mail_settings(database_url, smtp_sink.url, mail_batch_size=10)
    queued = await write_mail(db, settings, 60)
    other_db = Database(database_url, Model.metadata)
    workers = [MailWorker(db, settings), MailWorker(other_db, settings)]
    try:
        await asyncio.gather(*(w.send_due() for w in workers for _ in range(4)))
        await asyncio.gather(*(w.send_due() for w in workers))
    finally:
        await other_db.dispose()
    assert by_message_id(smtp_sink.directory) == {q.message_id: 1 for q in queued}
    assert sum(w.sent for w in workers) == 60 and all(w.sent for w in workers)


class SlowDrop(MailDrop):
    """Takes a while over each message, so that a worker can be killed in the middle of a send."""

    async def handle_DATA(self, server, session, envelope) -> str:
        await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


async def start_worker(settings: Settings) -> asyncio.subprocess.Process:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HANSE_", "DATABASE_URL"))},
        "HANSE_ENV": "test",
        "HANSE_JWT_SECRET": settings.jwt_secret or "",
        "DATABASE_URL": settings.database_url or "",
        "HANSE_SMTP_URL": settings.smtp_url,
        "HANSE_MAIL_POLL_SECONDS": "0.1",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.mail_worker",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        preexec_fn=die_with_parent(),
    )


async def test_a_worker_killed_while_sending_loses_nothing_and_doubles_nothing(db, database_url, tmp_path: Path):
    folder = tmp_path / "slow"
    sink = SmtpSink(folder, free_port(), handler=SlowDrop(folder))
    sink.start()
    settings = mail_settings(database_url, sink.url)
    queued = await write_mail(db, settings, 40)
    try:
        worker = await start_worker(settings)
        try:
            await eventually(lambda: _arrived(folder, 5), timeout=60, interval=0.01)
        finally:
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
        at_kill = len(read_mail(folder))
        assert at_kill < len(queued), "the kill must land while mail is still going out"

        worker = await start_worker(settings)
        try:

            async def all_sent():
                return all(r.status == "sent" for r in await rows(db))

            await eventually(all_sent, timeout=60)
            await asyncio.sleep(0.5)  # anything sent twice would show up by now
        finally:
            worker.send_signal(signal.SIGTERM)
            await worker.wait()
    finally:
        sink.stop()
    received = by_message_id(folder)
    assert set(received) == {q.message_id for q in queued}, "every message arrived"
    # SMTP has no idempotency: the one message in flight at the kill may arrive twice, and then
    # with the same Message-ID, so the receiver can drop it. Nothing else is ever repeated.
    repeated = {mid: n for mid, n in received.items() if n > 1}
    assert len(repeated) <= 1 and all(n == 2 for n in repeated.values()), repeated


async def _arrived(folder: Path, count: int) -> bool:
    return files_in(folder) >= count


def files_in(folder: Path) -> int:
    return len(list(folder.glob("*.eml")))


async def test_a_service_with_templates_sends_mail_right_after_the_request_commits(database_url, smtp_sink: SmtpSink):
    router = APIRouter()

    @router.post("/welcome")
    async def welcome(uow: UnitOfWorkDep) -> dict:
        queued = await uow.send_mail(
            "welcome", to="ann@example.com", language="en", context={"name": "Ann", "order": 7}
        )
        await uow.commit()
        return {"message_id": queued.message_id}

    # A poll far longer than the test: only the wake-up after the commit can send it in time.
    settings = mail_settings(database_url, smtp_sink.url, mail_poll_seconds=60)
    app = create_service(
        "mailtest", routers=[router], models=sys.modules[__name__], settings=settings, templates=TEMPLATES
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await asyncio.sleep(0.3)  # the worker's first round has run and now waits
            started = utcnow()
            answer = await client.post("/welcome")
            assert answer.status_code == 200, answer.text
            await eventually(lambda: _arrived(smtp_sink.directory, 1), timeout=5, interval=0.02)
            assert (utcnow() - started).total_seconds() < 5
            [message] = read_mail(smtp_sink.directory)
            assert message["Message-ID"] == answer.json()["message_id"]

            # The sink has the message once the worker's SMTP call returns; the worker counts it after.
            async def counted() -> bool:
                metrics = (await client.get("/metrics")).text
                return (
                    'hanse_mail_sent_total{template="welcome"} 1.0' in metrics and "hanse_mail_backlog 0.0" in metrics
                )

            await eventually(counted, timeout=5, interval=0.02)
