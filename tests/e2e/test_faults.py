"""Faults cost time, never data: killed departments, a frozen broker and redelivered events, on the real platform."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from ops.reconcile import print_result, reconcile
from services import DEPARTMENTS
from tests.e2e.conftest import Platform, start_platform, stop_platform
from tests.e2e.flow import Gateway, unique
from tests.support.kafka import read_all, send_raw

pytestmark = pytest.mark.e2e

HANDLERS = {name: importlib.import_module(f"services.{name}.handlers").HANDLERS for name in DEPARTMENTS}
BACKLOG = re.compile(r"^hanse_outbox_backlog (\S+)$", re.MULTILINE)


def listening_pid(port: int) -> int | None:
    """The process listening on 127.0.0.1:<port>, from /proc (the tansu binary for the broker port)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # 0A = LISTEN
                inodes.add(fields[9])
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        return int(proc.name)
    return None


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A platform of this module's own: these tests break it on purpose."""
    platform = start_platform(tmp_path_factory.mktemp("faults"))
    yield platform
    stop_platform(platform)


@pytest.fixture
async def api(faulty: Platform) -> AsyncIterator[Gateway]:
    gateway = Gateway(faulty)
    yield gateway
    await gateway.close()


async def net_30_quotes(api: Gateway, count: int, *, stock: int = 500) -> tuple[str, list[str]]:
    """A stocked product, a net_30 account (ships without a payment) and `count` quotes; returns (sku, quotes)."""
    sku, _ = await api.stocked_product(stock, price="40.00", weight="2.0")
    account = await api.account(unique("Lyon Hydraulique"))
    quotes = await asyncio.gather(*(api.quote(account, sku, 1 + i % 3, incoterm="FCA") for i in range(count)))
    return sku, [q["id"] for q in quotes]


async def accept_all(
    api: Gateway, quotes: list[str], concurrency: int = 4, pause: float = 0.0, until: asyncio.Event | None = None
) -> list[str]:
    """Accept the quotes with a few requests in flight, `pause` apart until `until` is set; 5xx answers are retried."""
    pending = list(reversed(quotes))
    orders: list[str] = []

    async def worker() -> None:
        while pending:
            quote_id = pending.pop()
            for _ in range(30):
                response = await api.call("POST", f"/sales/quotes/{quote_id}/accept")
                if response.status_code == 201:
                    orders.append(response.json()["id"])
                    break
                assert response.status_code >= 500, response.text
                await asyncio.sleep(0.5)
            else:
                raise AssertionError(f"quote {quote_id} could not be accepted")
            if until is None or not until.is_set():
                await asyncio.sleep(pause)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return orders


async def restarted(platform: Platform, name: str, old_pid: int, timeout: float = 90) -> None:
    """Wait until the supervisor has started `name` again and it is ready."""
    url = platform.services[name]
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                live = (await client.get(f"{url}/livez")).json()
                if live["pid"] != old_pid and (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise AssertionError(f"{name} was not restarted within {timeout}s")


async def every_order_ships_once(api: Gateway, orders: list[str], timeout: float = 120) -> None:
    """Each order reaches ready_to_ship with exactly one booked shipment and exactly one proforma invoice."""
    for order_id in orders:
        await api.order_reaches(order_id, "ready_to_ship", timeout=timeout)
    for order_id in orders:
        shipments = await api.shipments(order_id)
        assert [s["status"] for s in shipments] == ["booked"], (order_id, shipments)

        async def proformas(order_id: str = order_id) -> list[dict]:
            return [i for i in await api.invoices(order_id) if i["kind"] == "proforma"]

        # Finance works beside logistics, not before it: its invoice may come after the booking.
        found = await api.eventually(proformas, f"finance issued the proforma of {order_id}", timeout=timeout)
        assert len(found) == 1, (order_id, found)


async def assert_reconciled(platform: Platform, settle: float = 60) -> None:
    result = await reconcile(platform.gateway, platform.admin_user, platform.admin_password, settle=settle)
    if not result.clean:
        import io

        out = io.StringIO()
        print_result(result, out)
        raise AssertionError(out.getvalue())
    assert result.orders > 0


def backlog(url: str) -> float:
    found = BACKLOG.search(httpx.get(f"{url}/metrics", timeout=10).text)
    assert found, "no hanse_outbox_backlog in /metrics"
    return float(found.group(1))


async def test_departments_killed_while_orders_flow_still_book_one_shipment_and_one_proforma_per_order(
    faulty: Platform, api: Gateway
):
    _, quotes = await net_30_quotes(api, 30)
    kills_done = asyncio.Event()
    placing = asyncio.create_task(accept_all(api, quotes, concurrency=2, pause=0.6, until=kills_done))
    killed: list[tuple[str, int]] = []
    for victims in (("logistics", "finance"), ("logistics",), ("finance",)):
        await asyncio.sleep(0.5)
        pids = await asyncio.to_thread(faulty.pids)
        for victim in victims:
            os.kill(pids[victim], signal.SIGKILL)
            killed.append((victim, pids[victim]))
        for victim in victims:
            await restarted(faulty, victim, pids[victim])
    kills_done.set()
    orders = await placing
    assert len(orders) == len(set(orders)) == 30

    await every_order_ships_once(api, orders)
    log = faulty.log()
    for victim, _ in killed:
        assert re.search(rf"{victim}\s*\| exited with -9; restarting", log), f"supervisor did not restart {victim}"
    await assert_reconciled(faulty)


async def test_a_frozen_broker_delays_events_but_writes_succeed_and_the_backlog_drains(faulty: Platform, api: Gateway):
    sku, quotes = await net_30_quotes(api, 2)
    broker_port = int(faulty.bootstrap.rsplit(":", 1)[1])
    tansu = listening_pid(broker_port)
    assert tansu is not None, "cannot find the broker process"
    stock_before = await api.stock(sku)

    os.kill(tansu, signal.SIGSTOP)
    try:
        # Writes go on while nothing can reach the broker: the events wait in each outbox.
        started = time.monotonic()
        order = (await api.call("POST", f"/sales/quotes/{quotes[0]}/accept", 201)).json()
        warehouse = unique("WH")
        await api.post("/logistics/warehouses", {"code": warehouse, "name": "Bremen", "country": "DE"})
        await api.receive(sku, warehouse, 7)
        await api.account(unique("Outage Trading"))
        assert time.monotonic() - started < 10, "writes waited for the broker"
        for name in ("sales", "logistics"):
            assert backlog(faulty.services[name]) > 0, f"{name} shows no outbox backlog during the outage"
        await asyncio.sleep(4)  # the relays keep failing for a while
        assert (await api.order(order["id"]))["status"] == "placed"
        assert backlog(faulty.services["sales"]) > 0
    finally:
        os.kill(tansu, signal.SIGCONT)

    async def drained():
        return all(backlog(url) == 0 for url in faulty.services.values())

    await api.eventually(drained, "every outbox drained after the broker came back", timeout=90)
    await every_order_ships_once(api, [order["id"]])
    stock = await api.stock(sku)
    assert stock["on_hand"] == stock_before["on_hand"] + 7
    # The other quote, accepted after the outage, goes through as usual.
    after = await accept_all(api, quotes[1:])
    await every_order_ships_once(api, after)
    await assert_reconciled(faulty)


async def _events(platform: Platform, topic: str, order_ids: set[str], types: set[str]) -> list[dict]:
    records = await read_all(platform.bootstrap, topic, expect=1, timeout=15)
    found = []
    for record in records:
        with contextlib.suppress(orjson.JSONDecodeError):
            event = orjson.loads(record.value)
            if event.get("type") in types and event.get("correlationid") in order_ids:
                found.append(event)
    return found


def handled(platform: Platform, service: str, outcome: str) -> float:
    text = httpx.get(f"{platform.services[service]}/metrics", timeout=10).text
    pattern = re.compile(rf'^hanse_events_handled_total\{{.*outcome="{outcome}".*\}} (\S+)$', re.MULTILINE)
    return sum(float(v) for v in pattern.findall(text))


async def test_the_same_events_delivered_twice_and_interleaved_across_orders_change_state_once(
    faulty: Platform, api: Gateway
):
    sku, quotes = await net_30_quotes(api, 2, stock=50)
    orders = await accept_all(api, quotes, concurrency=2)
    await every_order_ships_once(api, orders)
    stock_before = await api.stock(sku)
    history_before = {o: len((await api.order(o))["history"]) for o in orders}

    wanted = {
        "hanse.sales": {"sales.order.placed.v1"},
        "hanse.compliance": {"compliance.order.cleared.v1"},
        "hanse.logistics": {"logistics.stock.reserved.v1", "logistics.shipment.booked.v1"},
    }
    originals = {topic: await _events(faulty, topic, set(orders), types) for topic, types in wanted.items()}
    assert len(originals["hanse.compliance"]) == 2 and len(originals["hanse.logistics"]) == 4, originals
    services = ("compliance", "finance", "logistics", "sales", "marketing")
    duplicates_before = {s: handled(faulty, s, "duplicate") for s in services}

    # Each event as a fresh copy with a new id (a producer that sent twice), then twice unchanged (a
    # redelivery), with the two orders' events interleaved: A, B, A, B on every topic. One key keeps
    # one partition, so a consumer that has seen the last redelivery has applied the copies too.
    expected = dict.fromkeys(services, 0)
    for topic, events in originals.items():
        by_order = [[e for e in events if e["correlationid"] == o] for o in orders]
        interleaved = [e for pair in zip(*by_order, strict=True) for e in pair]
        for event in interleaved:
            copy = {**event, "id": str(uuid.uuid4())}
            await send_raw(faulty.bootstrap, topic, orjson.dumps(copy), event["subject"].encode())
        for event in interleaved + interleaved:
            await send_raw(faulty.bootstrap, topic, orjson.dumps(event), event["subject"].encode())
            for service in services:
                if event["type"] in HANDLERS[service]:
                    expected[service] += 1

    async def all_seen():
        seen = {s: handled(faulty, s, "duplicate") - duplicates_before[s] for s in services}
        return all(seen[s] >= expected[s] for s in services) and seen

    await api.eventually(all_seen, f"the redelivered events reached their consumers ({expected})", timeout=60)

    assert await api.stock(sku) == stock_before
    for order_id in orders:
        order = await api.order(order_id)
        assert order["status"] == "ready_to_ship"
        assert len(order["history"]) == history_before[order_id], order["history"]
        checks = await api.items("/compliance/checks", order_id=order_id)
        assert len(checks) == 1, checks
    await every_order_ships_once(api, orders)
    await assert_reconciled(faulty, settle=10)
