"""SIGTERM stops a service gracefully: the outbox is flushed to the broker before the process exits."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from ops.broker import EmbeddedBroker, die_with_parent
from tests.conftest import free_port
from tests.support.kafka import read_all


def _wait_ready(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"service exited with {process.returncode}"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("service not ready")


def _unsent(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT event_id FROM outbox WHERE sent_at IS NULL ORDER BY id")]


def test_sigterm_publishes_the_unsent_outbox_before_the_process_exits(broker: EmbeddedBroker, tmp_path: Path):
    prefix = f"t{uuid.uuid4().hex[:10]}"
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HANSE_", "KAFKA_", "DATABASE_URL"))},
        "HANSE_ENV": "dev",
        "HANSE_DATA_DIR": str(tmp_path),
        "HANSE_TOPIC_PREFIX": prefix,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        # Only a commit in this process or shutdown wakes the relay, so rows written behind its back wait.
        "HANSE_RELAY_POLL_SECONDS": "3600",
    }
    log = open(tmp_path / "marketing.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "serve", "marketing", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent(),  # a killed test run takes the service with it
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process)
        db = tmp_path / "marketing.db"
        event_ids = [uuid.uuid4().hex for _ in range(25)]
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
        with sqlite3.connect(db, timeout=30) as conn:
            conn.executemany(
                "INSERT INTO outbox (event_id, topic, key, event_type, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (eid, f"{prefix}.marketing", "lead-1", "marketing.test.v1", f'{{"id": "{eid}"}}'.encode(), now)
                    for eid in event_ids
                ],
            )
        time.sleep(1.0)
        assert _unsent(db) == event_ids, "the relay published before shutdown; the test proves nothing"

        process.send_signal(signal.SIGTERM)
        # uvicorn re-raises SIGTERM after its graceful shutdown, so "killed by SIGTERM" is the clean exit.
        assert process.wait(30) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()

    assert _unsent(db) == [], "rows left unsent after a graceful stop"
    records = asyncio.run(read_all(broker.bootstrap, f"{prefix}.marketing", expect=len(event_ids)))
    published = [r.value.decode() for r in records]
    assert published == [f'{{"id": "{eid}"}}' for eid in event_ids], "every row once, in order"
