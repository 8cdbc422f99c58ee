"""The whole platform, started the way a developer starts it (`hanse dev`), on free ports.

One platform, the session fixture `platform`, serves every e2e test that can share one; under
pytest-xdist all those tests run on one worker (group "platform", see tests/conftest.py), so it
starts once per run. Modules that break a platform on purpose start their own (module-scoped,
one xdist group per module). A platform dies with the test run however the run ends: `hanse dev`
gets SIGTERM from the kernel when the test process dies (PR_SET_PDEATHSIG), and its children get
it when `hanse dev` dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from hanse.db import drop_postgres_database
from hanse.settings import Settings
from ops.broker import die_with_parent
from ops.migrate import SERVICES
from services import DEPARTMENTS
from tests.conftest import PG_BASE, free_port, postgres_available
from tests.support.isolation import free_port_block
from tests.support.kafka import eventually

ADMIN_PASSWORD = "e2e-admin-password-1234"


@dataclass
class Platform:
    gateway: str
    services: dict[str, str]
    bootstrap: str
    data_dir: Path
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    admin_user: str = "admin"
    admin_password: str = ADMIN_PASSWORD

    def token(self) -> str:
        response = httpx.post(
            f"{self.gateway}/api/v1/auth/token",
            data={"username": self.admin_user, "password": self.admin_password},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pids(self) -> dict[str, int]:
        found = {}
        for name, url in {**self.services, "gateway": self.gateway}.items():
            with contextlib.suppress(httpx.HTTPError):
                found[name] = httpx.get(f"{url}/livez", timeout=5).json()["pid"]
        return found


def _free_port_block(size: int) -> int:
    """A base port such that base+1 .. base+size are all free (from this worker's slice)."""
    return free_port_block(size)


def start_platform(tmp: Path, extra_env: dict[str, str] | None = None) -> Platform:
    base = _free_port_block(len(DEPARTMENTS))
    gateway_port, broker_port, smtp_port = free_port(), free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HANSE_", "KAFKA_", "DATABASE_URL"))},
        "HANSE_ENV": "dev",
        "HANSE_DATA_DIR": str(tmp / "var"),
        "HANSE_BROKER_PORT": str(broker_port),
        "HANSE_SMTP_PORT": str(smtp_port),  # the SMTP sink; its .eml files land in <data_dir>/mail
        "HANSE_SERVICE_PORT_BASE": str(base),
        "HANSE_GATEWAY_PORT": str(gateway_port),
        "HANSE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        # Tests log in and call from one address as one user, far faster than people do; a test of
        # the limits themselves passes lower ones in extra_env.
        "HANSE_GATEWAY_RATE_LIMIT": "100000/minute",
        "HANSE_GATEWAY_PUBLIC_RATE_LIMIT": "100000/minute",
        "HANSE_GATEWAY_LOGIN_RATE_LIMIT": "100000/minute",
        **(extra_env or {}),
    }
    log_path = tmp / "platform.log"
    log = open(log_path, "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "dev"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # stop_platform signals the whole group
        preexec_fn=die_with_parent(),  # and if this test process dies first, hanse dev follows it
    )
    services = {name: f"http://127.0.0.1:{base + i + 1}" for i, name in enumerate(DEPARTMENTS)}
    platform = Platform(
        gateway=f"http://127.0.0.1:{gateway_port}",
        services=services,
        bootstrap=f"127.0.0.1:{broker_port}",
        data_dir=tmp / "var",
        process=process,
        log_path=log_path,
        env=env,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"hanse dev exited with {process.returncode}:\n{platform.log()[-5000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{platform.gateway}/readyz", timeout=5).status_code == 200:
                return platform
        time.sleep(0.3)
    stop_platform(platform)
    raise RuntimeError(f"platform not ready after 180s:\n{platform.log()[-5000:]}")


def stop_platform(platform: Platform, timeout: float = 60) -> None:
    if platform.process.poll() is None:
        platform.process.send_signal(signal.SIGTERM)
        try:
            platform.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(platform.process.pid, signal.SIGKILL)
            platform.process.wait()


@contextlib.contextmanager
def running_on_postgres(
    tmp: Path, label: str, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[Platform, Settings]]:
    """A platform on PostgreSQL (`HANSE_DB=postgres`), its databases dropped afterwards.

    The databases get a unique prefix (`hanse_<label>_<random>_`), so the platform never meets a
    developer's hanse_* databases or another run's. Skips when PostgreSQL is not running.
    """
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    prefix = f"hanse_{label}_{uuid.uuid4().hex[:8]}_"
    env = {"HANSE_DB": "postgres", "HANSE_POSTGRES_BASE": PG_BASE, "HANSE_POSTGRES_DB_PREFIX": prefix}
    databases = Settings(env="dev", db="postgres", postgres_base=PG_BASE, postgres_db_prefix=prefix)
    platform = start_platform(tmp, {**env, **(extra_env or {})})
    try:
        yield platform, databases
    finally:
        stop_platform(platform)

        async def drop_all() -> None:
            for name in SERVICES:
                await drop_postgres_database(databases.postgres_url_for(name))

        asyncio.run(drop_all())


def plain_url(url: str) -> str:
    """A SQLAlchemy asyncpg URL as asyncpg itself takes it."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (it only waits to be reaped by its parent).
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False
    return True


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    # Every e2e test posts its leads from 127.0.0.1: the default 10/minute would refuse the later ones.
    running = start_platform(tmp_path_factory.mktemp("platform"), {"HANSE_LEAD_RATE_LIMIT": "600/minute"})
    yield running
    pids = running.pids()
    stop_platform(running)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(p) for p in pids.values()):
        time.sleep(0.1)
    leftover = {n: p for n, p in pids.items() if alive(p)}
    assert not leftover, f"processes left behind after SIGTERM: {leftover}"


@pytest.fixture
def admin_headers(platform: Platform) -> dict[str, str]:
    return {"Authorization": f"Bearer {platform.token()}"}


async def wait_for(check, timeout: float = 30.0, interval: float = 0.2):
    """`eventually`, polling a little less often: each check here is an HTTP call to the platform."""
    return await eventually(check, timeout, interval)
