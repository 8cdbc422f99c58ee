"""Shared fixtures: a real embedded broker, real SQLite and PostgreSQL databases."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hanse.broker import EmbeddedBroker, port_open
from hanse.db import drop_postgres_database, ensure_postgres_database
from hanse.settings import Settings

PG_BASE = "postgresql+asyncpg://postgres@127.0.0.1:5432"
TEST_SECRET = "test-secret-" + "x" * 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_available() -> bool:
    return port_open("127.0.0.1", 5432)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    b = EmbeddedBroker(free_port(), log_path=str(log))
    b.start()
    asyncio.run(b.wait_ready())
    yield b
    b.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"
        return
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    url = f"{PG_BASE}/hanse_test_{uuid.uuid4().hex[:12]}"
    await ensure_postgres_database(url)
    yield url
    await drop_postgres_database(url)


def make_settings(bootstrap: str, database_url: str | None = None, **overrides) -> Settings:
    values = {
        "env": "test",
        "kafka_bootstrap_servers": bootstrap,
        "topic_prefix": f"t{uuid.uuid4().hex[:10]}",
        "database_url": database_url,
        "jwt_secret": TEST_SECRET,
        "relay_poll_seconds": 0.2,
        "consumer_backoff_seconds": 0.05,
        "consumer_backoff_max_seconds": 0.2,
        "consumer_max_attempts": 4,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(broker: EmbeddedBroker, database_url: str) -> Settings:
    return make_settings(broker.bootstrap, database_url)
