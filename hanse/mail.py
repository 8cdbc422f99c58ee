"""Mail outbox: a message is written with the decision that causes it, and a worker sends it over SMTP.

`append()` renders a department's template in the recipient's language and records the message,
its headers and attachments in the caller's transaction; departments reach it only through
`UnitOfWork.send_mail`. A message written in a transaction that rolls back is never sent.

`MailWorker` sends what is due over SMTP (aiosmtplib), woken right after each commit that wrote
mail and polling as well. Each message is claimed, sent and marked in one short transaction of
its own: on PostgreSQL the claim is FOR UPDATE SKIP LOCKED, so several replicas never send one
row at the same time; on SQLite (one process per database) the row is read, sent and marked.

The guarantee is at least once, never lost, and a duplicate is recognisable. SMTP has no
idempotency: if the process dies after the server accepted a message and before the mark
commits, the message is sent again on restart. It then carries the SAME Message-ID and Date,
fixed when the row was written, so the receiving MTA or mailbox can drop it; marking right after
the send keeps that window to one message and one round trip.

A 4xx reply or a connection failure is retried with exponential backoff (`next_attempt_at`); a
5xx reply to the message itself (recipient or content refused) fails it at once; after
`mail_max_attempts` it is failed too. Every row keeps its record: status, attempts, last error.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
import babel
import babel.dates
import babel.numbers
import jinja2
from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.db import Database, claim
from hanse.events import utcnow
from hanse.metrics import Metrics
from hanse.settings import Settings

log = logging.getLogger("hanse.mail")

FALLBACK_LANGUAGE = "en"
# Header fields the kernel writes itself (and every Content-*); a department sets others
# (List-Unsubscribe, Reply-To ...).
KERNEL_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "sender",
        "subject",
        "date",
        "message-id",
        "mime-version",
    }
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class RenderedMail:
    language: str
    subject: str
    text: str
    html: str | None


@dataclass(frozen=True)
class QueuedMail:
    """What `uow.send_mail` recorded: the row id, the fixed Message-ID and the language chosen."""

    id: int
    message_id: str
    language: str
    subject: str


class MailTemplates:
    """A department's mail templates: `<folder>/<name>.<language>.subject`, `.txt` and `.html`.

    The recipient's language picks the files (`de-CH` tries `de-CH`, then `de`), falling back to
    `en`. `.subject` and `.txt` are required, `.html` optional; HTML is autoescaped, and an
    undefined variable is an error at render time (in the deciding transaction), never a blank.
    Templates may `{% extends %}` or `{% include %}` shared files of the same folder.
    """

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise ValueError(f"mail templates folder {folder} does not exist")
        self.folder = folder
        self.env = template_environment(folder)

    def language_for(self, name: str, language: str | None) -> str:
        """The language whose files exist for this template: the recipient's, its primary tag, or en."""
        return language_for(self.folder, name, ".txt", language)

    def render(self, name: str, language: str | None, context: Mapping[str, Any]) -> RenderedMail:
        chosen = self.language_for(name, language)
        values = {**context, "language": chosen}
        subject = self.env.get_template(f"{name}.{chosen}.subject").render(values)
        text = self.env.get_template(f"{name}.{chosen}.txt").render(values)
        html = None
        if (self.folder / f"{name}.{chosen}.html").is_file():
            html = self.env.get_template(f"{name}.{chosen}.html").render(values)
        # A subject is one header line: no newline can smuggle in another header.
        return RenderedMail(chosen, " ".join(subject.split()), text, html)


def template_environment(folder: Path) -> jinja2.Environment:
    """Jinja2 for a department's mail or document templates: HTML autoescaped, an undefined name an error.

    Filters format for the reader: `money(amount, currency, language)`, `number(value, language)`
    and `day(date, language)` use Babel's CLDR data, so a German reader sees `1.234,50 €`.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters.update(money=format_money, number=format_number, day=format_day)
    return env


def _locale(language: str | None) -> str:
    tag = (language or FALLBACK_LANGUAGE).replace("-", "_")
    try:
        return str(babel.Locale.parse(tag))
    except (ValueError, babel.UnknownLocaleError):
        return FALLBACK_LANGUAGE


def format_money(amount: Any, currency: str, language: str | None = None) -> str:
    return babel.numbers.format_currency(Decimal(str(amount)), currency, locale=_locale(language))


def format_number(value: Any, language: str | None = None) -> str:
    return babel.numbers.format_decimal(Decimal(str(value)), locale=_locale(language))


def format_day(value: date, language: str | None = None) -> str:
    return babel.dates.format_date(value, format="medium", locale=_locale(language))


def language_for(folder: Path, name: str, suffix: str, language: str | None) -> str:
    """The language whose `<name>.<language><suffix>` exists in `folder`: the reader's, its primary tag, or en."""
    if not _NAME.match(name):
        raise ValueError(f"template name {name!r} must be lowercase letters, digits, - and _")
    candidates: list[str] = []
    if language and _LANGUAGE.match(language):
        tag = language.replace("_", "-")
        candidates += [tag, tag.lower(), tag.split("-")[0].lower()]
    candidates.append(FALLBACK_LANGUAGE)
    for candidate in dict.fromkeys(candidates):
        if (folder / f"{name}.{candidate}{suffix}").is_file():
            return candidate
    raise LookupError(f"template {name!r} has no {FALLBACK_LANGUAGE} version in {folder}")


# -- writing: in the caller's transaction --------------------------------------------------------


async def append(
    session: AsyncSession,
    template: str,
    *,
    to: str,
    language: str | None,
    context: Mapping[str, Any],
    settings: Settings,
    headers: Mapping[str, str] | None = None,
    attachments: Sequence[Attachment] = (),
    sender: str | None = None,
    ref: str | None = None,
) -> QueuedMail:
    """Render `template` for `to` in `language` and record the message in the caller's transaction."""
    templates: MailTemplates | None = session.info.get("mail_templates")
    if templates is None:
        raise RuntimeError("this service has no mail templates: pass create_service(..., templates=<folder>)")
    tables = session.info["tables"]
    rendered = templates.render(template, language, context)
    to_address = mailbox(to)
    from_address = mailbox(sender or settings.mail_from)
    extra = checked_headers(headers or {})
    message_id = new_message_id(from_address)
    now = utcnow()
    conn = await session.connection()
    result = await conn.execute(
        insert(tables["mail_outbox"]).values(
            message_id=message_id,
            template=template,
            ref=ref,
            to_address=to_address,
            from_address=from_address,
            language=rendered.language,
            subject=rendered.subject,
            text_body=rendered.text,
            html_body=rendered.html,
            headers=json.dumps(extra, ensure_ascii=False),
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    mail_id = int(result.inserted_primary_key[0])
    if attachments:
        await conn.execute(
            insert(tables["mail_attachment"]),
            [
                {
                    "mail_id": mail_id,
                    "position": i,
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "content": a.content,
                }
                for i, a in enumerate(attachments)
            ],
        )
    session.info["mail_pending"] = True
    return QueuedMail(mail_id, message_id, rendered.language, rendered.subject)


def mailbox(value: str) -> str:
    """One address, optionally with a display name (`Anna <anna@example.com>`), normalised."""
    if "\r" in value or "\n" in value:
        raise ValueError("a mail address cannot contain a line break")
    name, address = parseaddr(value)
    if not address or address.count("@") != 1 or "," in value.replace(name, "", 1):
        raise ValueError(f"not one mail address: {value!r}")
    return formataddr((name, address)) if name else address


def checked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    checked = {}
    for name, value in headers.items():
        lowered = name.lower()
        if not re.fullmatch(r"[A-Za-z0-9-]+", name) or lowered in KERNEL_HEADERS or lowered.startswith("content-"):
            raise ValueError(f"header {name!r} cannot be set by a department")
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r} contains a line break")
        checked[name] = value
    return checked


def new_message_id(from_address: str) -> str:
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "hanse.localhost"
    return f"<{uuid.uuid4().hex}@{domain}>"


# -- the message on the wire ---------------------------------------------------------------------


def build_message(row: Any, attachments: Sequence[Attachment] = ()) -> EmailMessage:
    """The RFC 5322 message of an outbox row: text and HTML alternatives, then attachments.

    Date is the row's creation time, so a resend is the same message as the first send.
    """
    message = EmailMessage(policy=email.policy.default)
    message["Message-ID"] = row.message_id
    message["Date"] = format_datetime(row.created_at)
    message["From"] = row.from_address
    message["To"] = row.to_address
    message["Subject"] = row.subject
    for name, value in json.loads(row.headers).items():
        message[name] = value
    message.set_content(row.text_body)
    if row.html_body is not None:
        message.add_alternative(row.html_body, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype or "octet-stream", filename=attachment.filename
        )
    # After the parts: making a multipart moves Content-* fields into the first part.
    message["Content-Language"] = row.language
    # Boundaries from the Message-ID instead of random ones: a resend is byte for byte the first send.
    seed = hashlib.sha256(row.message_id.encode()).hexdigest()[:24]
    for n, part in enumerate(p for p in message.walk() if p.is_multipart()):
        part.set_boundary(f"=_hanse_{seed}_{n}")
    return message


@dataclass(frozen=True)
class SmtpServer:
    """Where mail goes, from HANSE_SMTP_URL: smtp://[user:password@]host[:port][?starttls=1|0], smtps://..."""

    hostname: str
    port: int
    use_tls: bool
    start_tls: bool | None  # None: upgrade when the server offers STARTTLS
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("HANSE_SMTP_URL must be smtp://host:port or smtps://host:port")
        implicit = parts.scheme == "smtps"
        flag = parse_qs(parts.query).get("starttls", [None])[0]
        start_tls = None if flag is None or implicit else flag.lower() in ("1", "true", "yes")
        port = parts.port or (465 if implicit else 587 if start_tls else 25)
        return cls(
            parts.hostname,
            port,
            implicit,
            start_tls,
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
        )

    def client(self, timeout: float) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.hostname,
            port=self.port,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            username=self.username,
            password=self.password,
            timeout=timeout,
        )


class _Connection:
    """One SMTP connection, opened on first use and reused for the messages of a round."""

    def __init__(self, server: SmtpServer, timeout: float) -> None:
        self.server, self.timeout = server, timeout
        self.client: aiosmtplib.SMTP | None = None

    async def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        if self.client is None:
            client = self.server.client(self.timeout)
            await client.connect()
            self.client = client
        await self.client.send_message(message, sender=sender, recipients=[recipient])

    def drop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close()

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.quit(), 5.0)
            client.close()


def _refused_for_good(exc: Exception) -> bool:
    """A 5xx reply to this message (recipient, sender or content refused): retrying cannot help."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(r.code >= 500 for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPDataError):
        return exc.code >= 500
    return False


def _about_this_message(exc: Exception) -> bool:
    """A reply about this message (4xx/5xx); anything else is the server or the connection."""
    return isinstance(
        exc,
        aiosmtplib.SMTPRecipientsRefused
        | aiosmtplib.SMTPRecipientRefused
        | aiosmtplib.SMTPSenderRefused
        | aiosmtplib.SMTPDataError,
    )


# -- the worker ----------------------------------------------------------------------------------


class MailWorker:
    def __init__(self, db: Database, settings: Settings, metrics: Metrics | None = None) -> None:
        self.db = db
        self.settings = settings
        self.metrics = metrics
        self.server = SmtpServer.from_url(settings.smtp_url)
        self.outbox = db.metadata.tables["mail_outbox"]
        self.attachments = db.metadata.tables["mail_attachment"]
        self._wake = asyncio.Event()
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.sent = 0
        self.failed = 0
        db.on_mail_commit.append(self.wake)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Send until stopped: after every commit that wrote mail, and every poll interval."""
        while not self._stopping:
            self._idle.clear()
            handled = 0
            try:
                handled = await self.send_due()
            except Exception:
                # The database is unreachable, say; rows stay pending and the next round retries.
                log.exception("mail: unexpected error")
            finally:
                self._idle.set()
            if handled >= self.settings.mail_batch_size:
                continue  # more may be due: no pause between full rounds
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.mail_poll_seconds)
            self._wake.clear()

    async def stop(self) -> None:
        """Stop after the message in hand, so that it is marked and not sent again."""
        self._stopping = True
        self.wake()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self.settings.mail_timeout_seconds + 5)

    async def send_due(self) -> int:
        """Send due messages, one short transaction each, until none is due or the server is unreachable.

        Returns how many messages were attempted (at most `mail_batch_size`)."""
        connection = _Connection(self.server, self.settings.mail_timeout_seconds)
        handled = 0
        try:
            while handled < self.settings.mail_batch_size and not self._stopping:
                outcome = await (self._send_next_pg(connection) if self.db.is_postgres else self._send_next(connection))
                if outcome is None:
                    break
                handled += 1
                if outcome == "unreachable":
                    break
        finally:
            await connection.close()
        return handled

    # -- PostgreSQL: claim with SKIP LOCKED, send, mark, commit ------------------------------------

    async def _send_next_pg(self, connection: _Connection) -> str | None:
        async with self.db.engine.begin() as conn:
            row = await self.next_due(conn, lock=True)
            if row is None:
                return None
            error = await self.send(connection, row, await self.attachments_of(conn, row.id))
            outcome = await self.mark(conn, row, error)
        self._count(row, outcome)
        return outcome

    # -- SQLite: one process per database; read, send, mark in a short write transaction -----------

    async def _send_next(self, connection: _Connection) -> str | None:
        async with self.db.read_engine.connect() as conn:
            row = await self.next_due(conn)
            files = await self.attachments_of(conn, row.id) if row is not None else []
            await conn.rollback()
        if row is None:
            return None
        error = await self.send(connection, row, files)
        async with self.db.engine.begin() as conn:
            outcome = await self.mark(conn, row, error)
        self._count(row, outcome)
        return outcome

    # -- steps, public so fault tests can stop between them ----------------------------------------

    async def next_due(self, conn: AsyncConnection, *, lock: bool = False) -> Row | None:
        m = self.outbox
        query = (
            select(m)
            .where(m.c.status == "pending", m.c.next_attempt_at <= utcnow())
            .order_by(m.c.next_attempt_at, m.c.id)
            .limit(1)
        )
        if lock:
            query = claim(query)
        return (await conn.execute(query)).first()

    async def attachments_of(self, conn: AsyncConnection, mail_id: int) -> list[Attachment]:
        a = self.attachments
        rows = await conn.execute(
            select(a.c.filename, a.c.content_type, a.c.content).where(a.c.mail_id == mail_id).order_by(a.c.position)
        )
        return [Attachment(r.filename, r.content_type, bytes(r.content)) for r in rows]

    async def send(self, connection: _Connection, row: Row, attachments: Sequence[Attachment]) -> Exception | None:
        """Hand one message to the SMTP server; returns the failure, or None once it was accepted."""
        try:
            message = build_message(row, attachments)
            envelope_from = parseaddr(row.from_address)[1]
            envelope_to = parseaddr(row.to_address)[1]
            await connection.send(message, envelope_from, envelope_to)
            return None
        except Exception as exc:  # every failure is recorded on the row; none may stop the worker
            connection.drop()
            return exc

    async def mark(self, conn: AsyncConnection, row: Row, error: Exception | None) -> str:
        """Record the outcome of one attempt: sent, retry later, or failed; returns which."""
        now = utcnow()
        attempts = row.attempts + 1
        values: dict[str, Any] = {"attempts": attempts}
        if error is None:
            outcome = "sent"
            values.update(status="sent", sent_at=now, last_error=None)
        else:
            text = f"{type(error).__name__}: {error}"[:2000]
            values["last_error"] = text
            if _refused_for_good(error) or attempts >= self.settings.mail_max_attempts:
                outcome = "failed"
                values["status"] = "failed"
                log.warning(
                    "mail %s to %s failed after %d attempts: %s", row.message_id, row.to_address, attempts, text
                )
            else:
                values["next_attempt_at"] = now + self.backoff(attempts)
                # A refusal of this one message does not stop the round; an unreachable server does.
                outcome = "retry" if _about_this_message(error) else "unreachable"
                log.info("mail %s: attempt %d failed (%s); retrying", row.message_id, attempts, text)
        m = self.outbox
        await conn.execute(update(m).where(m.c.id == row.id, m.c.status == "pending").values(**values))
        return outcome

    def backoff(self, attempts: int) -> timedelta:
        seconds = self.settings.mail_backoff_seconds * 2 ** (attempts - 1)
        return timedelta(seconds=min(seconds, self.settings.mail_backoff_max_seconds))

    def _count(self, row: Row, outcome: str) -> None:
        if outcome == "sent":
            self.sent += 1
        elif outcome == "failed":
            self.failed += 1
        if self.metrics:
            if outcome == "sent":
                self.metrics.mail_sent.labels(template=row.template).inc()
            elif outcome == "failed":
                self.metrics.mail_failed.labels(template=row.template).inc()
            else:
                self.metrics.mail_retries.inc()

    async def backlog(self) -> int:
        async with self.db.read_engine.connect() as conn:
            result = await conn.execute(
                select(func.count()).select_from(self.outbox).where(self.outbox.c.status == "pending")
            )
            return int(result.scalar_one())


__all__ = [
    "Attachment",
    "MailTemplates",
    "MailWorker",
    "QueuedMail",
    "RenderedMail",
    "SmtpServer",
    "append",
    "build_message",
]
