"""An idle pooled connection never turns the next request into a 502: the gateway drops it first.

uvicorn closes a connection idle for its keep-alive; a request the gateway sends on that connection
at the same moment is lost ("marketing sent an invalid response"). The services' keep-alive and the
gateway's pool both come from HANSE_KEEP_ALIVE_SECONDS, the pool's strictly shorter.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hanse.settings import Settings
from ops.broker import EmbeddedBroker, die_with_parent
from tests.conftest import TEST_SECRET, free_port, make_settings
from tests.integration.test_graceful_shutdown import _wait_ready as wait_ready
from tests.support.gateway import run_gateway

ROOT = Path(__file__).resolve().parents[2]
KEEP_ALIVE_SECONDS = 1  # short, so the test can wait past it


def lead(n: int) -> dict[str, object]:
    return {
        "company": "Nordlicht Handel GmbH",
        "contact_name": "Jana Berg",
        "email": f"jana.berg+{n}@nordlicht-handel.de",
        "country": "DE",
        "consent_marketing": True,
    }


@pytest.fixture
def marketing(broker: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Marketing as its own process, started by `hanse serve` exactly as in production."""
    monkeypatch.setenv("HANSE_KEEP_ALIVE_SECONDS", str(KEEP_ALIVE_SECONDS))  # the gateway below reads it too
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HANSE_", "KAFKA_", "DATABASE_URL"))},
        "HANSE_ENV": "test",
        "HANSE_JWT_SECRET": TEST_SECRET,
        "HANSE_DATA_DIR": str(tmp_path),
        "HANSE_KEEP_ALIVE_SECONDS": str(KEEP_ALIVE_SECONDS),
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "HANSE_TOPIC_PREFIX": f"ka{port}",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'marketing.db'}",
        "HANSE_LEAD_RATE_LIMIT": "off",
    }
    log = (tmp_path / "marketing.log").open("wb")
    command = [sys.executable, "-m", "ops.cli", "serve", "marketing", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent()
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def seconds_until_the_server_closes_an_idle_connection(url: str) -> float:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET /livez HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
        await reader.readexactly(int({k.lower(): v for k, v in fields.items()}[b"content-length"]))
        idle_since = time.monotonic()
        assert await asyncio.wait_for(reader.read(), timeout=10) == b""  # the server hung up
        return time.monotonic() - idle_since
    finally:
        writer.close()


def connections_to(url: str) -> set[int]:
    """Local ports of the open TCP connections to `url` on this machine (Linux /proc/net/tcp)."""
    port = int(url.rsplit(":", 1)[1])
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, state = line.split()[1:4]
        if state == "01" and int(remote.split(":")[1], 16) == port:  # 01: ESTABLISHED
            ports.add(int(local.split(":")[1], 16))
    return ports


async def test_the_next_post_after_an_idle_spell_goes_through_although_the_service_closed_the_connection(
    marketing: str, broker: EmbeddedBroker, tmp_path: Path
):
    keep_alive = Settings()
    assert keep_alive.keep_alive_seconds == KEEP_ALIVE_SECONDS
    # `hanse serve` really set the service's keep-alive (uvicorn's default would keep it open 5 s).
    closed_after = await seconds_until_the_server_closes_an_idle_connection(marketing)
    assert 0.5 <= closed_after < KEEP_ALIVE_SECONDS + 1.5, closed_after

    settings = make_settings(broker.bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    async with run_gateway(settings, upstreams={"marketing": marketing}) as gw:
        # The fix: the pool forgets an idle connection strictly before the service closes it.
        pool_seconds = gw.proxy.session.connector._keepalive_timeout  # aiohttp has no public getter
        assert pool_seconds == keep_alive.upstream_pool_idle_seconds < keep_alive.keep_alive_seconds

        # The gateway keeps its one connection to marketing for the next request. The pool keeps it
        # only 0.5 s here: on a loaded machine the look can come later than that, so a miss is asked
        # again (a pool that never keeps a connection fails all three).
        for attempt in range(3):
            first = await gw.client.post("/api/v1/marketing/leads", json=lead(100 + attempt))
            assert first.status_code == 202, first.text
            pooled = connections_to(marketing)
            if pooled:
                break
        assert len(pooled) == 1, pooled
        # Idle longer than the pool keeps a connection, not yet as long as the service does: the old
        # pool (30 s) reused this connection, so a request could meet the service closing it.
        await asyncio.sleep((keep_alive.upstream_pool_idle_seconds + keep_alive.keep_alive_seconds) / 2)
        second = await gw.client.post("/api/v1/marketing/leads", json=lead(1))
        assert second.status_code == 202, second.text
        assert pooled.isdisjoint(connections_to(marketing)), "the pool reused a connection idle past its limit"
        # Hold the pooled connection idle up to, at and past the moment the service closes it: every
        # POST goes through (the old pool answered some of these with a 502).
        for n, idle in enumerate((0.99, 1.0, 1.01, 1.5), start=2):
            await asyncio.sleep(idle)
            response = await gw.client.post("/api/v1/marketing/leads", json=lead(n))
            assert response.status_code == 202, (idle, response.status_code, response.text)
