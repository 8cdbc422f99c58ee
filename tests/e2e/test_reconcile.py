"""`hanse reconcile` finds nothing on a consistent platform and names the order whose records were broken."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import pytest

from ops.broker import die_with_parent
from ops.reconcile import check_order
from tests.e2e.conftest import Platform, start_platform, stop_platform
from tests.e2e.flow import Gateway, unique

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ledger_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A platform of this module's own: the test edits department databases behind their backs."""
    platform = start_platform(tmp_path_factory.mktemp("reconcile"))
    yield platform
    stop_platform(platform)


@pytest.fixture
async def api(ledger_platform: Platform) -> AsyncIterator[Gateway]:
    gateway = Gateway(ledger_platform)
    yield gateway
    await gateway.close()


def hanse_reconcile(platform: Platform, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**platform.env, "HANSE_ADMIN_PASSWORD": platform.admin_password}
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", "reconcile", "--gateway", platform.gateway, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=die_with_parent(),  # a killed test run takes the command with it
    )


async def test_reconcile_passes_a_consistent_platform_and_names_the_orders_whose_records_were_broken(
    ledger_platform: Platform, api: Gateway
):
    sku, _ = await api.stocked_product(20, price="50.00", weight="3.0")
    net_30 = await api.account(unique("Marseille Pompes"))
    prepaid = await api.account(unique("Lille Vannes"), payment_terms="prepaid")
    shipped = [await api.place_order(net_30, sku, 2, incoterm="FCA") for _ in range(3)]
    waiting = await api.place_order(prepaid, sku, 1, incoterm="FCA")  # reserved, not paid: no shipment yet
    cancelled = await api.place_order(net_30, sku, 1, incoterm="FCA")
    await api.order_reaches(cancelled["id"], "ready_to_ship")
    await api.post(f"/sales/orders/{cancelled['id']}/cancel", {"reason": "buyer changed his mind"}, expect=200)
    for order in shipped:
        await api.order_reaches(order["id"], "ready_to_ship")
    await api.order_reaches(waiting["id"], "confirmed")

    clean = await asyncio.to_thread(hanse_reconcile, ledger_platform, "--settle", "30")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "5 orders" in clean.stdout and "0 discrepancies" in clean.stdout, clean.stdout

    # Break two departments' records behind their backs: logistics loses a booked shipment,
    # finance voids a proforma invoice of an order that is still going ahead.
    lost_shipment, voided = shipped[0]["id"], shipped[1]["id"]
    with sqlite3.connect(ledger_platform.data_dir / "logistics.db") as db:
        assert db.execute("DELETE FROM shipment WHERE order_id = ?", (lost_shipment,)).rowcount == 1
    with sqlite3.connect(ledger_platform.data_dir / "finance.db") as db:
        changed = db.execute("UPDATE invoice SET status = 'void' WHERE order_id = ? AND kind = 'proforma'", (voided,))
        assert changed.rowcount == 1

    broken = await asyncio.to_thread(hanse_reconcile, ledger_platform)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    lines = broken.stdout.splitlines()
    assert "2 discrepancies" in lines[0], broken.stdout
    assert any(lost_shipment in line and "shipment is none, expected booked" in line for line in lines), lines
    assert any(voided in line and "proforma invoice is void" in line for line in lines), lines
    assert not any(shipped[2]["id"] in line or waiting["id"] in line for line in lines), lines


def test_reconcile_cannot_check_without_the_admin_login(ledger_platform: Platform):
    env = {**ledger_platform.env, "HANSE_ADMIN_PASSWORD": "not-the-password-at-all"}
    refused = subprocess.run(
        [sys.executable, "-m", "ops.cli", "reconcile", "--gateway", ledger_platform.gateway],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "refused the login" in refused.stderr, refused.stderr


ORDER = {"id": "ord_1", "status": "ready_to_ship", "payment_terms": "net_30", "paid": False}
ORDER["lines"] = [{"sku": "VALVE-1", "quantity": 2}]
RESERVED = {"status": "reserved", "reserved": [{"sku": "VALVE-1", "warehouse": "HAM", "quantity": 2}]}
PROFORMA = {"kind": "proforma", "status": "issued", "number": "PF-2026-000001"}
BOOKED = {"id": "shp_1", "status": "booked"}


def test_a_consistent_order_has_no_problem():
    assert check_order(ORDER, [PROFORMA], {**RESERVED, "shipment_id": "shp_1"}, [BOOKED]) == []


def test_two_proformas_two_shipments_and_a_short_reservation_are_each_named():
    problems = check_order(
        ORDER,
        [PROFORMA, {**PROFORMA, "number": "PF-2026-000002"}],
        {**RESERVED, "reserved": [{"sku": "VALVE-1", "warehouse": "HAM", "quantity": 1}]},
        [BOOKED, {**BOOKED, "id": "shp_2"}],
    )
    assert any("2 proforma invoices" in p for p in problems), problems
    assert any("2 shipments" in p for p in problems), problems
    assert any("reserved {'VALVE-1': 1}" in p for p in problems), problems


def test_a_net_30_order_left_confirmed_should_have_been_booked():
    problems = check_order({**ORDER, "status": "confirmed"}, [PROFORMA], RESERVED, [])
    assert problems == ["stock reserved and payment terms allow shipping, but no shipment was booked"]


def test_a_cancelled_order_that_was_paid_needs_a_credit_note():
    cancelled = {**ORDER, "status": "cancelled", "paid": True}
    paid = {**PROFORMA, "status": "paid"}
    assert check_order(cancelled, [paid], {"status": "cancelled"}, [{**BOOKED, "status": "cancelled"}]) == [
        "cancelled after payment, but no credit note was issued"
    ]
    credit = {"kind": "credit_note", "status": "issued", "number": "CN-2026-000001"}
    assert check_order(cancelled, [paid, credit], {"status": "cancelled"}, []) == []
