"""The baseline of `bench/requests.py`: bare FastAPI reading what Hanse's sales routes read, with the raw driver.

The same queries the sales service makes for a product, an order and the first page of orders
(the row, then its price tiers / its lines, history and returns), on the same database through
the same driver (aiosqlite or asyncpg), answered as orjson. No session, no ORM, no middleware, no
auth, no response model: what a department request would cost with nothing of Hanse's around it.
Run as `python -m bench.minimal_app <database-url> <port>`.

With a third argument `edge`, the same routes behind Hanse's HTTP edge and nothing else of it: the
middleware every service has (request ids, metrics, tracing, idempotency, problem+json), and the
bearer token verified per request (`hanse.auth.current_principal`, with its cache), still the raw
driver and orjson. The ratio of that to the bare app is the ceiling of any read path Hanse could
build under its edge: what is left for sessions, the ORM and response models.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException
from starlette.responses import Response

URL = sys.argv[1] if len(sys.argv) > 1 else ""
EDGE = len(sys.argv) > 3 and sys.argv[3] == "edge"


class Reader:
    """`rows(sql, *args)` on SQLite (one aiosqlite connection) or PostgreSQL (an asyncpg pool)."""

    async def open(self, url: str) -> None:
        self.postgres = url.startswith("postgresql")
        if self.postgres:
            import asyncpg

            self.pool = await asyncpg.create_pool(url.replace("postgresql+asyncpg://", "postgresql://"), max_size=10)
        else:
            import aiosqlite

            self.conn = await aiosqlite.connect(url.split("///", 1)[1])
            self.conn.row_factory = aiosqlite.Row

    async def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        if self.postgres:
            n = iter(range(1, 100))
            sql = "".join(f"${next(n)}" if ch == "?" else ch for ch in sql)
            return [dict(r) for r in await self.pool.fetch(sql, *args)]
        async with self.conn.execute(sql, args) as cursor:
            return [dict(r) for r in await cursor.fetchall()]

    async def close(self) -> None:
        if self.postgres:
            await self.pool.close()
        else:
            await self.conn.close()


db = Reader()


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    await db.open(URL)
    yield
    await db.close()


app = FastAPI(lifespan=lifespan)
DEPENDENCIES: list[Any] = []
if EDGE:
    from fastapi import Depends

    from hanse.app import install_edge
    from hanse.auth import current_principal
    from hanse.metrics import Metrics
    from hanse.settings import get_settings

    install_edge(app, get_settings(), Metrics("minimal"))  # as create_service installs it
    DEPENDENCIES.append(Depends(current_principal))


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body, default=str), media_type="application/json")


def _in(ids: list[str]) -> str:
    return ",".join("?" * len(ids))


async def _order_parts(ids: list[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    parts: dict[str, dict[str, list[dict[str, Any]]]] = {i: {"lines": [], "history": [], "returns": []} for i in ids}
    if not ids:
        return parts
    where = _in(ids)
    for key, sql in (
        ("lines", f"SELECT * FROM order_line WHERE order_id IN ({where}) ORDER BY line_no"),
        ("history", f"SELECT * FROM order_history WHERE order_id IN ({where}) ORDER BY id"),
        ("returns", f"SELECT * FROM order_return WHERE order_id IN ({where}) ORDER BY created_at"),
    ):
        for row in await db.rows(sql, *ids):
            parts[row["order_id"]][key].append(row)
    return parts


@app.get("/products/{sku}", dependencies=DEPENDENCIES)
async def product(sku: str) -> Response:
    found = await db.rows("SELECT * FROM product WHERE sku = ?", sku)
    if not found:
        raise HTTPException(404)
    tiers = await db.rows("SELECT * FROM price_tier WHERE sku = ? ORDER BY min_quantity", sku)
    return _json({**found[0], "tiers": tiers})


@app.get("/orders/{order_id}", dependencies=DEPENDENCIES)
async def order(order_id: str) -> Response:
    found = await db.rows("SELECT * FROM sales_order WHERE id = ?", order_id)
    if not found:
        raise HTTPException(404)
    return _json({**found[0], **(await _order_parts([order_id]))[order_id]})


@app.get("/orders", dependencies=DEPENDENCIES)
async def orders(limit: int = 50) -> Response:
    found = await db.rows("SELECT * FROM sales_order ORDER BY id LIMIT ?", limit + 1)
    page = found[:limit]
    parts = await _order_parts([o["id"] for o in page])
    return _json({"items": [{**o, **parts[o["id"]]} for o in page], "next_cursor": None})


if __name__ == "__main__":
    import uvicorn

    # The same server settings as `hanse serve`, so only the application differs.
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), loop="uvloop", http="httptools", log_level="warning")
