"""A mail worker as its own process, so tests can SIGKILL it while it sends.

Configured by the environment (DATABASE_URL, HANSE_SMTP_URL, HANSE_MAIL_* ...); the database holds
only the kernel's tables (`Model`), which the test fills through `uow.send_mail`.
"""

from __future__ import annotations

import asyncio

from hanse.db import Database, model_base
from hanse.mail import MailWorker
from hanse.settings import Settings

Model = model_base("mailtest")


async def main() -> None:
    settings = Settings()
    db = Database(settings.database_url, Model.metadata, settings=settings)
    worker = MailWorker(db, settings)
    print("mail worker started", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
