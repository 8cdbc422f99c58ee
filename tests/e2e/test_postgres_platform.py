"""The whole platform on PostgreSQL (`HANSE_DB=postgres make dev`): a database per service, the golden path works."""

from __future__ import annotations

import glob
from collections.abc import Iterator

import asyncpg
import pytest

from hanse.settings import Settings
from ops.migrate import SERVICES
from tests.conftest import PG_BASE
from tests.e2e.conftest import Platform, plain_url, running_on_postgres
from tests.e2e.flow import Gateway

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@pytest.fixture(scope="module")
def postgres_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, Settings]]:
    with running_on_postgres(tmp_path_factory.mktemp("postgres-platform"), "e2e") as running:
        yield running


async def test_every_service_keeps_its_data_in_its_own_postgres_database(postgres_platform):
    platform, databases = postgres_platform
    conn = await asyncpg.connect(plain_url(f"{PG_BASE}/postgres"))
    try:
        names = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
    finally:
        await conn.close()
    for name in SERVICES:
        assert databases.postgres_url_for(name).rsplit("/", 1)[1] in names, name
    assert not glob.glob(f"{platform.data_dir}/*.db"), "no service fell back to a SQLite file"


async def test_golden_path_on_postgres_books_the_shipment_and_issues_the_invoice(postgres_platform):
    platform, databases = postgres_platform
    api = Gateway(platform)
    try:
        sku, _ = await api.stocked_product(20)
        account_id = await api.account("Lyon Pompes SARL", country="FR", payment_terms="net_30")
        order = await api.place_order(account_id, sku, 5)
        await api.order_reaches(order["id"], "ready_to_ship")

        async def both() -> list[dict]:
            invoices = await api.invoices(order["id"])
            return invoices if len(invoices) == 2 else []

        # The proforma on clearance, the commercial invoice (superseding it) once the shipment is booked.
        invoices = await api.eventually(both, "the proforma and the commercial invoice")
        assert [(i["kind"], i["status"]) for i in invoices] == [("proforma", "issued"), ("commercial", "issued")]
        assert invoices[0]["superseded_by_id"] == invoices[1]["id"] and invoices[1]["currency"] == "EUR"
        shipments = await api.eventually(lambda: api.shipments(order["id"]), "the shipment booking")
        assert [s["status"] for s in shipments] == ["booked"]
        stock = await api.stock(sku)
        assert (stock["on_hand"], stock["reserved"], stock["available"]) == (20, 5, 15)
    finally:
        await api.close()

    # The rows are where the configuration says: in PostgreSQL, one database per department.
    sales = await asyncpg.connect(plain_url(databases.postgres_url_for("sales")))
    try:
        outbox_unsent = await sales.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        tables = {
            r["tablename"] for r in await sales.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
    finally:
        await sales.close()
    assert {"outbox", "inbox", "idempotency_key"} <= tables
    assert outbox_unsent == 0
