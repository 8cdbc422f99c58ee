"""Quote terms from outside the request: an active sales frame's defaults, and a named carrier."""

from __future__ import annotations

import importlib
from datetime import date

import httpx

from services.compliance.contract import ContractStatusChanged, ContractTerms
from tests.conftest import free_port, make_settings
from tests.integration.test_sales_api import (
    account_body,
    assert_problem,
    created,
    get,
    post,
    product_body,
    quote_body,
    sales_events,
)
from tests.support.kafka import eventually
from tests.support.service import RunningService, run_service, serve_on_port


def frame(account_id: str, status: str, contract_id: str = "ctr_1", **terms) -> ContractStatusChanged:
    return ContractStatusChanged(
        contract_id=contract_id,
        party_type="account",
        party_id=account_id,
        kind="sales_frame",
        status=status,
        terms=ContractTerms(**terms),
        effective_from=date(2026, 1, 1),
        expires_on=date(2027, 12, 31),
    )


async def frame_of(svc: RunningService, account_id: str):
    return (await get(svc, f"/accounts/{account_id}")).json()["sales_frame"]


async def test_a_sales_frame_sets_the_quote_defaults_and_a_carrier_its_mode(settings):
    async with run_service("sales", settings) as svc:
        await created(svc, "/products", product_body())
        acc = await created(svc, "/accounts", account_body(payment_terms="prepaid", language="es"))
        without_term = quote_body(acc["id"])
        del without_term["incoterm"]
        assert_problem(await post(svc, "/quotes", without_term), 422, "incoterm")

        # -- active: the frame's Incoterm and payment terms are the defaults of new quotes
        await svc.deliver(frame(acc["id"], "active", incoterm="fca", payment_terms="net_30"))

        async def has_frame():
            return await frame_of(svc, acc["id"])

        assert await eventually(has_frame) == {"contract_id": "ctr_1", "incoterm": "FCA", "payment_terms": "net_30"}
        quote = await created(svc, "/quotes", without_term)
        assert (quote["incoterm"], quote["payment_terms"]) == ("FCA", "net_30")
        explicit = await created(svc, "/quotes", quote_body(acc["id"]))  # the request's own term wins
        assert explicit["incoterm"] == "FOB"
        order = await created(svc, f"/quotes/{quote['id']}/accept", {})
        assert order["payment_terms"] == "net_30" and order["language"] == "es"

        # -- another contract of the account ending changes nothing; the frame's own end removes it
        await svc.deliver(frame(acc["id"], "terminated", contract_id="ctr_old"))
        await svc.deliver(frame(acc["id"], "expired"))

        async def no_frame():
            return await frame_of(svc, acc["id"]) is None

        await eventually(no_frame)
        assert_problem(await post(svc, "/quotes", without_term), 422, "incoterm")

        # -- a named carrier: its mode, carried to the order terms; a carrier without the mode → 422
        courier = await created(svc, "/quotes", quote_body(acc["id"], incoterm="FCA", carrier="dhl-express"))
        assert (courier["carrier"], courier["mode"]) == ("dhl-express", "courier")
        placed = await created(svc, f"/quotes/{courier['id']}/accept", {})
        assert placed["carrier"] == "dhl-express"
        events = await sales_events(svc, expect=8)
        terms = next(e for e in events if e.type == "sales.order.placed.v1" and e.data["order_id"] == placed["id"])
        assert (terms.data["order"]["carrier"], terms.data["order"]["language"]) == ("dhl-express", "es")
        for body in (
            quote_body(acc["id"], incoterm="FCA", carrier="maersk", mode="air"),
            quote_body(acc["id"], carrier="lufthansa-cargo"),  # FOB is sea-only
            quote_body(acc["id"], incoterm="FCA", carrier="pigeon-post"),
        ):
            assert_problem(await post(svc, "/quotes", body), 422)
        problem = (
            await post(svc, "/quotes", quote_body(acc["id"], incoterm="FCA", carrier="maersk", mode="air"))
        ).json()
        assert problem["field"] == "carrier"


async def test_a_named_carrier_is_priced_by_its_own_rate_table(settings, tmp_path, monkeypatch):
    logistics_settings = make_settings(
        settings.kafka_bootstrap_servers, f"sqlite+aiosqlite:///{tmp_path / 'logistics.db'}"
    )
    logistics = importlib.import_module("services.logistics.app").build(logistics_settings)
    async with serve_on_port(logistics, free_port()) as url, run_service("sales", settings) as svc:
        monkeypatch.setenv("HANSE_LOGISTICS_URL", url)
        await created(svc, "/products", product_body())
        acc = await created(svc, "/accounts", account_body())
        body = quote_body(acc["id"], incoterm="CPT", named_place="New York", carrier="dhl-express")
        quote = await created(svc, "/quotes", body)
        assert (quote["carrier"], quote["mode"]) == ("dhl-express", "courier")
        async with httpx.AsyncClient(base_url=url) as client:
            rate = await client.post(
                "/api/v1/logistics/rates",
                json={
                    "destination_country": "US",
                    "mode": "courier",
                    "carrier": "dhl-express",
                    "weight_kg": "125.000",
                    "volume_m3": "0.300000",
                    "currency": "USD",
                    "origin_country": "DE",
                },
                headers=svc.auth("sales"),
            )
        assert rate.status_code == 200, rate.text
        assert quote["freight"] == rate.json()["price"]
