"""Bad input on every gateway endpoint: a 4xx problem naming the field, nothing changed, never a 500."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Platform
from tests.e2e.flow import Gateway, unique

pytestmark = pytest.mark.e2e

HUGE = "x" * 20_000
GONE = object()  # marks a field to remove


@dataclass(frozen=True)
class Raw:
    """A request body sent as bytes, exactly as given."""

    content: bytes
    content_type: str = "application/json"


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    body: Any = None
    status: int = 422
    field: str | None = None
    probe: str | None = None  # a GET whose answer must be the same before and after
    params: dict[str, str] | None = None
    form: dict[str, str] | None = None
    public: bool = False  # sent without a token


def changed(base: dict, path: str, value: Any) -> dict:
    """`base` with one (dotted) field replaced, or removed when value is GONE."""
    body = copy.deepcopy(base)
    *parents, last = path.split(".")
    target: Any = body
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is GONE:
        del target[last]
    else:
        target[last] = value
    return body


def money(amount: Any, currency: str = "EUR") -> dict:
    return {"amount": amount, "currency": currency}


MALFORMED = Raw(b'{"code": "HAM", "name": ')
WAREHOUSE = {"code": "{tag}", "name": "Bremen", "country": "DE"}
PRODUCT = {
    "sku": "{tag}",
    "name": "Ball valve",
    "hs_code": "848180",
    "origin_country": "DE",
    "unit_price": money("10.00"),
    "unit_weight_kg": "1.5",
}
RECEIPT = {"sku": "{sku}", "warehouse": "{warehouse}", "quantity": 5}
CAMPAIGN = {"name": "Spring", "channel": "ppc", "budget": money("100.00"), "utm_campaign": "{tag}"}
SPEND = {"amount": money("10.00"), "note": "search ads"}
LEAD = {
    "company": "Neu GmbH",
    "contact_name": "Max Muster",
    "email": "max@example.com",
    "country": "DE",
    "utm": {"source": "google", "medium": "cpc", "campaign": "{utm}"},
    "consent_marketing": True,
}
ACCOUNT = {"company": "Neu AG", "country": "DE", "email": "a@example.com", "currency": "EUR", "payment_terms": "net_30"}
QUOTE = {
    "account_id": "{account}",
    "currency": "EUR",
    "incoterm": "DAP",
    "named_place": "Lyon",
    "destination_country": "FR",
    "lines": [{"sku": "{sku}", "quantity": 1}],
}
WATCH = {"name": "Bad Corp {tag}", "country": "DE", "reason": "fraud"}
DECISION = {"decision": "clear", "note": "checked the register"}
PAYMENT = {"invoice_id": "{invoice}", "amount": money("1.00"), "method": "bank_transfer", "reference": "r1"}
TRACKING = {"status": "picked_up", "location": "Hamburg"}
RATES = {"destination_country": "US", "mode": "air", "weight_kg": "10"}

WAREHOUSES = "/logistics/warehouses?limit=200"
PRODUCTS = "/sales/products?limit=200"
STOCK = "/logistics/stock/{sku}"
CAMPAIGNS = "/marketing/campaigns?limit=200"
SPENDS = "/marketing/campaigns/{campaign}/spend"
LEADS = "/marketing/leads?campaign_id={campaign}"
ACCOUNTS = "/sales/accounts?limit=200"
QUOTES = "/sales/quotes?account_id={account}"
ORDER = "/sales/orders/{order}"
ORDERS = "/sales/orders?account_id={account}"
WATCHLIST = "/compliance/watchlist?limit=200"
CHECK = "/compliance/checks/{check}"
INVOICE = "/finance/invoices/{invoice}"
SHIPMENT = "/logistics/shipments/{shipment}"


def post(path: str, body: Any, field: str | None, probe: str | None, status: int = 422, **kw: Any) -> Case:
    return Case("POST", path, body, status, field, probe, **kw)


def get(path: str, field: str | None, status: int = 422, params: dict[str, str] | None = None) -> Case:
    return Case("GET", path, None, status, field, None, params=params)


CASES: dict[str, Case] = {
    # log in
    "token-missing-password": post("/auth/token", None, "password", None, form={"username": "admin"}),
    "token-grant-type": post(  # RFC 6749 §5.2: unsupported_grant_type is a 400
        "/auth/token",
        None,
        "grant_type",
        None,
        status=400,
        form={"username": "a", "password": "b", "grant_type": "implicit"},
    ),
    "token-huge-username": post("/auth/token", None, "username", None, form={"username": HUGE, "password": "b"}),
    "token-json-body": post("/auth/token", Raw(b'{"username": "admin"}'), "username", None),
    # warehouses
    "warehouse-malformed-json": post("/logistics/warehouses", MALFORMED, "body", WAREHOUSES, status=400),
    "warehouse-not-an-object": post("/logistics/warehouses", Raw(b"[1, 2]"), "body", WAREHOUSES),
    "warehouse-missing-code": post("/logistics/warehouses", changed(WAREHOUSE, "code", GONE), "code", WAREHOUSES),
    "warehouse-code-type": post("/logistics/warehouses", changed(WAREHOUSE, "code", 42), "code", WAREHOUSES),
    "warehouse-code-chars": post("/logistics/warehouses", changed(WAREHOUSE, "code", "HAM 1!"), "code", WAREHOUSES),
    "warehouse-country": post("/logistics/warehouses", changed(WAREHOUSE, "country", "XX"), "country", WAREHOUSES),
    "warehouse-huge-name": post("/logistics/warehouses", changed(WAREHOUSE, "name", HUGE), "name", WAREHOUSES),
    "warehouse-unknown-field": post("/logistics/warehouses", {**WAREHOUSE, "colour": "red"}, "colour", WAREHOUSES),
    "warehouse-duplicate": post(
        "/logistics/warehouses", changed(WAREHOUSE, "code", "{warehouse}"), "code", WAREHOUSES, status=409
    ),
    # products
    "product-malformed-json": post("/sales/products", MALFORMED, "body", PRODUCTS, status=400),
    "product-float-price": post(
        "/sales/products", changed(PRODUCT, "unit_price.amount", 10.5), "unit_price.amount", PRODUCTS
    ),
    "product-negative-price": post(
        "/sales/products", changed(PRODUCT, "unit_price.amount", "-10.00"), "unit_price.amount", PRODUCTS
    ),
    "product-price-not-money": post("/sales/products", changed(PRODUCT, "unit_price", "10.00"), "unit_price", PRODUCTS),
    "product-currency": post(
        "/sales/products", changed(PRODUCT, "unit_price.currency", "XYZ"), "unit_price.currency", PRODUCTS
    ),
    "product-too-many-decimals": post(
        "/sales/products", changed(PRODUCT, "unit_price.amount", "10.001"), "unit_price", PRODUCTS
    ),
    "product-hs-code": post("/sales/products", changed(PRODUCT, "hs_code", "12"), "hs_code", PRODUCTS),
    "product-origin": post("/sales/products", changed(PRODUCT, "origin_country", "ZZ"), "origin_country", PRODUCTS),
    "product-weight": post("/sales/products", changed(PRODUCT, "unit_weight_kg", "-1"), "unit_weight_kg", PRODUCTS),
    "product-moq": post("/sales/products", {**PRODUCT, "moq": 0}, "moq", PRODUCTS),
    "product-missing-sku": post("/sales/products", changed(PRODUCT, "sku", GONE), "sku", PRODUCTS),
    "product-huge-name": post("/sales/products", changed(PRODUCT, "name", HUGE), "name", PRODUCTS),
    "product-duplicate-sku": post("/sales/products", changed(PRODUCT, "sku", "{sku}"), "sku", PRODUCTS, status=409),
    # stock
    "receipt-malformed-json": post("/logistics/stock/receipts", MALFORMED, "body", STOCK, status=400),
    "receipt-negative-quantity": post("/logistics/stock/receipts", changed(RECEIPT, "quantity", -5), "quantity", STOCK),
    "receipt-zero-quantity": post("/logistics/stock/receipts", changed(RECEIPT, "quantity", 0), "quantity", STOCK),
    "receipt-string-quantity": post("/logistics/stock/receipts", changed(RECEIPT, "quantity", "5"), "quantity", STOCK),
    "receipt-float-quantity": post("/logistics/stock/receipts", changed(RECEIPT, "quantity", 2.5), "quantity", STOCK),
    "receipt-huge-quantity": post("/logistics/stock/receipts", changed(RECEIPT, "quantity", 10**12), "quantity", STOCK),
    "receipt-unknown-warehouse": post(
        "/logistics/stock/receipts", changed(RECEIPT, "warehouse", "NOWHERE"), "warehouse", STOCK
    ),
    "stock-unknown-sku": get("/logistics/stock/NEVER-RECEIVED-1", "sku", status=404),
    "stock-bad-sku": get("/logistics/stock/bad sku!", "path.sku"),
    # campaigns
    "campaign-malformed-json": post("/marketing/campaigns", MALFORMED, "body", CAMPAIGNS, status=400),
    "campaign-channel": post("/marketing/campaigns", changed(CAMPAIGN, "channel", "tv"), "channel", CAMPAIGNS),
    "campaign-float-budget": post(
        "/marketing/campaigns", changed(CAMPAIGN, "budget.amount", 100.0), "budget.amount", CAMPAIGNS
    ),
    "campaign-negative-budget": post(
        "/marketing/campaigns", changed(CAMPAIGN, "budget.amount", "-1.00"), "budget.amount", CAMPAIGNS
    ),
    "campaign-budget-currency": post(
        "/marketing/campaigns", changed(CAMPAIGN, "budget.currency", "EURO"), "budget.currency", CAMPAIGNS
    ),
    "campaign-utm": post(
        "/marketing/campaigns", changed(CAMPAIGN, "utm_campaign", "spring sale!"), "utm_campaign", CAMPAIGNS
    ),
    "campaign-missing-name": post("/marketing/campaigns", changed(CAMPAIGN, "name", GONE), "name", CAMPAIGNS),
    "campaign-huge-name": post("/marketing/campaigns", changed(CAMPAIGN, "name", HUGE), "name", CAMPAIGNS),
    "campaign-duplicate-utm": post(
        "/marketing/campaigns", changed(CAMPAIGN, "utm_campaign", "{utm}"), "utm_campaign", CAMPAIGNS, status=409
    ),
    "spend-float": post(
        "/marketing/campaigns/{campaign}/spend", changed(SPEND, "amount.amount", 1.5), "amount.amount", SPENDS
    ),
    "spend-zero": post(
        "/marketing/campaigns/{campaign}/spend", changed(SPEND, "amount.amount", "0.00"), "amount.amount", SPENDS
    ),
    "spend-currency": post(
        "/marketing/campaigns/{campaign}/spend", changed(SPEND, "amount.currency", "USD"), "amount.currency", SPENDS
    ),
    "spend-unknown-campaign": post("/marketing/campaigns/nope/spend", SPEND, "id", SPENDS, status=404),
    "performance-unknown-campaign": get("/marketing/campaigns/nope/performance", "id", status=404),
    # the public lead form
    "lead-malformed-json": post("/marketing/leads", MALFORMED, "body", LEADS, status=400, public=True),
    "lead-email": post("/marketing/leads", changed(LEAD, "email", "not-an-email"), "email", LEADS, public=True),
    "lead-country": post("/marketing/leads", changed(LEAD, "country", "Germany"), "country", LEADS, public=True),
    "lead-consent-type": post(
        "/marketing/leads", changed(LEAD, "consent_marketing", "yes"), "consent_marketing", LEADS, public=True
    ),
    "lead-missing-consent": post(
        "/marketing/leads", changed(LEAD, "consent_marketing", GONE), "consent_marketing", LEADS, public=True
    ),
    "lead-huge-message": post("/marketing/leads", {**LEAD, "message": HUGE}, "message", LEADS, public=True),
    "lead-missing-company": post("/marketing/leads", changed(LEAD, "company", GONE), "company", LEADS, public=True),
    "lead-utm-type": post("/marketing/leads", changed(LEAD, "utm", "google"), "utm", LEADS, public=True),
    "lead-unknown-field": post("/marketing/leads", {**LEAD, "budget": "1m"}, "budget", LEADS, public=True),
    "lead-unknown-id": get("/marketing/leads/nope", "id", status=404),
    # accounts
    "account-malformed-json": post("/sales/accounts", MALFORMED, "body", ACCOUNTS, status=400),
    "account-payment-terms": post(
        "/sales/accounts", changed(ACCOUNT, "payment_terms", "net_60"), "payment_terms", ACCOUNTS
    ),
    "account-currency": post("/sales/accounts", changed(ACCOUNT, "currency", "EURO"), "currency", ACCOUNTS),
    "account-country": post("/sales/accounts", changed(ACCOUNT, "country", "XX"), "country", ACCOUNTS),
    "account-email": post("/sales/accounts", changed(ACCOUNT, "email", "nobody"), "email", ACCOUNTS),
    "account-vat-id": post("/sales/accounts", {**ACCOUNT, "vat_id": "DE123"}, "vat_id", ACCOUNTS),
    "account-empty-company": post("/sales/accounts", changed(ACCOUNT, "company", ""), "company", ACCOUNTS),
    "account-huge-company": post("/sales/accounts", changed(ACCOUNT, "company", HUGE), "company", ACCOUNTS),
    "accounts-huge-lead-id": get("/sales/accounts", "query.lead_id", params={"lead_id": HUGE}),
    "account-unknown-id": get("/sales/accounts/nope", "account_id", status=404),
    # quotes and orders
    "quote-malformed-json": post("/sales/quotes", MALFORMED, "body", QUOTES, status=400),
    "quote-unknown-account": post("/sales/quotes", changed(QUOTE, "account_id", "acc_nope"), "account_id", QUOTES),
    "quote-incoterm": post("/sales/quotes", changed(QUOTE, "incoterm", "FOO"), "incoterm", QUOTES),
    "quote-sea-term-by-air": post(
        "/sales/quotes", {**changed(QUOTE, "incoterm", "CIF"), "mode": "air"}, "mode", QUOTES
    ),
    "quote-unknown-sku": post("/sales/quotes", changed(QUOTE, "lines.0.sku", "NOPE-1"), "lines.0.sku", QUOTES),
    "quote-negative-quantity": post(
        "/sales/quotes", changed(QUOTE, "lines.0.quantity", -1), "lines.0.quantity", QUOTES
    ),
    "quote-float-quantity": post("/sales/quotes", changed(QUOTE, "lines.0.quantity", 1.5), "lines.0.quantity", QUOTES),
    "quote-destination": post(
        "/sales/quotes", changed(QUOTE, "destination_country", "XX"), "destination_country", QUOTES
    ),
    "quote-currency": post("/sales/quotes", changed(QUOTE, "currency", "XYZ"), "currency", QUOTES),
    "quote-no-lines": post("/sales/quotes", changed(QUOTE, "lines", []), "lines", QUOTES),
    "quote-lines-type": post("/sales/quotes", changed(QUOTE, "lines", "1 pump"), "lines", QUOTES),
    "quote-huge-place": post("/sales/quotes", changed(QUOTE, "named_place", HUGE), "named_place", QUOTES),
    "accept-unknown-quote": post("/sales/quotes/quo_nope/accept", None, "quote_id", ORDERS, status=404),
    "order-unknown-id": get("/sales/orders/ord_nope", "order_id", status=404),
    "cancel-unknown-order": post("/sales/orders/ord_nope/cancel", None, "order_id", ORDERS, status=404),
    "cancel-reason-type": post("/sales/orders/{order}/cancel", {"reason": 42}, "reason", ORDER),
    "cancel-huge-reason": post("/sales/orders/{order}/cancel", {"reason": HUGE}, "reason", ORDER),
    "overview-unknown-order": get("/orders/ord_nope/overview", None, status=404),
    # compliance
    "watchlist-malformed-json": post("/compliance/watchlist", MALFORMED, "body", WATCHLIST, status=400),
    "watchlist-empty-name": post("/compliance/watchlist", changed(WATCH, "name", ""), "name", WATCHLIST),
    "watchlist-punctuation-name": post("/compliance/watchlist", changed(WATCH, "name", "!!!"), "name", WATCHLIST),
    "watchlist-country": post("/compliance/watchlist", changed(WATCH, "country", "XX"), "country", WATCHLIST),
    "watchlist-missing-reason": post("/compliance/watchlist", changed(WATCH, "reason", GONE), "reason", WATCHLIST),
    "watchlist-huge-reason": post("/compliance/watchlist", changed(WATCH, "reason", HUGE), "reason", WATCHLIST),
    "checks-result": get("/compliance/checks", "query.result", params={"result": "maybe"}),
    "checks-subject-type": get("/compliance/checks", "query.subject_type", params={"subject_type": "ship"}),
    "checks-limit": get("/compliance/checks", "query.limit", params={"limit": "0"}),
    "check-unknown-id": get("/compliance/checks/chk_nope", "check_id", status=404),
    "decision-malformed-json": post("/compliance/checks/{check}/decision", MALFORMED, "body", CHECK, status=400),
    "decision-unknown-value": post(
        "/compliance/checks/{check}/decision", changed(DECISION, "decision", "maybe"), "decision", CHECK
    ),
    "decision-blank-note": post("/compliance/checks/{check}/decision", changed(DECISION, "note", "   "), "note", CHECK),
    "decision-missing-note": post(
        "/compliance/checks/{check}/decision", changed(DECISION, "note", GONE), "note", CHECK
    ),
    "decision-unknown-check": post("/compliance/checks/chk_nope/decision", DECISION, "check_id", None, status=404),
    # finance
    "invoices-status": get("/finance/invoices", "query.status", params={"status": "maybe"}),
    "invoices-kind": get("/finance/invoices", "query.kind", params={"kind": "receipt"}),
    "invoice-unknown-id": get("/finance/invoices/inv_nope", "invoice_id", status=404),
    "payment-malformed-json": post("/finance/payments", MALFORMED, "body", INVOICE, status=400),
    "payment-float-amount": post("/finance/payments", changed(PAYMENT, "amount.amount", 1.0), "amount.amount", INVOICE),
    "payment-zero": post("/finance/payments", changed(PAYMENT, "amount.amount", "0.00"), "amount.amount", INVOICE),
    "payment-negative": post("/finance/payments", changed(PAYMENT, "amount.amount", "-5.00"), "amount.amount", INVOICE),
    "payment-decimals": post("/finance/payments", changed(PAYMENT, "amount.amount", "1.001"), "amount.amount", INVOICE),
    "payment-over-open-amount": post(
        "/finance/payments", changed(PAYMENT, "amount.amount", "999999.00"), "amount.amount", INVOICE
    ),
    "payment-currency": post(
        "/finance/payments", changed(PAYMENT, "amount.currency", "USD"), "amount.currency", INVOICE
    ),
    "payment-method": post("/finance/payments", changed(PAYMENT, "method", "cash"), "method", INVOICE),
    "payment-blank-reference": post("/finance/payments", changed(PAYMENT, "reference", "  "), "reference", INVOICE),
    "payment-unknown-invoice": post(
        "/finance/payments", changed(PAYMENT, "invoice_id", "inv_nope"), "invoice_id", INVOICE
    ),
    # logistics shipments and rates
    "shipments-limit": get("/logistics/shipments", "query.limit", params={"limit": "0"}),
    "shipment-unknown-id": get("/logistics/shipments/nope", "shipment_id", status=404),
    "tracking-malformed-json": post(
        "/logistics/shipments/{shipment}/tracking", MALFORMED, "body", SHIPMENT, status=400
    ),
    "tracking-status": post(
        "/logistics/shipments/{shipment}/tracking", changed(TRACKING, "status", "lost"), "status", SHIPMENT
    ),
    "tracking-naive-time": post(
        "/logistics/shipments/{shipment}/tracking", {**TRACKING, "at": "2026-01-05T10:00:00"}, "at", SHIPMENT
    ),
    "tracking-huge-location": post(
        "/logistics/shipments/{shipment}/tracking", changed(TRACKING, "location", HUGE), "location", SHIPMENT
    ),
    "tracking-unknown-shipment": post("/logistics/shipments/nope/tracking", TRACKING, "shipment_id", None, status=404),
    "rates-mode": post("/logistics/rates", changed(RATES, "mode", "rocket"), "mode", None),
    "rates-road-overseas": post("/logistics/rates", changed(RATES, "mode", "road"), "mode", None),
    "rates-weight": post("/logistics/rates", changed(RATES, "weight_kg", "-1"), "weight_kg", None),
    "rates-country": post("/logistics/rates", changed(RATES, "destination_country", "XX"), "destination_country", None),
    "rates-currency": post("/logistics/rates", {**RATES, "currency": "XYZ"}, "currency", None),
}


def fill(value: Any, world: dict[str, str]) -> Any:
    """Put the ids of the module's world into a case's path, body or params."""
    if isinstance(value, str):
        return value.format(**world) if "{" in value else value
    if isinstance(value, dict):
        return {k: fill(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, world) for v in value]
    return value


@pytest.fixture(scope="module")
async def world(platform: Platform) -> AsyncIterator[dict[str, str]]:
    """One of everything, settled: a campaign and its converted lead, stock, a shipped-to-be order."""
    api = Gateway(platform)
    try:
        sku, warehouse = await api.stocked_product(50)
        utm = unique("bad").lower()
        campaign = await api.post(
            "/marketing/campaigns",
            {"name": "Bad input", "channel": "seo", "budget": money("10.00"), "utm_campaign": utm},
        )
        account = await api.account(unique("Bad Input Buyer"), country="FR")
        order = await api.place_order(account, sku, 1)
        await api.order_reaches(order["id"], "ready_to_ship")
        [check] = await api.items("/compliance/checks", order_id=order["id"])

        async def commercial() -> list[dict]:
            return [i for i in await api.invoices(order["id"]) if i["kind"] == "commercial"]

        # Booked (net_30): the commercial invoice is the one that takes payments.
        [invoice] = await api.eventually(commercial, "commercial invoice")
        [shipment] = await api.shipments(order["id"])
        yield {
            "sku": sku,
            "warehouse": warehouse,
            "campaign": campaign["id"],
            "utm": utm,
            "account": account,
            "order": order["id"],
            "check": check["id"],
            "invoice": invoice["id"],
            "shipment": shipment["id"],
            "tag": unique("NEW"),
        }
    finally:
        await api.close()


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
async def test_bad_input_is_a_problem_naming_the_field_and_changes_nothing(
    platform: Platform, world: dict[str, str], case: Case
):
    staff = {"Authorization": f"Bearer {platform.token()}"}
    async with httpx.AsyncClient(base_url=f"{platform.gateway}/api/v1", timeout=30) as client:
        probe = fill(case.probe, world) if case.probe else None
        before = await read(client, probe, staff)
        kwargs: dict[str, Any] = {
            "headers": {} if case.public else dict(staff),
            "params": fill(case.params or {}, world),
        }
        if isinstance(case.body, Raw):
            kwargs["content"] = case.body.content
            kwargs["headers"]["content-type"] = case.body.content_type
        elif case.form is not None:
            kwargs["data"] = case.form
        elif case.body is not None:
            kwargs["json"] = fill(case.body, world)
        response = await client.request(case.method, fill(case.path, world), **kwargs)

        assert response.status_code == case.status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == case.status and problem["title"] and problem["detail"]
        if case.field is not None:
            assert problem.get("field") == case.field, problem
        if probe:
            assert await read(client, probe, staff) == before, f"{case.method} {case.path} changed {probe}"


async def read(client: httpx.AsyncClient, path: str | None, headers: dict[str, str]) -> Any:
    if path is None:
        return None
    response = await client.get(path, headers=headers)
    assert response.status_code in (200, 404), response.text
    return response.status_code, response.json()
