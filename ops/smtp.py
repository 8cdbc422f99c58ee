"""The dev and test SMTP sink (aiosmtpd): every message it receives becomes one `.eml` file.

`hanse smtp-sink` runs it in the foreground (`hanse dev` starts it as a child, on 127.0.0.1:8025,
writing to `$HANSE_DATA_DIR/mail/`); tests run the same sink in a thread (`SmtpSink`). A file is
written under a temporary name and renamed, so a reader never sees half a message. The file is
the message as received, with `Return-Path` and `Delivered-To` in front as a mailbox would add.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import threading
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("hanse.smtp")
_sequence = itertools.count()
_lock = threading.Lock()


class MailDrop:
    """aiosmtpd handler: writes each message to `<directory>/<utc time>-<pid>-<n>.eml`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        trace = f"Return-Path: <{envelope.mail_from}>\r\n" + "".join(
            f"Delivered-To: {rcpt}\r\n" for rcpt in envelope.rcpt_tos
        )
        path = self.store(trace.encode() + content)
        log.info("%s for %s", path.name, ", ".join(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def store(self, data: bytes) -> Path:
        with _lock:
            n = next(_sequence)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.directory / f"{stamp}-{os.getpid()}-{n:06d}.eml"
        tmp = self.directory / f".{path.name}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path


def read_mail(directory: Path) -> list[EmailMessage]:
    """Every message in a sink folder, oldest first, parsed with the stdlib parser."""
    parser = BytesParser(policy=policy.default)
    messages = []
    for path in sorted(directory.glob("*.eml")):
        with open(path, "rb") as f:
            messages.append(parser.parse(f))
    return messages  # type: ignore[return-value]


class SmtpSink:
    """The sink in a background thread, for tests and tools: `start()`, `stop()`."""

    def __init__(self, directory: Path, port: int, host: str = "127.0.0.1", handler: Any = None) -> None:
        self.directory = directory
        self.host, self.port = host, port
        self.handler = handler or MailDrop(directory)
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> None:
        self._controller = Controller(
            self.handler, hostname=self.host, port=self.port, enable_SMTPUTF8=True, ready_timeout=10
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[EmailMessage]:
        return read_mail(self.directory)


async def run_smtp_sink(host: str, port: int, directory: Path) -> int:
    """`hanse smtp-sink`: serve until SIGTERM or SIGINT."""
    handler = MailDrop(directory)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection at INFO
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, enable_SMTPUTF8=True), host=host, port=port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"smtp sink on {host}:{port}, writing to {handler.directory}", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
    return 0
