"""Shared fixtures: a real embedded broker, real SQLite and PostgreSQL databases.

The suite runs in parallel with pytest-xdist (`make test`: `-n auto --dist loadgroup`, see
docs/testing.md). Each worker owns its ports (`free_port` hands out a per-worker slice), its
databases (names carry the worker id) and its broker (the session `broker` fixture runs once per
worker). Tests that share an expensive module- or session-scoped fixture are put in one xdist
group here, so that it starts once rather than once per worker.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hanse.db import drop_postgres_database, ensure_postgres_database
from hanse.settings import Settings
from ops.broker import EmbeddedBroker, die_with_parent_now, port_open
from ops.smtp import SmtpSink
from tests.support.isolation import free_port, unique_name, worker_id

PG_BASE = "postgresql+asyncpg://postgres@127.0.0.1:5432"
TEST_SECRET = "test-secret-" + "x" * 40


__all__ = ["PG_BASE", "TEST_SECRET", "free_port", "make_settings", "postgres_available", "unique_name", "worker_id"]


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_GroupSuffix(), "hanse-xdist-group-suffix")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # An xdist worker dies with the controller, however it dies; the worker's platforms and
        # brokers die with the worker (PR_SET_PDEATHSIG on each of them), so a killed run leaves nothing.
        die_with_parent_now()


# Module- and session-scoped fixtures that start processes: tests using them run on one worker.
# The session platform of tests/e2e/conftest.py, and the console's own one (tests/browser/conftest.py):
# two groups, so the browser tests run on the other worker, beside the e2e tests rather than after them.
SHARED_PLATFORM_FIXTURES = {"platform": "platform", "console_platform": "console"}


# tryfirst: xdist's own hook turns the marks into `nodeid@group` and must see them.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group tests for `--dist loadgroup`; without xdist the marks change nothing.

    - every test that uses the shared session `platform` goes to group "platform": one platform
      for all of them, on one worker;
    - a test marked `serial` goes to group "serial": those run one after another on one worker;
    - every other test that uses a module- (or class-, package-) scoped fixture goes to a group
      named after its module, so the fixture is set up once;
    - the rest (most unit and integration tests) are spread one by one over the workers.
    An explicit `@pytest.mark.xdist_group(...)` on a test wins.
    """
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        names = set(getattr(item, "fixturenames", ()))
        shared = sorted(names & SHARED_PLATFORM_FIXTURES.keys())
        if shared:
            group = SHARED_PLATFORM_FIXTURES[shared[0]]
        elif item.get_closest_marker("serial"):
            group = "serial"
        elif _uses_shared_scope(item):
            group = item.nodeid.split("::", 1)[0]
        else:
            continue
        item.add_marker(pytest.mark.xdist_group(group))


class _GroupSuffix:
    """pytest-xdist 3.8 sends a group to one worker by renaming each test `<nodeid>@<group>`, through
    `item._nodeid`, which pytest 9 no longer reads (`Node.nodeid` comes from `item._id`): without this,
    `--dist loadgroup` silently spreads a group over every worker. Runs after xdist's hook and
    renames what it could not; a no-op where xdist's rename took effect or without loadgroup."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if not getattr(config.option, "loadgroup", False):
            return
        from _pytest.nodeid import coerce_node_id

        for item in items:
            names = sorted(
                {
                    str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                    for m in item.iter_markers("xdist_group")
                }
            )
            suffix = "@" + "_".join(names)
            if names and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
                item._id = coerce_node_id(item.nodeid + suffix)


def _uses_shared_scope(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for name in info.names_closure:
        for fixturedef in info.name2fixturedefs.get(name, ()):
            if fixturedef.scope in ("module", "class", "package") and not fixturedef.baseid.startswith("_pytest"):
                return True
    return False


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
    url = f"{PG_BASE}/{unique_name('hanse_test')}"
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
        # Nothing listens there: mail never leaks into a developer's `make dev` sink. A test that
        # reads mail passes its own sink's URL (`smtp_url=smtp_sink.url`).
        "smtp_url": "smtp://127.0.0.1:9",
        "mail_poll_seconds": 0.2,
    }
    values.update(overrides)
    # Not ./var, which every worker (and `make dev`) would share: a directory of this process's own.
    values.setdefault("data_dir", worker_data_dir())
    return Settings(**values)


@functools.cache
def worker_data_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"hanse-test-{worker_id()}-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@pytest.fixture
def smtp_sink(tmp_path: Path) -> Iterator[SmtpSink]:
    """A real SMTP sink (aiosmtpd) of this test's own: a free port, and a folder of .eml files."""
    sink = SmtpSink(tmp_path / "mail", free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def settings(broker: EmbeddedBroker, database_url: str) -> Settings:
    return make_settings(broker.bootstrap, database_url)
