"""`hanse demo`: walk the golden path through the gateway and show each department's step as it happens."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import httpx

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
DEFAULT_TIMEOUT = 60.0  # seconds one department may take to react before the demo gives up
TITLE_WIDTH = 34
EVENT_WIDTH = 30


class DemoFailed(Exception):
    """A step did not happen; the message names the step and the department."""

    exit_code = 1


class CannotStart(DemoFailed):
    """The gateway cannot be reached or refuses the admin login."""

    exit_code = 2


def admin_login() -> tuple[str, str]:
    """The admin login `make dev` uses: HANSE_ADMIN_PASSWORD, else the password it saved in the data dir."""
    user = os.environ.get("HANSE_ADMIN_USER", "admin")
    password = os.environ.get("HANSE_ADMIN_PASSWORD")
    if password:
        return user, password
    saved = Path(os.environ.get("HANSE_DATA_DIR", "./var")) / "admin-password"
    try:
        return user, saved.read_text().strip()
    except OSError:
        raise CannotStart(
            f"no admin password: set HANSE_ADMIN_PASSWORD or run `make dev` first (it saves one in {saved})"
        ) from None


@dataclass(frozen=True)
class Step:
    """One step of the walk: who acts, what they do, the event that tells the others."""

    department: str
    title: str
    event: str
    work: Callable[[], Awaitable[str]]


class Display:
    """One line per step: a spinner with the elapsed time while waiting (on a terminal), ✓ or ✗ when done."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        encoding = getattr(out, "encoding", None) or "ascii"
        try:
            "✓✗⠋".encode(encoding)
            self.ok, self.failed, self.frames = "✓", "✗", SPINNER
        except (UnicodeEncodeError, LookupError):
            self.ok, self.failed, self.frames = "ok", "!!", "|/-\\"

    def print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def _line(self, mark: str, step: Step, seconds: float, detail: str = "") -> str:
        who = f"{step.department:<11} {step.title:<{TITLE_WIDTH}} {step.event:<{EVENT_WIDTH}}"
        text = f"  {mark:<2} {who} {seconds:5.1f} s"
        return f"{text}  {detail}" if detail else text

    async def _spin(self, step: Step, started: float) -> None:
        frame = 0
        while True:
            line = self._line(self.frames[frame % len(self.frames)], step, time.monotonic() - started)
            self.out.write("\r" + line)
            self.out.flush()
            frame += 1
            await asyncio.sleep(0.1)

    async def run(self, step: Step) -> None:
        started = time.monotonic()
        spinner = asyncio.create_task(self._spin(step, started)) if self.tty else None
        try:
            detail = await step.work()
        except BaseException:
            self._finish(spinner, self._line(self.failed, step, time.monotonic() - started))
            raise
        self._finish(spinner, self._line(self.ok, step, time.monotonic() - started, detail))

    def _finish(self, spinner: asyncio.Task | None, line: str) -> None:
        if spinner is not None:
            spinner.cancel()
            self.out.write("\r\x1b[2K")  # clear the spinner's line before the final one
        self.print(line)


class Demo:
    """The golden path of PRODUCT.md, step by step, against a running platform."""

    def __init__(self, gateway: str, out: TextIO, timeout: float) -> None:
        self.gateway = gateway.rstrip("/")
        self.display = Display(out)
        self.timeout = timeout
        self.run_id = uuid.uuid4().hex[:6].upper()
        self.client = httpx.AsyncClient(base_url=f"{self.gateway}/api/v1", timeout=30)
        self.public = httpx.AsyncClient(base_url=f"{self.gateway}/api/v1", timeout=30)
        self.state: dict[str, Any] = {}

    # -- HTTP ------------------------------------------------------------------------------------

    async def call(self, department: str, method: str, path: str, expect: int, public: bool = False, **kw: Any) -> Any:
        """One gateway call; `public` sends it without the token, as a browser on the web form would."""
        try:
            client = self.public if public else self.client
            response = await client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise CannotStart(
                f"cannot reach the gateway at {self.gateway} ({type(exc).__name__}): is `make dev` running?"
            ) from None
        if response.status_code != expect:
            try:
                problem = response.json()
                reason = problem.get("detail") or problem.get("title") or response.text
            except ValueError:
                reason = response.text[:300]
            raise DemoFailed(f"{department}: {method} /api/v1{path} answered {response.status_code}: {reason}")
        return response.json() if response.content else None

    async def until(self, department: str, what: str, check: Callable[[], Awaitable[Any]]) -> Any:
        """Poll the gateway until `check()` returns something; time out naming the department."""
        deadline = time.monotonic() + self.timeout
        while True:
            found = await check()
            if found:
                return found
            if time.monotonic() >= deadline:
                raise DemoFailed(f"timed out after {self.timeout:g} s waiting for {department}: {what}")
            await asyncio.sleep(0.2)

    async def order_status(self, *statuses: str) -> dict | None:
        order = await self.call("sales", "GET", f"/sales/orders/{self.state['order']}", 200)
        return order if order["status"] in statuses else None

    # -- the steps -------------------------------------------------------------------------------

    async def log_in(self) -> str:
        user, password = admin_login()
        try:
            response = await self.client.post("/auth/token", data={"username": user, "password": password})
        except httpx.HTTPError as exc:
            raise CannotStart(
                f"cannot reach the gateway at {self.gateway} ({type(exc).__name__}): is `make dev` running?"
            ) from None
        if response.status_code == 401:
            raise CannotStart(
                f"the gateway refused the login of {user!r}: "
                "set HANSE_ADMIN_PASSWORD to the password `make dev` printed"
            )
        if response.status_code != 200:
            raise CannotStart(
                f"gateway: POST /api/v1/auth/token answered {response.status_code}: {response.text[:300]}"
            )
        self.client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return f"as {user}"

    async def open_warehouse(self) -> str:
        code = f"HAM-{self.run_id}"
        await self.call(
            "logistics", "POST", "/logistics/warehouses", 201, json={"code": code, "name": "Hamburg", "country": "DE"}
        )
        self.state["warehouse"] = code
        return code

    async def add_product(self) -> str:
        sku = f"PUMP-{self.run_id}"
        body = {
            "sku": sku,
            "name": "Centrifugal pump CP-40",
            "hs_code": "8413.70",
            "origin_country": "DE",
            "unit_price": {"amount": "480.00", "currency": "EUR"},
            "unit_weight_kg": "38.5",
            "price_tiers": [{"min_quantity": 10, "unit_price": {"amount": "440.00", "currency": "EUR"}}],
        }
        await self.call("sales", "POST", "/sales/products", 201, json=body)
        self.state["sku"] = sku
        return f"{sku}, 480.00 EUR"

    async def receive_stock(self) -> str:
        body = {"sku": self.state["sku"], "warehouse": self.state["warehouse"], "quantity": 40}
        await self.call("logistics", "POST", "/logistics/stock/receipts", 201, json=body)
        return "40 units in Hamburg"

    async def launch_campaign(self) -> str:
        utm = f"hannover-{self.run_id.lower()}"
        body = {
            "name": "Hannover Messe",
            "channel": "trade_show",
            "budget": {"amount": "2500.00", "currency": "EUR"},
            "utm_campaign": utm,
        }
        campaign = await self.call("marketing", "POST", "/marketing/campaigns", 201, json=body)
        self.state.update(campaign=campaign["id"], utm=utm)
        return f"utm_campaign={utm}"

    async def capture_lead(self) -> str:
        body = {
            "company": f"Brooklyn Fluid Systems {self.run_id} Inc",
            "contact_name": "Jane Roe",
            "email": f"jane.roe+{self.run_id.lower()}@example.com",
            "country": "US",
            "language": "en",
            "message": "Please quote 12 pumps, CIF New York.",
            "utm": {"source": "hannover-messe", "medium": "booth", "campaign": self.state["utm"]},
            "consent_marketing": True,
        }
        lead = await self.call("marketing", "POST", "/marketing/leads", 202, json=body, public=True)
        self.state["lead"] = lead["id"]
        return lead["id"]

    async def lead_status(self, *statuses: str) -> dict | None:
        lead = await self.call("marketing", "GET", f"/marketing/leads/{self.state['lead']}", 200)
        if lead["status"] == "disqualified":
            raise DemoFailed(f"compliance blocked the lead: {lead.get('status_reason')}")
        return lead if lead["status"] in statuses else None

    async def lead_screened(self) -> str:
        async def check() -> dict | None:
            page = await self.call(
                "compliance", "GET", "/compliance/checks", 200, params={"subject_id": self.state["lead"]}
            )
            return page["items"][0] if page["items"] else None

        found = await self.until("compliance", "the screening of the lead", check)
        return f"{found['result']}: {'; '.join(found['reasons'])}"

    async def lead_qualified(self) -> str:
        await self.until("marketing", "the lead to be qualified", lambda: self.lead_status("qualified", "converted"))
        return "ready for sales"

    async def account_opened(self) -> str:
        async def account() -> dict | None:
            page = await self.call("sales", "GET", "/sales/accounts", 200, params={"lead_id": self.state["lead"]})
            return page["items"][0] if page["items"] else None

        found = await self.until("sales", "an account for the qualified lead", account)
        self.state["account"] = found["id"]
        return f"{found['payment_terms']}, {found['currency']}"

    async def lead_converted(self) -> str:
        await self.until("marketing", "the lead to be marked converted", lambda: self.lead_status("converted"))
        return "attributed to the campaign"

    async def issue_quote(self) -> str:
        body = {
            "account_id": self.state["account"],
            "currency": "USD",
            "incoterm": "CIF",
            "named_place": "New York",
            "destination_country": "US",
            "lines": [{"sku": self.state["sku"], "quantity": 12}],
        }
        quote = await self.call("sales", "POST", "/sales/quotes", 201, json=body)
        self.state["quote"] = quote["id"]
        freight, insurance = (quote.get(line) or {"amount": "0"} for line in ("freight", "insurance"))
        return f"{quote['total']['amount']} USD incl. freight {freight['amount']}, insurance {insurance['amount']}"

    async def accept_quote(self) -> str:
        order = await self.call("sales", "POST", f"/sales/quotes/{self.state['quote']}/accept", 201)
        self.state["order"] = order["id"]
        return order["id"]

    async def order_cleared(self) -> str:
        async def check() -> dict | None:
            page = await self.call(
                "compliance", "GET", "/compliance/checks", 200, params={"order_id": self.state["order"]}
            )
            decided = [c for c in page["items"] if c["result"] in ("clear", "blocked") or c["status"] == "open"]
            return decided[0] if decided else None

        found = await self.until("compliance", "the order check", check)
        if found["result"] != "clear":
            raise DemoFailed(f"compliance did not clear the order: {found['result']} ({'; '.join(found['reasons'])})")
        return "no embargo, no list match"

    async def stock_reserved(self) -> str:
        await self.until("logistics", "the stock reservation (order confirmed)", lambda: self.order_status("confirmed"))
        stock = await self.call("logistics", "GET", f"/logistics/stock/{self.state['sku']}", 200)
        return f"{stock['reserved']} of {stock['on_hand']} reserved"

    async def invoice_issued(self) -> str:
        async def invoice() -> dict | None:
            page = await self.call("finance", "GET", "/finance/invoices", 200, params={"order_id": self.state["order"]})
            return page["items"][0] if page["items"] else None

        found = await self.until("finance", "the proforma invoice", invoice)
        self.state["invoice"] = found
        return f"{found['number']}, {found['total']['amount']} {found['currency']}, {found['vat_treatment']}"

    async def pay_invoice(self) -> str:
        invoice = self.state["invoice"]
        body = {
            "invoice_id": invoice["id"],
            "amount": invoice["total"],
            "method": "bank_transfer",
            "reference": f"SWIFT {self.run_id}",
        }
        await self.call("finance", "POST", "/finance/payments", 201, json=body)

        async def paid() -> dict | None:
            found = await self.call("finance", "GET", f"/finance/invoices/{invoice['id']}", 200)
            return found if found["status"] == "paid" else None

        settled = await self.until("finance", "the invoice to be paid", paid)
        self.state["invoice"] = settled
        base = settled["total_base"]
        return f"= {base['amount']} {base['currency']} at the ECB rate of {settled['fx_rate_date'] or 'the day'}"

    async def shipment_booked(self) -> str:
        async def shipment() -> dict | None:
            page = await self.call(
                "logistics", "GET", "/logistics/shipments", 200, params={"order_id": self.state["order"]}
            )
            return page["items"][0] if page["items"] else None

        found = await self.until("logistics", "the shipment booking", shipment)
        self.state["shipment"] = found["id"]
        await self.until("sales", "the order to be ready to ship", lambda: self.order_status("ready_to_ship"))
        return f"{found['carrier']} by {found['mode']}, {found['tracking_number']}"

    async def track(self, *milestones: dict[str, str]) -> None:
        for milestone in milestones:
            path = f"/logistics/shipments/{self.state['shipment']}/tracking"
            await self.call("logistics", "POST", path, 201, json=milestone)

    async def shipped(self) -> str:
        async def documents() -> bool | None:
            # Logistics refuses the pick-up while a document compliance requires is missing.
            path = f"/logistics/shipments/{self.state['shipment']}/documents"
            page = await self.call("logistics", "GET", path, 200)
            return all(d["exists"] for d in page["items"]) or None

        await self.until("logistics", "the shipment's documents", documents)
        await self.track(
            {"status": "picked_up", "location": "Hamburg"}, {"status": "in_transit", "location": "Atlantic"}
        )
        await self.until("sales", "the order to be shipped", lambda: self.order_status("shipped"))
        return "picked up in Hamburg"

    async def delivered(self) -> str:
        await self.track({"status": "delivered", "location": "New York"})
        await self.until("sales", "the order to be completed", lambda: self.order_status("completed"))
        return "delivered and paid"

    async def revenue_credited(self) -> str:
        expected = Decimal(self.state["invoice"]["total_base"]["amount"])

        async def performance() -> dict | None:
            found = await self.call(
                "marketing", "GET", f"/marketing/campaigns/{self.state['campaign']}/performance", 200
            )
            return found if Decimal(found["revenue"]["amount"]) >= expected else None

        found = await self.until("marketing", "the paid revenue on the campaign", performance)
        return f"leads {found['leads']}, orders {found['orders']}, revenue {found['revenue']['amount']} EUR"

    # -- the walk --------------------------------------------------------------------------------

    def steps(self) -> list[Step]:
        return [
            Step("gateway", "log in as admin", "", self.log_in),
            Step("logistics", "open a warehouse", "", self.open_warehouse),
            Step("sales", "add a product to the catalogue", "sales.product.created", self.add_product),
            Step("logistics", "receive stock", "logistics.stock.received", self.receive_stock),
            Step("marketing", "launch a trade-show campaign", "marketing.campaign.created", self.launch_campaign),
            Step("marketing", "web form: lead captured", "marketing.lead.captured", self.capture_lead),
            Step("compliance", "screens the lead", "compliance.screening.completed", self.lead_screened),
            Step("marketing", "qualifies the lead", "marketing.lead.qualified", self.lead_qualified),
            Step("sales", "opens an account for the lead", "sales.account.created", self.account_opened),
            Step("marketing", "marks the lead converted", "marketing.lead.converted", self.lead_converted),
            Step("sales", "issues a quote, CIF New York", "sales.quote.issued", self.issue_quote),
            Step("sales", "the buyer accepts: order placed", "sales.order.placed", self.accept_quote),
            Step("compliance", "screens the order: cleared", "compliance.order.cleared", self.order_cleared),
            Step("logistics", "reserves stock: order confirmed", "logistics.stock.reserved", self.stock_reserved),
            Step("finance", "issues the proforma invoice", "finance.invoice.issued", self.invoice_issued),
            Step("finance", "the buyer pays: invoice paid", "finance.invoice.paid", self.pay_invoice),
            Step("logistics", "books the shipment: ready to ship", "logistics.shipment.booked", self.shipment_booked),
            Step("logistics", "carrier picks up: order shipped", "logistics.shipment.dispatched", self.shipped),
            Step("logistics", "delivered: order completed", "logistics.shipment.delivered", self.delivered),
            Step("marketing", "credits the paid revenue", "(campaign performance)", self.revenue_credited),
        ]

    async def run(self) -> int:
        display = self.display
        display.print(f"Hanse demo: the golden path through {self.gateway} (run {self.run_id})")
        display.print()
        started = time.monotonic()
        try:
            for number, step in enumerate(self.steps(), 1):
                try:
                    await display.run(step)
                except DemoFailed as exc:
                    display.print()
                    display.print(f"demo failed at step {number}, {step.department}: {step.title}")
                    display.print(f"  {exc}")
                    return exc.exit_code
        finally:
            await self.client.aclose()
            await self.public.aclose()
        display.print()
        display.print(
            f"Order {self.state['order']} completed in {time.monotonic() - started:.1f} s: "
            "every department acted on the previous one's event."
        )
        return 0


async def run_demo(gateway_url: str, out: TextIO | None = None) -> int:
    """Walk the golden path against a running platform; 0 when the order completes."""
    try:
        timeout = float(os.environ.get("HANSE_DEMO_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        raise ValueError("HANSE_DEMO_TIMEOUT must be a number of seconds") from None
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per step, not one per request
    return await Demo(gateway_url, out or sys.stdout, timeout).run()
