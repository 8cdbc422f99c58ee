"""A ledger consumer as its own process, so tests can SIGKILL it mid-batch.

Configured by the environment (KAFKA_BOOTSTRAP_SERVERS, HANSE_TOPIC_PREFIX, DATABASE_URL, ...).
"""

from __future__ import annotations

import asyncio

from hanse.consumer import Consumer
from hanse.db import Database
from hanse.settings import Settings
from tests.support import ledger


async def main() -> None:
    settings = Settings()
    db = Database(settings.database_url, ledger.Model.metadata, settings=settings)
    await db.create_all()
    consumer = Consumer("ledger", db, settings, ledger.HANDLERS, ledger.ledger_registry())
    print("worker started", flush=True)
    await consumer.run()


if __name__ == "__main__":
    asyncio.run(main())
