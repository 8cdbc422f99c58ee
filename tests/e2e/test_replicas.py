"""Two replicas of every department and of the gateway on PostgreSQL (`HANSE_REPLICAS=2 HANSE_DB=postgres`).

Both replicas of a service serve HTTP (one port, SO_REUSEPORT) and take part in the work: each
consumes its share of the partitions, and the relays share one outbox. Then a batch of orders is
placed while one replica each of sales, compliance, finance, logistics and the gateway is SIGKILLed
in the middle of the flow (the supervisor restarts them): every order still reaches its end state,
and nothing happened twice (events per order, invoices, shipments, reservations, the timeline).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from hanse.settings import Settings
from tests.e2e.conftest import Platform, alive, plain_url, running_on_postgres
from tests.e2e.flow import Gateway, unique
from tests.support.kafka import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

REPLICAS = 2
KILLED = ("sales", "compliance", "finance", "logistics", "gateway")
# Departments whose events make up an order's flow (procurement takes no part in a stocked order).
FLOW_DEPARTMENTS = ("sales", "compliance", "finance", "logistics")
END_STATE = "ready_to_ship"
# Generous: 14 service processes and a platform start share two loaded cores.
TIMEOUT = 150.0


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, Settings]]:
    extra = {"HANSE_REPLICAS": str(REPLICAS)}
    with running_on_postgres(tmp_path_factory.mktemp("replicas-platform"), "rep", extra) as running:
        yield running


# -- the processes -------------------------------------------------------------------------------


def serving_processes(platform: Platform) -> dict[str, list[int]]:
    """The `hanse serve <name>` children of `hanse dev`, by service name (from /proc)."""
    found: dict[str, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != platform.process.pid:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"serve" in argv and alive(int(entry.name)):
                name = argv[argv.index(b"serve") + 1].decode()
                found.setdefault(name, []).append(int(entry.name))
    return found


def replica_metrics(url: str, pids: set[int], tries: int = 200) -> dict[int, str]:
    """/metrics of each replica behind one port: a fresh connection per try (the kernel picks the
    replica per connection), /livez names the process, /metrics follows on the same connection."""
    seen: dict[int, str] = {}
    for _ in range(tries):
        with contextlib.suppress(httpx.HTTPError), httpx.Client(base_url=url, timeout=5) as one:
            pid = one.get("/livez").json()["pid"]
            seen[pid] = one.get("/metrics").text
        if pids <= seen.keys():
            break
    return seen


def counter_total(metrics: str, name: str) -> float:
    """Sum of a Prometheus counter over its labels."""
    pattern = re.compile(rf"^{name}_total(?:\{{[^}}]*\}})? ([0-9.e+]+)$", re.MULTILINE)
    return sum(float(value) for value in pattern.findall(metrics))


# -- the client, tolerant of a replica dying under it ----------------------------------------------


async def retried(call, what: str, timeout: float = 60.0) -> httpx.Response:
    """`call()` again on a dropped connection or a 502/503/504 (a killed replica, a restarting one)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            response = await call()
            if response.status_code not in (502, 503, 504):
                return response
            failure = f"{response.status_code} {response.text[:200]}"
        except httpx.TransportError as exc:
            failure = repr(exc)
        if loop.time() > deadline:
            raise AssertionError(f"{what}: still failing after {timeout}s: {failure}")
        await asyncio.sleep(0.3)


async def place(api: Gateway, sku: str, quantity: int) -> tuple[str, str]:
    """An account, a quote and its acceptance; returns (quote id, order id).

    A retried accept whose first attempt went through answers 409 naming the order: accepting a quote
    is once-only (the quote row is locked and orders.quote_id is unique), so a retry cannot place twice.
    """
    company = unique("Replica SARL")
    body = {"company": company, "country": "FR", "email": "buyer@example.com", "currency": "EUR"}
    body["payment_terms"] = "net_30"
    account = await retried(lambda: api.client.post("/sales/accounts", json=body), "account")
    assert account.status_code == 201, account.text
    quote_body = {
        "account_id": account.json()["id"],
        "currency": "EUR",
        "incoterm": "DAP",
        "named_place": "Lyon",
        "destination_country": "FR",
        "lines": [{"sku": sku, "quantity": quantity}],
    }
    quote = await retried(lambda: api.client.post("/sales/quotes", json=quote_body), "quote")
    assert quote.status_code == 201, quote.text
    quote_id = quote.json()["id"]
    accepted = await retried(lambda: api.client.post(f"/sales/quotes/{quote_id}/accept"), "accept")
    if accepted.status_code == 409:  # the first attempt placed it before its connection dropped
        return quote_id, accepted.json()["order_id"]
    assert accepted.status_code == 201, accepted.text
    return quote_id, accepted.json()["id"]


async def all_reach(api: Gateway, order_ids: list[str]) -> None:
    async def statuses() -> dict[str, str]:
        found = {}
        for order_id in order_ids:
            response = await retried(lambda oid=order_id: api.client.get(f"/sales/orders/{oid}"), "order")
            found[order_id] = response.json()["status"]
        return found

    last: dict[str, str] = {}

    async def done() -> bool:
        nonlocal last
        last = await statuses()
        return all(status == END_STATE for status in last.values())

    try:
        await eventually(done, timeout=TIMEOUT, interval=1.0)
    except AssertionError:
        behind = {k: v for k, v in last.items() if v != END_STATE}
        raise AssertionError(f"{len(behind)} of {len(order_ids)} orders never reached {END_STATE}: {behind}") from None


async def follow_stream(platform: Platform, token: str, into: list[dict]) -> None:
    """The gateway's live timeline (SSE), as one client sees it: served by whichever replica took the connection."""
    headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": "0"}
    async with (
        httpx.AsyncClient(base_url=platform.gateway, timeout=httpx.Timeout(10, read=None)) as client,
        client.stream("GET", "/api/v1/events/stream", headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                into.append(orjson.loads(line[5:].strip()))


# -- reading the databases ------------------------------------------------------------------------


async def rows(databases: Settings, service: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(plain_url(databases.postgres_url_for(service)))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def outbox_events(databases: Settings, order_ids: set[str]) -> dict[str, list[dict]]:
    """Every event the departments wrote to their outboxes for these orders, by order id."""
    by_order: dict[str, list[dict]] = {o: [] for o in order_ids}
    for service in FLOW_DEPARTMENTS:
        for row in await rows(databases, service, "SELECT payload, sent_at FROM outbox"):
            event = orjson.loads(row["payload"])
            if event.get("correlationid") in order_ids:
                by_order[event["correlationid"]].append({**event, "sent": row["sent_at"] is not None})
    return by_order


# -- the test --------------------------------------------------------------------------------------


async def test_replicas_share_the_work_and_a_killed_replica_loses_and_duplicates_no_order(replicated):
    platform, databases = replicated

    # Every service runs as two processes, both answering on the service's one port.
    processes = await asyncio.to_thread(serving_processes, platform)
    assert {name: len(pids) for name, pids in processes.items()} == dict.fromkeys(
        (*platform.services, "gateway"), REPLICAS
    ), processes
    for name, url in {**platform.services, "gateway": platform.gateway}.items():
        seen = await asyncio.to_thread(replica_metrics, url, set(processes[name]))
        assert seen.keys() == set(processes[name]), f"{name}: only {sorted(seen)} of {processes[name]} answered"

    api = Gateway(platform)
    streamed: list[dict] = []
    stream = asyncio.create_task(follow_stream(platform, platform.token(), streamed))
    try:
        sku, _ = await api.stocked_product(10_000)

        # Undisturbed orders first: the reference flow, and the evidence that both replicas work.
        baseline = await asyncio.gather(*(place(api, sku, 2) for _ in range(10)))
        await all_reach(api, [order for _, order in baseline])
        for name in ("compliance", "finance", "logistics", "gateway"):
            url = platform.gateway if name == "gateway" else platform.services[name]
            per_replica = await asyncio.to_thread(replica_metrics, url, set(processes[name]))
            handled = {pid: counter_total(text, "hanse_events_handled") for pid, text in per_replica.items()}
            # The group split the partitions: each replica consumed some of the flow's events.
            assert len(handled) == REPLICAS and all(handled.values()), f"{name} events handled per replica: {handled}"
        per_replica = await asyncio.to_thread(replica_metrics, platform.services["sales"], set(processes["sales"]))
        published = {pid: counter_total(text, "hanse_events_published") for pid, text in per_replica.items()}
        assert len(published) == REPLICAS and all(published.values()), f"sales relays published: {published}"

        # One SSE client, on one gateway replica, sees every event of those orders, also the ones the
        # other replica's timeline consumer stored (its partitions): the stream polls the database.
        first = {order for _, order in baseline}
        expected = Counter(e["id"] for m in (await outbox_events(databases, first)).values() for e in m)

        async def streamed_all() -> bool:
            assert not stream.done() or stream.result() is None, "the stream ended"
            return Counter(e["id"] for e in streamed if e.get("correlationid") in first) == expected

        await eventually(streamed_all, timeout=60, interval=0.5)
        stream.cancel()

        # Now a burst, and one replica of five services SIGKILLed while it is in flight.
        placing = [asyncio.create_task(place(api, sku, 3)) for _ in range(16)]
        await eventually(lambda: asyncio.sleep(0, sum(t.done() for t in placing) >= 4), timeout=TIMEOUT)
        victims = {name: processes[name][-1] for name in KILLED}
        for pid in victims.values():
            os.kill(pid, signal.SIGKILL)
        burst = await asyncio.gather(*placing)
        await all_reach(api, [order for _, order in burst])
    finally:
        stream.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await stream
        await api.close()

    # The supervisor restarted what was killed: two processes of each again, the victims gone.
    async def restarted() -> bool:
        now = await asyncio.to_thread(serving_processes, platform)
        return all(len(now.get(n, [])) == REPLICAS and victims[n] not in now[n] for n in KILLED)

    await eventually(restarted, timeout=TIMEOUT, interval=0.5)

    orders = dict(baseline + burst)
    order_ids = set(orders.values())
    assert len(order_ids) == len(orders), "two quotes share an order"

    # Sales: one order per accepted quote, and no other.
    placed = await rows(
        databases, "sales", "SELECT quote_id, id FROM sales_order WHERE quote_id = ANY($1::text[])", list(orders)
    )
    assert sorted((r["quote_id"], r["id"]) for r in placed) == sorted(orders.items())

    # The outboxes: every order's events sent, and per type exactly as many as the undisturbed orders
    # have (which agree among themselves). The commercial invoice follows the booking, so the flows
    # are given time to settle; an event written twice keeps an order from ever matching.
    undisturbed = {order for _, order in baseline}
    events: dict[str, list[dict]] = {}
    reference: Counter[str] = Counter()
    differing: dict[str, dict[str, dict[str, int]]] = {}

    async def settled() -> bool:
        nonlocal events, reference, differing
        events = await outbox_events(databases, order_ids)
        counts = {order: Counter(e["type"] for e in mine) for order, mine in events.items()}
        shapes = Counter(frozenset(counts[order].items()) for order in undisturbed)
        reference = Counter(dict(shapes.most_common(1)[0][0]))
        differing = {
            order: {"extra": dict(count - reference), "missing": dict(reference - count)}
            for order, count in counts.items()
            if count != reference or not all(e["sent"] for e in events[order])
        }
        return len(shapes) == 1 and not differing

    try:
        await eventually(settled, timeout=TIMEOUT, interval=1.0)
    except AssertionError:
        raise AssertionError(
            f"orders whose events differ from an undisturbed order's {dict(reference)}: {differing}"
        ) from None
    assert reference["sales.order.placed.v1"] == 1, reference

    # Finance: a proforma and a commercial invoice per order; invoice numbers unique and gap-free.
    invoices = await rows(databases, "finance", "SELECT order_id, kind, number FROM invoice")
    kinds = Counter((r["order_id"], r["kind"]) for r in invoices if r["order_id"] in order_ids)
    assert kinds == Counter({(o, k): 1 for o in order_ids for k in ("proforma", "commercial")}), kinds
    series: dict[str, list[int]] = {}
    for r in invoices:
        prefix, number = re.fullmatch(r"(.*?)(\d+)", r["number"]).groups()  # type: ignore[union-attr]
        series.setdefault(prefix, []).append(int(number))
    for prefix, numbers in series.items():
        assert sorted(numbers) == list(range(min(numbers), min(numbers) + len(numbers))), f"{prefix}: {sorted(numbers)}"

    # Logistics: one shipment and one reservation per order; the stock reserved exactly once.
    shipments = await rows(databases, "logistics", "SELECT order_id FROM shipment")
    assert Counter(r["order_id"] for r in shipments if r["order_id"] in order_ids) == Counter(order_ids)
    reservations = await rows(databases, "logistics", "SELECT order_id, quantity FROM reservation")
    mine = [r for r in reservations if r["order_id"] in order_ids]
    assert Counter(r["order_id"] for r in mine) == Counter(order_ids)
    expected_units = 2 * len(baseline) + 3 * len(burst)
    assert sum(r["quantity"] for r in mine) == expected_units
    stock = await rows(databases, "logistics", "SELECT sum(reserved) AS reserved FROM stock_level WHERE sku = $1", sku)
    assert stock[0]["reserved"] == expected_units

    # The gateway's timeline holds each order's events, each once (a killed gateway replica too).
    async def timeline_complete() -> bool:
        stored = await rows(
            databases,
            "gateway",
            "SELECT correlation_id, event_id FROM timeline_event WHERE correlation_id = ANY($1::text[])",
            list(order_ids),
        )
        return Counter(r["event_id"] for r in stored) == Counter(e["id"] for m in events.values() for e in m)

    await eventually(timeline_complete, timeout=TIMEOUT, interval=1.0)
