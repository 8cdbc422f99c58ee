"""Gateway proxy throughput against a direct call: the same GET at 32 concurrent connections.

Starts the embedded broker, the sales service and the gateway as real processes, seeds one
product, then alternates direct and proxied runs of the load generator (its own process) and
reports the best of each.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import httpx

from hanse.auth import issue_token
from hanse.settings import Settings

SECRET = "bench-secret-" + "x" * 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready")


def _load(url: str, token: str, connections: int, seconds: float) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            url,
            "--connections",
            str(connections),
            "--seconds",
            str(seconds),
            "--header",
            f"Authorization: Bearer {token}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(connections: int = 32, seconds: float = 5.0, rounds: int = 2) -> dict:
    tmp = tempfile.mkdtemp(prefix="hanse-bench-")
    broker_port, sales_port, gateway_port = _free_port(), _free_port(), _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HANSE_", "KAFKA_", "DATABASE_URL"))},
        "HANSE_ENV": "dev",
        "HANSE_DATA_DIR": tmp,
        "HANSE_JWT_SECRET": SECRET,
        "HANSE_ADMIN_PASSWORD": "bench-admin-password",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{broker_port}",
        "HANSE_SALES_URL": f"http://127.0.0.1:{sales_port}",
        "HANSE_LOG_LEVEL": "WARNING",
    }
    cli = [sys.executable, "-m", "hanse.cli"]
    procs = [
        subprocess.Popen([*cli, "broker", "--port", str(broker_port)], env=env, stdout=subprocess.DEVNULL),
    ]
    try:
        time.sleep(1.0)
        procs.append(subprocess.Popen([*cli, "serve", "sales", "--port", str(sales_port)], env=env))
        procs.append(subprocess.Popen([*cli, "serve", "gateway", "--port", str(gateway_port)], env=env))
        direct_base = f"http://127.0.0.1:{sales_port}"
        gateway_base = f"http://127.0.0.1:{gateway_port}"
        _wait(f"{direct_base}/readyz")
        _wait(f"{gateway_base}/livez")
        token, _ = issue_token("bench", ["admin"], Settings(env="dev", jwt_secret=SECRET))
        headers = {"Authorization": f"Bearer {token}"}
        product = {
            "sku": "BENCH-1",
            "name": "Benchmark widget",
            "hs_code": "847130",
            "origin_country": "DE",
            "unit_price": {"amount": "10.00", "currency": "EUR"},
            "unit_weight_kg": "1.5",
        }
        created = httpx.post(f"{direct_base}/api/v1/sales/products", json=product, headers=headers)
        if created.status_code not in (201, 409):
            raise RuntimeError(f"seeding failed: {created.status_code} {created.text}")
        path = "/api/v1/sales/products/BENCH-1"
        assert httpx.get(gateway_base + path, headers=headers).status_code == 200
        direct, proxied = [], []
        for _ in range(rounds):
            direct.append(_load(direct_base + path, token, connections, seconds))
            proxied.append(_load(gateway_base + path, token, connections, seconds))
        best_direct = max(direct, key=lambda r: r["rps"])
        best_proxied = max(proxied, key=lambda r: r["rps"])
        return {"direct": best_direct, "gateway": best_proxied, "ratio": best_proxied["rps"] / best_direct["rps"]}
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
