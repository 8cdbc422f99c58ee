"""A newsletter to 10,000 confirmed subscribers: how long the send takes, and what it does to the API.

Starts the embedded broker, the SMTP sink and the marketing service as real processes (SQLite),
seeds N confirmed subscribers in five languages, then measures the same GET on marketing's API
twice in one run: idle, and while the newsletter is fanned out in batches by the scheduler job and
delivered over SMTP by the mail worker. Prints the send time (fan-out into the mail outbox, and
every message accepted by the SMTP server) and the API's p50/p99 idle and during the send.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.gateway_proxy import CLI, SECRET, bench_token, load, serve, start_broker
from tests.conftest import free_port

MARKETING_SECRET = "bench-marketing-secret-" + "y" * 32
LANGUAGES = ("en", "de", "fr", "es", "zh")


async def seed(database: Path, n: int) -> None:
    """N confirmed subscribers, written straight into marketing's (migrated) database."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlmodel.ext.asyncio.session import AsyncSession

    from hanse.events import utcnow
    from services.marketing.domain.rules import email_key
    from services.marketing.models import Subscriber

    engine = create_async_engine(f"sqlite+aiosqlite:///{database}")
    now = utcnow()
    async with AsyncSession(engine) as session:
        for i in range(n):
            email = f"reader{i:05d}@bench.example"
            session.add(
                Subscriber(
                    id=f"sub_bench{i:05d}",
                    email=email,
                    email_key=email_key(MARKETING_SECRET, email),
                    language=LANGUAGES[i % len(LANGUAGES)],
                    status="confirmed",
                    consent_text_version="2026-01",
                    consent_wording="bench",
                    consent_source="bench",
                    consented_at=now,
                    confirmed_at=now,
                    created_at=now,
                )
            )
        await session.commit()
    await engine.dispose()


def run(n: int = 10_000, connections: int = 8, seconds: float = 5.0) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="hanse-bench-newsletter-"))
    broker_port, sink_port, port = free_port(), free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HANSE_", "KAFKA_", "DATABASE_URL"))},
        "HANSE_ENV": "dev",
        "HANSE_DATA_DIR": str(tmp),
        "HANSE_JWT_SECRET": SECRET,
        "HANSE_MARKETING_SECRET": MARKETING_SECRET,
        "HANSE_MARKETING_PUBLIC_URL": "https://hanse.example",
        "HANSE_SMTP_URL": f"smtp://127.0.0.1:{sink_port}",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{broker_port}",
        "HANSE_LOG_LEVEL": "WARNING",
    }
    subprocess.run([*CLI, "migrate", "marketing"], env=env, check=True, capture_output=True)
    asyncio.run(seed(tmp / "marketing.db", n))
    procs = [
        subprocess.Popen(
            [*CLI, "smtp-sink", "--port", str(sink_port), "--dir", str(tmp / "mail")],
            env=env,
            stdout=subprocess.DEVNULL,
        ),
        start_broker(broker_port, env),
    ]
    try:
        base = serve("marketing", port, env, procs)
        token = bench_token("bench-marketer", "marketing")
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            body = {
                "name": "Bench newsletter",
                "channel": "email",
                "budget": {"amount": "100.00", "currency": "EUR"},
                "utm_campaign": "bench-news",
            }
            campaign = client.post("/api/v1/marketing/campaigns", json=body).json()
            texts = {lang: f"Bench news ({lang})" for lang in LANGUAGES}
            emails = f"/api/v1/marketing/campaigns/{campaign['id']}/emails"
            newsletter = client.post(emails, json={"subject": texts, "body": texts}).json()
            probe = f"{base}/api/v1/marketing/campaigns/{campaign['id']}"

            idle = load(probe, token, connections, seconds)

            during: list[dict] = []
            sending = threading.Event()
            sending.set()

            def measure() -> None:  # back-to-back load runs for as long as the send lasts
                while sending.is_set():
                    during.append(load(probe, token, connections, seconds))

            start = time.perf_counter()
            assert client.post(f"{emails}/{newsletter['id']}/send").status_code == 202
            loader = threading.Thread(target=measure, daemon=True)
            loader.start()
            fanned_out = None
            while True:
                state = client.get(f"{emails}/{newsletter['id']}").json()
                if fanned_out is None and state["recipients"] >= n:
                    fanned_out = time.perf_counter() - start
                if state["status"] == "sent":
                    break
                time.sleep(0.5)
            delivered = time.perf_counter() - start
            sending.clear()
            loader.join()
            # Idle again: the machine's own noise (other processes) shows in the difference of the two.
            idle_after = load(probe, token, connections, seconds)
        mail_files = len(list((tmp / "mail").glob("*.eml")))
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(20)
    return {
        "subscribers": n,
        "fan_out_seconds": fanned_out,
        "send_seconds": delivered,
        "sent": state["sent"],
        "failed": state["failed"],
        "mail_files": mail_files,
        "idle": idle,
        "idle_after": idle_after,
        "during": during,
    }


def summary(runs: list[dict]) -> dict:
    """Back-to-back runs of `seconds` each: the median run's p50 and p99, and the worst p99."""
    return {
        "runs": len(runs),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "worst_p99_ms": max(r["p99_ms"] for r in runs),
        "rps": statistics.median(r["rps"] for r in runs),
    }


def report(result: dict) -> None:
    idle = summary([result["idle"], result["idle_after"]])
    during = summary(result["during"])
    print(
        f"  {result['subscribers']} confirmed subscribers: fanned out in {result['fan_out_seconds']:.1f}s, "
        f"all {result['sent']} accepted by SMTP in {result['send_seconds']:.1f}s "
        f"({result['sent'] / result['send_seconds']:.0f} mails/s; failed {result['failed']}; "
        f"{result['mail_files']} .eml files)"
    )
    for label, s in (("API idle (before, after)", idle), ("API during the send", during)):
        print(
            f"  {label:<25}: p50 {s['p50_ms']:.1f} ms  p99 {s['p99_ms']:.1f} ms  (worst p99 {s['worst_p99_ms']:.1f} ms)"
            f"  {s['rps']:.0f} req/s  [{s['runs']} runs, medians]"
        )
    print(
        f"  during/idle: p50 {during['p50_ms'] / max(idle['p50_ms'], 0.001):.2f}"
        f"  p99 {during['p99_ms'] / max(idle['p99_ms'], 0.001):.2f}"
    )


def main() -> None:
    n = int(os.environ.get("HANSE_BENCH_SUBSCRIBERS", "10000"))
    print(
        f"\n== newsletter to {n} subscribers: send time, marketing API latency idle vs during the send ==", flush=True
    )
    report(run(n))


if __name__ == "__main__":
    if "--json" in sys.argv:
        print(json.dumps(run(int(os.environ.get("HANSE_BENCH_SUBSCRIBERS", "10000")))))
    else:
        main()
