"""The platform as `make dev` runs it: health, login, routing, dead letters, restarts, shutdown."""

from __future__ import annotations

import importlib
import os
import signal
import time

import httpx
import pytest

from ops.broker import port_open
from services import DEPARTMENTS
from tests.e2e.conftest import Platform, alive, start_platform, stop_platform, wait_for
from tests.support.kafka import read_all, send_raw

pytestmark = pytest.mark.e2e


def test_every_process_answers_livez_readyz_metrics_and_openapi(platform: Platform):
    for name, url in {**platform.services, "gateway": platform.gateway}.items():
        assert httpx.get(f"{url}/livez").json()["status"] == "ok", name
        ready = httpx.get(f"{url}/readyz")
        assert ready.status_code == 200, (name, ready.text)
        metrics = httpx.get(f"{url}/metrics")
        assert metrics.status_code == 200 and "hanse_http_requests_total" in metrics.text, name
        if name != "gateway":
            assert "hanse_outbox_backlog" in metrics.text, name
        spec = httpx.get(f"{url}/openapi.json").json()
        assert spec["openapi"].startswith("3."), name
    gateway_ready = httpx.get(f"{platform.gateway}/readyz").json()
    assert set(gateway_ready["checks"]) == set(DEPARTMENTS)


def test_admin_logs_in_through_the_gateway_and_a_wrong_password_is_a_401_problem(platform: Platform):
    good = httpx.post(
        f"{platform.gateway}/api/v1/auth/token",
        data={"username": "admin", "password": platform.admin_password},
    )
    assert good.status_code == 200
    body = good.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0 and body["access_token"].count(".") == 2
    bad = httpx.post(f"{platform.gateway}/api/v1/auth/token", data={"username": "admin", "password": "nope"})
    assert bad.status_code == 401
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["status"] == 401
    missing = httpx.post(f"{platform.gateway}/api/v1/auth/token", data={"username": "admin"})
    assert missing.status_code == 422 and missing.json()["field"] == "password"


def test_gateway_routes_each_department_and_keeps_the_request_id(platform: Platform, admin_headers):
    for name in DEPARTMENTS:
        response = httpx.get(
            f"{platform.gateway}/api/v1/{name}/no-such-thing",
            headers={**admin_headers, "X-Request-ID": f"req-{name}"},
        )
        assert response.status_code == 404, (name, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["x-request-id"] == f"req-{name}"
        assert f"/api/v1/{name}/no-such-thing" in response.json()["detail"]
    unknown = httpx.get(f"{platform.gateway}/api/v1/nowhere/x")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"


def _sales_consumers() -> list[str]:
    consumers = []
    for name in DEPARTMENTS:
        handlers = importlib.import_module(f"services.{name}.handlers").HANDLERS
        if any(t.startswith("sales.") for t in handlers):
            consumers.append(name)
    return consumers


async def test_poison_message_on_sales_reaches_a_dlq_with_headers_while_every_service_stays_ready(
    platform: Platform,
):
    consumers = _sales_consumers()
    if not consumers:
        pytest.skip("no department consumes hanse.sales yet")
    await send_raw(platform.bootstrap, "hanse.sales", b"{not json at all", b"poison")
    for name in consumers:
        dead = await read_all(platform.bootstrap, f"hanse.{name}.dlq", expect=1, timeout=60)
        poison = [d for d in dead if d.value == b"{not json at all"]
        assert poison, f"{name} did not dead-letter the poison message"
        headers = dict(poison[0].headers)
        assert headers["hanse-dlq-reason"] == b"not-json"
        assert headers["hanse-dlq-topic"] == b"hanse.sales"
        assert headers["hanse-dlq-consumer"] == name.encode()
        assert headers["hanse-dlq-offset"].isdigit() and headers["hanse-dlq-partition"].isdigit()
    for name, url in platform.services.items():
        assert httpx.get(f"{url}/readyz").status_code == 200, name
    metrics = httpx.get(f"{platform.services[consumers[0]]}/metrics").text
    assert 'hanse_dlq_messages_total{reason="not-json"}' in metrics


async def test_supervisor_restarts_a_killed_service_and_the_gateway_names_it_while_down(platform: Platform):
    before = platform.pids()["finance"]
    os.kill(before, signal.SIGKILL)
    down = httpx.get(f"{platform.gateway}/api/v1/finance/anything", timeout=10)
    assert down.status_code in (502, 503)
    assert down.headers["content-type"] == "application/problem+json"
    assert down.json()["department"] == "finance"

    async def back():
        try:
            r = httpx.get(f"{platform.services['finance']}/livez", timeout=2)
        except httpx.HTTPError:
            return False
        return r.json()["pid"] != before and httpx.get(f"{platform.services['finance']}/readyz").status_code == 200

    await wait_for(back, timeout=60)
    assert httpx.get(f"{platform.gateway}/readyz").status_code == 200


def test_killing_the_supervisor_outright_leaves_no_process_behind(tmp_path):
    own = start_platform(tmp_path)
    try:
        pids = own.pids()
        assert len(pids) == len(DEPARTMENTS) + 1  # the departments and the gateway
    finally:
        os.kill(own.process.pid, signal.SIGKILL)  # no chance to clean up: children must follow
        own.process.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(p) for p in pids.values()):
        time.sleep(0.1)
    assert not [n for n, p in pids.items() if alive(p)]
    host, port = own.bootstrap.split(":")
    while time.monotonic() < deadline and port_open(host, int(port)):
        time.sleep(0.1)
    assert not port_open(host, int(port)), "the broker outlived the supervisor"
    stop_platform(own)
