"""A department request against bare FastAPI: the same reads, the same driver, the same server, in one run.

For each database (SQLite, PostgreSQL) it starts the broker and the sales service as `hanse serve`
runs them, seeds a product with price tiers and 60 placed orders through the API, and starts
`bench.minimal_app` on the same database: FastAPI with the raw driver (aiosqlite / asyncpg)
making the queries the sales routes make and answering with orjson. Then, for the product GET,
the order GET and the first page of the order list (50 orders with their lines, history and
returns), it alternates load runs against the two (wrk, 32 connections) and prints Hanse's
requests/s as a ratio of the minimal app's. Target: 0.5 for each (docs/performance.md).

A third process, the minimal app behind Hanse's HTTP edge (`bench.minimal_app ... edge`: the
services' middleware and the per-request token check, still the raw driver), is measured the same
way: its ratio is the most any read path under that edge could reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from bench.gateway_proxy import _wait, bench_token, best_of_alternating, process_env, serve, start_broker, stop
from hanse.settings import Settings
from tests.conftest import free_port

TARGET_RATIO = 0.5
ORDERS = 60


@dataclass
class Pair:
    hanse: str  # sales' base URL
    minimal: str
    edge: str  # the minimal app behind Hanse's HTTP edge
    token: str
    sku: str
    order_id: str

    def paths(self) -> dict[str, tuple[str, str]]:
        """Per request: (Hanse's path, the minimal app's path)."""
        return {
            "product GET": (f"/api/v1/sales/products/{self.sku}", f"/products/{self.sku}"),
            "order GET": (f"/api/v1/sales/orders/{self.order_id}", f"/orders/{self.order_id}"),
            "order list (50)": ("/api/v1/sales/orders?limit=50", "/orders?limit=50"),
        }


def _seed(base: str, token: str) -> tuple[str, str]:
    """A product with two price tiers and ORDERS placed orders (quote, accept) through the sales API."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:

        def post(path: str, body: dict | None = None) -> dict:
            response = client.post(path, json=body)
            if response.status_code != 201:
                raise RuntimeError(f"seeding {path}: {response.status_code} {response.text}")
            return response.json()

        sku = "BENCH-1"
        post(
            "/api/v1/sales/products",
            {
                "sku": sku,
                "name": "Benchmark widget",
                "hs_code": "847130",
                "origin_country": "DE",
                "unit_price": {"amount": "10.00", "currency": "EUR"},
                "unit_weight_kg": "1.5",
                "price_tiers": [
                    {"min_quantity": 10, "unit_price": {"amount": "9.50", "currency": "EUR"}},
                    {"min_quantity": 100, "unit_price": {"amount": "9.00", "currency": "EUR"}},
                ],
            },
        )
        account = post(
            "/api/v1/sales/accounts",
            {
                "company": "Bench Buyer SARL",
                "country": "FR",
                "email": "buyer@example.com",
                "currency": "EUR",
                "payment_terms": "net_30",
            },
        )["id"]
        order_ids = []
        for i in range(ORDERS):
            quote = post(
                "/api/v1/sales/quotes",
                {
                    "account_id": account,
                    "currency": "EUR",
                    "incoterm": "FCA",
                    "named_place": "Hamburg",
                    "destination_country": "FR",
                    "lines": [{"sku": sku, "quantity": 1 + i % 3}],
                },
            )
            order_ids.append(post(f"/api/v1/sales/quotes/{quote['id']}/accept")["id"])
        return sku, order_ids[len(order_ids) // 2]


@contextlib.contextmanager
def sales_and_minimal(database: str) -> Iterator[Pair]:
    tmp = tempfile.mkdtemp(prefix="hanse-bench-requests-")
    broker_port, sales_port, minimal_port, edge_port = free_port(), free_port(), free_port(), free_port()
    env = process_env(tmp, broker_port)
    prefix = f"bench_{uuid.uuid4().hex[:8]}_"
    if database == "postgres":
        env.update(HANSE_DB="postgres", HANSE_POSTGRES_DB_PREFIX=prefix)
    url = Settings(**{"env": "dev", "data_dir": tmp, "db": database, "postgres_db_prefix": prefix}).database_url_for(
        "sales"
    )
    if database == "postgres":
        env["DATABASE_URL"] = url
    procs = [start_broker(broker_port, env)]
    try:
        hanse = serve("sales", sales_port, env, procs)
        admin = bench_token("bench-admin", "admin")
        sku, order_id = _seed(hanse, admin)
        procs.append(subprocess.Popen([sys.executable, "-m", "bench.minimal_app", url, str(minimal_port)], env=env))
        minimal_app = [sys.executable, "-m", "bench.minimal_app", url, str(edge_port), "edge"]
        procs.append(subprocess.Popen(minimal_app, env=env))
        minimal, edge = f"http://127.0.0.1:{minimal_port}", f"http://127.0.0.1:{edge_port}"
        _wait(f"{minimal}/products/{sku}")
        # A sales clerk's token, verified on every request as in production.
        token = bench_token("bench-clerk", "sales")
        _wait(f"{edge}/openapi.json")  # its routes want the token; this answers once its lifespan ran
        yield Pair(hanse, minimal, edge, token, sku, order_id)
    finally:
        stop(procs)
        if database == "postgres":
            from hanse.db import drop_postgres_database

            asyncio.run(drop_postgres_database(url))


def run(database: str, connections: int = 32, seconds: float = 4.0, rounds: int = 2) -> dict[str, dict]:
    """Per request: the best of `rounds` alternating runs against each side, and the ratio."""
    results: dict[str, dict] = {}
    with sales_and_minimal(database) as pair:
        for label, (hanse_path, minimal_path) in pair.paths().items():
            for base, path in ((pair.hanse, hanse_path), (pair.minimal, minimal_path), (pair.edge, minimal_path)):
                answer = httpx.get(base + path, headers={"Authorization": f"Bearer {pair.token}"}, timeout=10)
                if answer.status_code != 200:
                    raise RuntimeError(f"{base}{path}: {answer.status_code} {answer.text[:200]}")
            minimal, hanse, ratio = best_of_alternating(
                pair.minimal + minimal_path, pair.hanse + hanse_path, pair.token, connections, seconds, rounds
            )
            _, edge, edge_ratio = best_of_alternating(
                pair.minimal + minimal_path, pair.edge + minimal_path, pair.token, connections, seconds, rounds
            )
            results[label] = {
                "hanse": hanse,
                "minimal": minimal,
                "ratio": ratio,
                "edge": edge,
                "edge_ratio": edge_ratio,
            }
    return results


def main() -> None:
    from tests.conftest import postgres_available

    connections = int(os.environ.get("HANSE_BENCH_CONNECTIONS", "32"))
    seconds = float(os.environ.get("HANSE_BENCH_SECONDS", "4"))
    print(
        f"\n== a department request vs bare FastAPI + the same driver ({connections} connections, "
        f"{seconds:.0f}s runs) ==",
        flush=True,
    )
    for database in os.environ.get("HANSE_BENCH_REQUESTS_DB", "sqlite,postgres").split(","):
        if database == "postgres" and not postgres_available():
            print("  [postgres] skipped: PostgreSQL is not running on 127.0.0.1:5432")
            continue
        for label, r in run(database, connections, seconds).items():
            h, m = r["hanse"], r["minimal"]
            verdict = "met" if r["ratio"] >= TARGET_RATIO else "NOT met"
            print(
                f"  [{database:<8}] {label:<16}: minimal {m['rps']:7.0f} req/s, hanse {h['rps']:7.0f} req/s "
                f"(p99 {h['p99_ms']} ms, errors {h['errors'] + m['errors']})  ratio {r['ratio']:.2f}  "
                f"(target >= {TARGET_RATIO}: {verdict})",
                flush=True,
            )
            print(
                f"  [{database:<8}] {'':<16}  the minimal app behind Hanse's edge (middleware, token): "
                f"{r['edge']['rps']:7.0f} req/s  ratio {r['edge_ratio']:.2f}  (the ceiling under that edge)",
                flush=True,
            )


if __name__ == "__main__":
    main()
