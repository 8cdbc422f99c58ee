"""`hanse reconcile`: does every order have the invoices, reservations and shipments its status implies?

Reads, through the gateway as admin: every sales order, every finance invoice, every logistics
shipment, and each order's fulfilment (reservation or back-order). It compares what each
department holds with what the sales status of the order implies, and prints one line per
discrepancy. With `settle`, discrepancies are re-checked until they are gone or the time is up,
because a platform that is still working has orders in flight between departments.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

import httpx

NONE = "none"  # the department holds nothing for the order

# What each order status allows in the other departments, once nothing is in flight:
# (proforma invoice status, logistics fulfilment status, shipment status).
EXPECTED: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    "placed": (frozenset({NONE}), frozenset({NONE, "pending"}), frozenset({NONE})),
    "on_hold": (frozenset({NONE}), frozenset({NONE, "pending"}), frozenset({NONE})),
    "rejected": (frozenset({NONE, "void"}), frozenset({NONE, "rejected"}), frozenset({NONE, "cancelled"})),
    "backordered": (frozenset({"issued", "paid"}), frozenset({"backordered"}), frozenset({NONE})),
    "confirmed": (frozenset({"issued", "paid"}), frozenset({"reserved"}), frozenset({NONE})),
    "ready_to_ship": (frozenset({"issued", "paid"}), frozenset({"reserved"}), frozenset({"booked"})),
    "shipped": (frozenset({"issued", "paid"}), frozenset({"dispatched"}), frozenset({"in_transit"})),
    "delivered": (frozenset({"issued", "paid"}), frozenset({"dispatched"}), frozenset({"delivered"})),
    "completed": (frozenset({"paid"}), frozenset({"dispatched"}), frozenset({"delivered"})),
    "cancelled": (frozenset({NONE, "void", "paid"}), frozenset({NONE, "cancelled"}), frozenset({NONE, "cancelled"})),
}


class ReconcileError(Exception):
    """The gateway cannot be reached or refuses the login."""


@dataclass(frozen=True)
class Discrepancy:
    order_id: str
    status: str
    problem: str


@dataclass
class Result:
    orders: int = 0
    invoices: int = 0
    shipments: int = 0
    discrepancies: list[Discrepancy] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.discrepancies


def _allowed(values: Iterable[str]) -> str:
    return "/".join(sorted(values))


def check_order(
    order: dict[str, Any], invoices: list[dict[str, Any]], fulfilment: dict[str, Any] | None, shipments: list[dict]
) -> list[str]:
    """What is wrong with one order, given what finance and logistics hold for it (pure, no I/O)."""
    status = order["status"]
    problems: list[str] = []
    proformas = [i for i in invoices if i["kind"] == "proforma"]
    if len(proformas) > 1:
        problems.append(f"{len(proformas)} proforma invoices ({', '.join(i['number'] for i in proformas)}), not one")
    if len(shipments) > 1:
        problems.append(f"{len(shipments)} shipments ({', '.join(s['id'] for s in shipments)}), not one")
    expected = EXPECTED.get(status)
    if expected is None:
        return [*problems, f"unknown order status {status!r}"]
    want_invoice, want_fulfilment, want_shipment = expected
    # Once the shipment is booked finance's commercial invoice supersedes the proforma and collects
    # the money: its status is the one the order's status implies. A superseded proforma keeps its
    # status (issued or paid) and is never voided.
    commercials = [i for i in invoices if i["kind"] == "commercial"]
    if len(commercials) > 1:
        problems.append(f"{len(commercials)} commercial invoices, not one")
    live = commercials[0] if commercials else proformas[0] if proformas else None
    invoice = live["status"] if live else NONE
    held = fulfilment["status"] if fulfilment else NONE
    shipment = shipments[0]["status"] if shipments else NONE
    if invoice not in want_invoice:
        problems.append(
            f"{live['kind'] if live else 'proforma'} invoice is {invoice}, expected {_allowed(want_invoice)}"
        )
    if commercials and proformas and proformas[0]["status"] == "void":
        problems.append("proforma invoice is void, but it was superseded by the commercial invoice, not voided")
    if held not in want_fulfilment:
        problems.append(f"reservation is {held}, expected {_allowed(want_fulfilment)}")
    if shipment not in want_shipment:
        problems.append(f"shipment is {shipment}, expected {_allowed(want_shipment)}")
    if held == "reserved":
        wanted: dict[str, int] = defaultdict(int)
        for line in order.get("lines", []):
            wanted[line["sku"]] += int(line["quantity"])
        reserved: dict[str, int] = defaultdict(int)
        for line in fulfilment.get("reserved", []) if fulfilment else []:
            reserved[line["sku"]] += int(line["quantity"])
        if reserved != wanted:
            problems.append(f"reserved {dict(reserved)}, the order wants {dict(wanted)}")
    if status == "confirmed" and (order["payment_terms"] == "net_30" or order.get("paid")):
        problems.append("stock reserved and payment terms allow shipping, but no shipment was booked")
    if invoice == "paid" and not order.get("paid") and status not in ("rejected",):
        problems.append("finance has the proforma paid, sales does not know")
    if status == "cancelled" and invoice == "paid" and not any(i["kind"] == "credit_note" for i in invoices):
        problems.append("cancelled after payment, but no credit note was issued")
    if fulfilment and fulfilment.get("shipment_id") and shipments and fulfilment["shipment_id"] != shipments[0]["id"]:
        problems.append(f"reservation names shipment {fulfilment['shipment_id']}, logistics lists {shipments[0]['id']}")
    return problems


class Reconciler:
    """Reads the three departments through the gateway and compares them."""

    def __init__(self, client: httpx.AsyncClient, concurrency: int = 8) -> None:
        self.client = client
        self.semaphore = asyncio.Semaphore(concurrency)

    async def _get(self, path: str, params: dict[str, Any] | None = None, *, missing_ok: bool = False) -> Any:
        for _ in range(20):
            async with self.semaphore:
                response = await self.client.get(path, params=params)
            if response.status_code == 429:  # the gateway's per-user limit: wait as it asks
                await asyncio.sleep(min(float(response.headers.get("retry-after", "1")), 10.0))
                continue
            if response.status_code == 404 and missing_ok:
                return None
            if response.status_code in (502, 503, 504):  # a department restarting
                await asyncio.sleep(1.0)
                continue
            if response.status_code != 200:
                raise ReconcileError(f"GET /api/v1{path} answered {response.status_code}: {response.text[:300]}")
            return response.json()
        raise ReconcileError(f"GET /api/v1{path} kept failing")

    async def all_items(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            page = await self._get(path, params)
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    async def fulfilment(self, order_id: str) -> dict[str, Any] | None:
        return await self._get(f"/logistics/orders/{order_id}", missing_ok=True)

    async def check(self) -> Result:
        orders, invoices, shipments = await asyncio.gather(
            self.all_items("/sales/orders"), self.all_items("/finance/invoices"), self.all_items("/logistics/shipments")
        )
        result = Result(orders=len(orders), invoices=len(invoices), shipments=len(shipments))
        by_order_invoices: dict[str, list[dict]] = defaultdict(list)
        for invoice in invoices:
            by_order_invoices[invoice["order_id"]].append(invoice)
        by_order_shipments: dict[str, list[dict]] = defaultdict(list)
        for shipment in shipments:
            by_order_shipments[shipment["order_id"]].append(shipment)
        known = {o["id"] for o in orders}
        for order_id in sorted((set(by_order_invoices) | set(by_order_shipments)) - known):
            what = []
            if order_id in by_order_invoices:
                what.append(f"{len(by_order_invoices[order_id])} invoice(s)")
            if order_id in by_order_shipments:
                what.append(f"{len(by_order_shipments[order_id])} shipment(s)")
            result.discrepancies.append(
                Discrepancy(order_id, "unknown", f"{' and '.join(what)} for an order sales does not have")
            )
        checked = orders
        fulfilments = await asyncio.gather(*(self.fulfilment(o["id"]) for o in checked))
        for order, fulfilment in zip(checked, fulfilments, strict=True):
            for problem in check_order(
                order, by_order_invoices.get(order["id"], []), fulfilment, by_order_shipments.get(order["id"], [])
            ):
                result.discrepancies.append(Discrepancy(order["id"], order["status"], problem))
        return result


async def login(client: httpx.AsyncClient, user: str, password: str) -> None:
    try:
        response = await client.post("/auth/token", data={"username": user, "password": password})
    except httpx.HTTPError as exc:
        raise ReconcileError(f"cannot reach the gateway at {client.base_url} ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise ReconcileError(f"the gateway refused the login of {user!r}: {response.status_code}")
    client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"


async def reconcile(gateway: str, user: str, password: str, *, settle: float = 0.0) -> Result:
    """Check every order; with `settle` > 0, re-check until clean or `settle` seconds have passed."""
    async with httpx.AsyncClient(base_url=f"{gateway.rstrip('/')}/api/v1", timeout=30) as client:
        await login(client, user, password)
        reconciler = Reconciler(client)
        deadline = time.monotonic() + settle
        while True:
            try:
                result = await reconciler.check()
            except httpx.HTTPError as exc:
                raise ReconcileError(f"the gateway stopped answering ({type(exc).__name__})") from None
            if result.clean or time.monotonic() >= deadline:
                return result
            await asyncio.sleep(1.0)


def print_result(result: Result, out: TextIO) -> None:
    print(
        f"checked {result.orders} orders, {result.invoices} invoices, {result.shipments} shipments: "
        f"{len(result.discrepancies)} discrepancies",
        file=out,
    )
    if result.clean:
        return
    width = max(len(d.order_id) for d in result.discrepancies)
    print(f"  {'order':<{width}}  {'status':<13}  problem", file=out)
    for d in result.discrepancies:
        print(f"  {d.order_id:<{width}}  {d.status:<13}  {d.problem}", file=out)


async def run_reconcile(gateway: str, settle: float = 0.0, out: TextIO = sys.stdout) -> int:
    """The command: 0 when every order is consistent, 1 with discrepancies, 2 when it cannot check."""
    from ops.demo import CannotStart, admin_login

    try:
        user, password = admin_login()
        result = await reconcile(gateway, user, password, settle=settle)
    except (ReconcileError, CannotStart) as exc:
        print(f"hanse reconcile: {exc}", file=sys.stderr)
        return 2
    print_result(result, out)
    return 0 if result.clean else 1
