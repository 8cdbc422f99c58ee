"""A closed-loop HTTP load generator: N connections each sending GETs back to back for T seconds.

Runs as its own process (`python -m bench.loadgen URL ...`) so it does not share an event loop or
a GIL with what it measures; prints one JSON line {requests, errors, seconds, rps, p50_ms, p99_ms}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import aiohttp


async def run(url: str, connections: int, seconds: float, headers: dict[str, str]) -> dict:
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker(deadline: float) -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    async with session.get(url) as response:
                        await response.read()
                        if response.status >= 400:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                latencies.append(time.perf_counter() - start)

        # warm the pool so both runs start with open keep-alive connections
        await asyncio.gather(*(worker(time.perf_counter() + 0.5) for _ in range(connections)))
        latencies.clear()
        errors = 0
        started = time.perf_counter()
        await asyncio.gather(*(worker(started + seconds) for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2) if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(run(args.url, args.connections, args.seconds, headers))))


if __name__ == "__main__":
    main()
