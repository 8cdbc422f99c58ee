"""`make bench`: run the benchmarks and print ratios against baselines measured in the same run."""

from __future__ import annotations

import asyncio
import os

from bench import console, flow, gateway_proxy, kernel_events, newsletter, requests, sanctions


def main() -> None:
    n = int(os.environ.get("HANSE_BENCH_EVENTS", "5000"))
    print(f"== events through outbox -> broker -> consumer+inbox ({n} events) ==", flush=True)
    ev = asyncio.run(kernel_events.run(n))
    raw = ev["raw_aiokafka_eps"]
    print(f"  raw aiokafka produce+consume : {raw:10.0f} events/s   (baseline)")
    for key, label in (("hanse_sqlite_eps", "SQLite"), ("hanse_postgres_eps", "PostgreSQL")):
        if key in ev:
            print(f"  hanse pipeline on {label:<11}: {ev[key]:10.0f} events/s   ratio {ev[key] / raw:.3f}")

    connections = int(os.environ.get("HANSE_BENCH_CONNECTIONS", "32"))
    seconds = float(os.environ.get("HANSE_BENCH_SECONDS", "5"))
    print(f"\n== gateway proxy vs direct: same GET, {connections} connections, {seconds:.0f}s runs ==", flush=True)
    gw = gateway_proxy.run(connections, seconds)
    d, g = gw["direct"], gw["gateway"]
    for label, r in (("direct to sales", d), ("through gateway", g)):
        print(f"  {label} : {r['rps']:8.0f} req/s  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  errors {r['errors']}")
    print(f"  gateway/direct ratio: {gw['ratio']:.3f}   (target >= 0.40)")

    requests.main()

    sanctions.main()

    flow.main()
    newsletter.main()
    console.main()


if __name__ == "__main__":
    main()
