"""Gateway proxy throughput against a direct call: the same GET at 32 concurrent connections.

Starts the embedded broker, the sales service and the gateway as real processes, seeds one
product, then alternates direct and proxied runs of the load generator and reports the best of
each. The gateway verifies the JWT, checks the role matrix and counts the rate limit on every
proxied request, as in production (the limit itself is set out of reach). The load generator is
`wrk` when it is installed (C, so it leaves the two cores to what it measures), otherwise
`bench.loadgen` in its own process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from hanse.auth import issue_token
from hanse.settings import Settings
from tests.conftest import free_port

SECRET = "bench-secret-" + "x" * 40
PATH = "/api/v1/sales/products/BENCH-1"


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


def _wrk_ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        raise ValueError(f"wrk printed a latency this cannot read: {text!r}")
    number, unit = found.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def _wrk(url: str, token: str, connections: int, seconds: float) -> dict:
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests": requests,
        "errors": (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, errors.groups())) if errors else 0),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _wrk_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        "p99_ms": _wrk_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        "tool": "wrk",
    }


def _loadgen(url: str, token: str, connections: int, seconds: float) -> dict:
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
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "tool": "bench.loadgen"}


def load(url: str, token: str, connections: int, seconds: float) -> dict:
    if shutil.which("wrk") and os.environ.get("HANSE_BENCH_LOADGEN", "wrk") == "wrk":
        return _wrk(url, token, connections, seconds)
    return _loadgen(url, token, connections, seconds)


def process_env(data_dir: str, broker_port: int, **extra: str) -> dict[str, str]:
    """The environment of a benchmark's `hanse` processes: this shell's, less any Hanse or Kafka
    setting, a dev platform in `data_dir` on the benchmark's broker, quiet logs, plus `extra`."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HANSE_", "KAFKA_", "DATABASE_URL"))},
        "HANSE_ENV": "dev",
        "HANSE_DATA_DIR": data_dir,
        "HANSE_JWT_SECRET": SECRET,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{broker_port}",
        "HANSE_LOG_LEVEL": "WARNING",
        **extra,
    }


CLI = [sys.executable, "-m", "ops.cli"]


def start_broker(port: int, env: dict[str, str]) -> subprocess.Popen:
    """The embedded broker of a benchmark's processes, on its own port, given a second to listen."""
    process = subprocess.Popen([*CLI, "broker", "--port", str(port)], env=env, stdout=subprocess.DEVNULL)
    time.sleep(1.0)
    return process


def serve(name: str, port: int, env: dict[str, str], procs: list[subprocess.Popen], ready: str = "/readyz") -> str:
    """`hanse serve <name>` on `port`, added to `procs` (so `stop` ends it); its base URL once `ready` answers."""
    procs.append(subprocess.Popen([*CLI, "serve", name, "--port", str(port)], env=env))
    base = f"http://127.0.0.1:{port}"
    _wait(base + ready)
    return base


def bench_token(subject: str, *roles: str) -> str:
    """A token the benchmark's processes accept (they share SECRET)."""
    token, _ = issue_token(subject, list(roles), Settings(env="dev", jwt_secret=SECRET))
    return token


def stop(procs: list[subprocess.Popen]) -> None:
    """Terminate the processes last-started first, and kill what has not ended after 20 s."""
    for p in reversed(procs):
        p.terminate()
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


@dataclass
class Running:
    direct: str
    gateway: str
    token: str
    pids: dict[str, int]


@contextlib.contextmanager
def sales_behind_gateway() -> Iterator[Running]:
    """Broker, sales and gateway as processes, one product seeded; stopped on exit."""
    tmp = tempfile.mkdtemp(prefix="hanse-bench-")
    broker_port, sales_port, gateway_port = free_port(), free_port(), free_port()
    env = process_env(
        tmp,
        broker_port,
        HANSE_ADMIN_PASSWORD="bench-admin-password",
        HANSE_SALES_URL=f"http://127.0.0.1:{sales_port}",
        # Counted on every request like in production, but never reached by the benchmark.
        HANSE_GATEWAY_RATE_LIMIT="100000000/minute",
    )
    procs = [start_broker(broker_port, env)]
    try:
        direct = serve("sales", sales_port, env, procs)
        gateway = serve("gateway", gateway_port, env, procs, ready="/livez")
        admin = bench_token("bench-admin", "admin")
        product = {
            "sku": "BENCH-1",
            "name": "Benchmark widget",
            "hs_code": "847130",
            "origin_country": "DE",
            "unit_price": {"amount": "10.00", "currency": "EUR"},
            "unit_weight_kg": "1.5",
        }
        created = httpx.post(
            f"{direct}/api/v1/sales/products", json=product, headers={"Authorization": f"Bearer {admin}"}
        )
        if created.status_code not in (201, 409):
            raise RuntimeError(f"seeding failed: {created.status_code} {created.text}")
        # A sales clerk's token: the gateway verifies it and checks the role matrix on every request.
        token = bench_token("bench-clerk", "sales")
        assert httpx.get(gateway + PATH, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        yield Running(direct, gateway, token, {"broker": procs[0].pid, "sales": procs[1].pid, "gateway": procs[2].pid})
    finally:
        stop(procs)


def best_of_alternating(
    baseline: str, measured: str, token: str, connections: int, seconds: float, rounds: int
) -> tuple[dict, dict, float]:
    """Alternate load runs against the baseline URL and the measured one (the machine's drift hits
    both alike); the best run of each, and the measured requests/s as a ratio of the baseline's."""
    base_runs, measured_runs = [], []
    for _ in range(rounds):
        base_runs.append(load(baseline, token, connections, seconds))
        measured_runs.append(load(measured, token, connections, seconds))
    best_base = max(base_runs, key=lambda r: r["rps"])
    best_measured = max(measured_runs, key=lambda r: r["rps"])
    return best_base, best_measured, best_measured["rps"] / best_base["rps"]


def run(connections: int = 32, seconds: float = 5.0, rounds: int = 2) -> dict:
    with sales_behind_gateway() as running:
        direct, proxied, ratio = best_of_alternating(
            running.direct + PATH, running.gateway + PATH, running.token, connections, seconds, rounds
        )
        return {"direct": direct, "gateway": proxied, "ratio": ratio}


if __name__ == "__main__":
    print(json.dumps(run(int(os.environ.get("HANSE_BENCH_CONNECTIONS", "32")))))
