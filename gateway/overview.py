"""Order overview: the order, its compliance checks, invoices, payments, shipments and timeline in one answer.

The departments are asked in parallel through the gateway's pooled upstream client; a department
that is down or slow turns only its own sections into `{"status": "unavailable", ...}`, so the
answer is still a 200. The timeline comes from the gateway's own store, once the gateway's consumer
has handled everything published before the request (`Consumer.caught_up`, bounded).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any
from urllib.parse import quote

import aiohttp
import orjson
from fastapi import APIRouter, FastAPI, Path, Request
from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.events import timeline_of
from gateway.models.events import TimelineEntry
from hanse.auth import Principal, issue_token, require_roles
from hanse.errors import NotFound, Unavailable

router = APIRouter(tags=["orders"])

# Staff who follow orders; the gateway itself reads every department on their behalf.
OverviewReader = Annotated[Principal, require_roles("sales", "compliance", "finance", "logistics")]
OrderId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]

SERVICE_SUBJECT = "service:gateway"
# Read access to every section: orders, checks and invoices (sales), payments (finance), shipments (sales).
SERVICE_ROLES = ("sales", "finance")
MAX_PAGES = 5


class OverviewSettings(BaseSettings):
    """env HANSE_OVERVIEW_*."""

    model_config = SettingsConfigDict(env_prefix="HANSE_OVERVIEW_", extra="ignore")

    timeout_seconds: float = 5.0
    # How long the timeline may wait for the gateway's consumer to handle what was already published
    # (measured on the dev broker: a platform's fresh consumer group starts consuming about 4 s after start).
    timeline_wait_seconds: float = 5.0


def overview_settings(app: FastAPI) -> OverviewSettings:
    """The overview's settings, read from the environment once per app (not on every request)."""
    tuning = getattr(app.state, "overview_settings", None)
    if tuning is None:
        tuning = app.state.overview_settings = OverviewSettings()
    return tuning


class SectionUnavailable(BaseModel):
    status: str = "unavailable"
    department: str
    detail: str


class OrderOverview(BaseModel):
    order: dict[str, Any] | SectionUnavailable
    compliance: list[dict[str, Any]] | SectionUnavailable
    invoices: list[dict[str, Any]] | SectionUnavailable
    payments: list[dict[str, Any]] | SectionUnavailable
    shipments: list[dict[str, Any]] | SectionUnavailable
    timeline: list[TimelineEntry] | SectionUnavailable
    # Departments whose sections could not be filled (empty when the overview is complete).
    degraded: list[str]


class _Missing(Exception):
    pass


class _Down(Exception):
    def __init__(self, department: str, detail: str) -> None:
        super().__init__(detail)
        self.section = SectionUnavailable(department=department, detail=detail)


class DepartmentReader:
    """GETs from the departments with a short-lived service token; failures become `_Down`."""

    def __init__(self, app: FastAPI, request_id: str | None) -> None:
        proxy = app.state.proxy
        self.session: aiohttp.ClientSession = proxy.session
        self.upstreams: dict[str, str] = proxy.upstreams
        tuning = overview_settings(app)
        self.timeout = aiohttp.ClientTimeout(
            total=tuning.timeout_seconds, sock_connect=min(3.0, tuning.timeout_seconds)
        )
        self.seconds = tuning.timeout_seconds
        self.headers = {
            "Authorization": f"Bearer {_service_token(app)}",
            "Accept": "application/json",
            "Accept-Encoding": "identity",  # the upstream session does not decompress
        }
        if request_id:
            self.headers["X-Request-ID"] = request_id

    async def get(self, department: str, path: str, params: dict[str, str] | None = None) -> Any:
        url = self.upstreams[department] + path
        try:
            async with self.session.get(url, params=params, headers=self.headers, timeout=self.timeout) as response:
                body = await response.read()
                status = response.status
        except TimeoutError:
            raise _Down(department, f"{department} did not answer within {self.seconds:g} s") from None
        except aiohttp.ClientConnectorError:
            raise _Down(department, f"{department} is unreachable") from None
        except aiohttp.ClientError as exc:
            raise _Down(department, f"{department} sent an invalid response ({type(exc).__name__})") from None
        if status == 404 and department == "sales":
            raise _Missing
        if status != 200:
            raise _Down(department, f"{department} answered {status}")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _Down(department, f"{department} sent an invalid response (not JSON)") from None

    async def items(self, department: str, path: str, order_id: str) -> list[dict[str, Any]]:
        """Every item of a paginated list filtered by order (a handful per order; bounded anyway)."""
        params = {"order_id": order_id, "limit": "200"}
        found: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            page = await self.get(department, path, params)
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise _Down(department, f"{department} sent an invalid response (not a page)")
            found += page["items"]
            if not page.get("next_cursor"):
                break
            params = {**params, "cursor": str(page["next_cursor"])}
        return found


def _service_token(app: FastAPI) -> str:
    """A service token, reused until it has less than a minute left."""
    cached = getattr(app.state, "overview_token", None)
    now = time.monotonic()
    if cached is not None and cached[1] - now > 60:
        return cached[0]
    token, ttl = issue_token(SERVICE_SUBJECT, list(SERVICE_ROLES), app.state.settings, ttl_seconds=300)
    app.state.overview_token = (token, now + ttl)
    return token


async def _section(work: Any) -> Any:
    try:
        return await work
    except _Down as down:
        return down.section


async def _timeline(app: FastAPI, order_id: str) -> list[TimelineEntry] | SectionUnavailable:
    # Read-your-writes: every event published before this request is in the timeline, so an order
    # sales already shows as completed has its whole history here. Bounded: a consumer far behind
    # (a burst, a rebalance) costs at most the wait, and the timeline then shows what it has.
    consumer = getattr(app.state, "timeline_consumer", None)
    if consumer is not None:
        await consumer.caught_up(overview_settings(app).timeline_wait_seconds)
    try:
        return await timeline_of(app.state.db, order_id)
    except Exception as exc:  # the gateway's own database: still answer with what the departments said
        return SectionUnavailable(department="gateway", detail=f"timeline unavailable ({type(exc).__name__})")


@router.get(
    "/api/v1/orders/{order_id}/overview",
    summary="Everything about one order, from every department, in one answer",
    responses={
        404: {"description": "no such order"},
        503: {"description": "sales is down and the timeline does not know the order"},
    },
)
async def order_overview(order_id: OrderId, request: Request, _: OverviewReader) -> OrderOverview:
    app = request.app
    reader = DepartmentReader(app, request.scope.get("state", {}).get("request_id"))
    oid = quote(order_id, safe="")
    order_task = asyncio.ensure_future(reader.get("sales", f"/api/v1/sales/orders/{oid}"))
    compliance, invoices, payments, shipments, timeline = await asyncio.gather(
        _section(reader.items("compliance", "/api/v1/compliance/checks", order_id)),
        _section(reader.items("finance", "/api/v1/finance/invoices", order_id)),
        _section(reader.items("finance", "/api/v1/finance/payments", order_id)),
        _section(reader.items("logistics", "/api/v1/logistics/shipments", order_id)),
        _timeline(app, order_id),
    )
    try:
        order = await order_task
    except _Missing:
        raise NotFound(f"no order {order_id}", field="order_id") from None
    except _Down as down:
        if isinstance(timeline, list) and not timeline:
            # Without sales and without a single event we cannot even tell whether the order exists.
            raise Unavailable(
                f"{down.section.detail}; cannot tell whether order {order_id} exists", department="sales"
            ) from None
        order = down.section
    sections = (order, compliance, invoices, payments, shipments, timeline)
    degraded = sorted({s.department for s in sections if isinstance(s, SectionUnavailable)})
    return OrderOverview(
        order=order,
        compliance=compliance,
        invoices=invoices,
        payments=payments,
        shipments=shipments,
        timeline=timeline,
        degraded=degraded,
    )


async def start(app: FastAPI) -> None:
    """Nothing to start: the overview uses the gateway's upstream client."""


async def stop(app: FastAPI) -> None:
    """Nothing to stop."""
