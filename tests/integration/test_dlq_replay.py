"""`hanse dlq replay`: dead letters go back to the one service that failed them, once."""

from __future__ import annotations

from hanse.outbox import Relay
from ops import dlq
from tests.integration.test_outbox_consumer import applied_rows, make_consumer, post_entries, running, start_db
from tests.support import ledger
from tests.support.kafka import eventually, read_all


async def test_dead_letters_are_replayed_to_the_service_once_the_cause_is_fixed(settings, capsys):
    db = await start_db(settings)
    relay, consumer = Relay(db, settings), make_consumer(db, settings)
    ledger.broken_accounts.add("acme")
    try:
        async with running(relay, consumer):
            (entry_id,) = await post_entries(db, [("acme", 12)])
            await read_all(settings.kafka_bootstrap_servers, settings.dlq_topic("ledger"), expect=1)
            assert await applied_rows(db) == []

            ledger.broken_accounts.discard("acme")  # the fix is deployed
            assert await dlq.replay(settings, "ledger") == 0
            assert "replayed 1 dead letter(s)" in capsys.readouterr().out

            async def fixed():
                return await applied_rows(db)

            rows = await eventually(fixed)
            assert [r.entry_id for r in rows] == [entry_id]

            # The replay group remembers: a second replay finds nothing new.
            assert await dlq.replay(settings, "ledger") == 0
            assert "replayed 0 dead letter(s)" in capsys.readouterr().out
            retried = await read_all(settings.kafka_bootstrap_servers, settings.retry_topic("ledger"), expect=1)
            assert len(retried) == 1
            headers = dict(retried[0].headers)
            assert headers["hanse-replayed-from"].startswith(settings.dlq_topic("ledger").encode())
            assert not any(k.startswith("hanse-dlq-") for k in headers)
        assert len(await applied_rows(db)) == 1
    finally:
        ledger.broken_accounts.discard("acme")
        await db.dispose()
