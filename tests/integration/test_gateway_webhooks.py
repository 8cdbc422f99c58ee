"""Partner webhooks on the real broker and databases, delivered to a real HTTP receiver in this process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from gateway.webhooks import WebhookSettings
from hanse.settings import Settings
from services.finance.contract import InvoiceVoided
from services.sales.contract import OrderCancelled
from tests.conftest import free_port
from tests.integration.test_gateway_events import (
    RunningGateway,
    gateway_settings,
    running_gateway,
    sqlite_gateway_settings,
    status_changed,
)
from tests.support.kafka import eventually

FAST = WebhookSettings(retry_schedule=[0.3, 0.3], poll_seconds=0.1, timeout_seconds=3, disable_after_failures=2)


class Receiver:
    """A partner's webhook endpoint: answers with the next status from `answers` (the last one repeats)."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = list(answers)
        self.received: list[tuple[bytes, dict[str, str]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((await request.read(), dict(request.headers)))
        status = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return web.Response(status=status, text="ok" if status < 300 else "nope")


@asynccontextmanager
async def receiver(*answers: int) -> AsyncIterator[tuple[Receiver, str]]:
    hook = Receiver(list(answers) or [200])
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield hook, f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


def dev(settings: Settings, tmp_path: Path) -> Settings:
    # In dev, loopback targets are allowed: the receiver runs on 127.0.0.1.
    return gateway_settings(settings, env="dev", data_dir=tmp_path)


async def subscribe(gw: RunningGateway, url: str, events: list[str], partner: str = "forwarder") -> dict[str, Any]:
    r = await gw.client.post(
        "/api/v1/webhooks", json={"url": url, "events": events}, headers=gw.auth("partner", subject=partner)
    )
    assert r.status_code == 201, r.text
    return r.json()


async def attempts(gw: RunningGateway, webhook_id: str, partner: str = "forwarder") -> list[dict[str, Any]]:
    r = await gw.client.get(
        f"/api/v1/webhooks/{webhook_id}/deliveries",
        params={"limit": 200},
        headers=gw.auth("partner", subject=partner),
    )
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_partner_receives_signed_cloudevents_and_verifies_them_with_standardwebhooks(settings, tmp_path):
    async with (
        running_gateway(dev(settings, tmp_path), state={"webhook_settings": FAST}) as gw,
        receiver() as (
            hook,
            url,
        ),
    ):
        earlier = await gw.publish(status_changed("ord-wh-0"))
        await eventually(lambda: _stored(gw, earlier.id))
        created = await subscribe(gw, url, ["sales.order.", "sales.order.placed.v1"])
        assert created["secret"].startswith("whsec_") and created["status"] == "active"
        assert created["url"] == url and created["events"] == ["sales.order.", "sales.order.placed.v1"]
        assert created["id"].startswith("wh_")

        wanted = await gw.publish(status_changed("ord-wh-1"))
        await gw.publish(InvoiceVoided(invoice_id="inv-wh", order_id="ord-wh-1", reason="x"))  # not subscribed
        await eventually(lambda: _received(hook, 1))
        await asyncio.sleep(1.0)  # nothing else may follow: no earlier event, no unsubscribed type
        assert len(hook.received) == 1
        body, headers = hook.received[0]
        assert Webhook(created["secret"]).verify(body, headers) == json.loads(wanted.to_json())
        assert headers["Content-Type"] == "application/cloudevents+json"
        assert headers["webhook-id"].startswith("msg_")
        assert headers["webhook-signature"].startswith("v1,")
        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + "QUJD" * 8).verify(body, headers)  # another secret does not verify
        with pytest.raises(WebhookVerificationError):
            Webhook(created["secret"]).verify(body.replace(b"ord-wh-1", b"ord-wh-2"), headers)  # nor a changed body

        log = await attempts(gw, created["id"])
        assert [(a["event_id"], a["attempt"], a["status_code"], a["state"]) for a in log] == [
            (wanted.id, 1, 200, "delivered")
        ]
        assert log[0]["event_type"] == "sales.order.status_changed.v1" and log[0]["next_attempt_at"] is None
        assert log[0]["delivery_id"] == headers["webhook-id"]


async def _stored(gw: RunningGateway, event_id: str) -> bool:
    return any(i["event"]["id"] == event_id for i in await gw.timeline())


async def _received(hook: Receiver, n: int) -> bool:
    return len(hook.received) >= n


async def test_a_500_is_retried_until_a_200_and_a_400_is_not_retried(settings, tmp_path):
    async with (
        running_gateway(dev(settings, tmp_path), state={"webhook_settings": FAST}) as gw,
        receiver(500, 200) as (flaky, flaky_url),
        receiver(400) as (strict, strict_url),
    ):
        retried = await subscribe(gw, flaky_url, ["sales.order.cancelled.v1"])
        refused = await subscribe(gw, strict_url, ["sales.order.cancelled.v1"])
        event = await gw.publish(OrderCancelled(order_id="ord-wh-2", previous_status="placed"))
        await eventually(lambda: _received(flaky, 2))
        await eventually(lambda: _received(strict, 1))
        await asyncio.sleep(1.2)  # longer than the whole retry schedule: the 400 is not tried again
        assert len(flaky.received) == 2 and len(strict.received) == 1
        # A retry is the same message: same webhook-id, a fresh signature that still verifies.
        assert flaky.received[0][1]["webhook-id"] == flaky.received[1][1]["webhook-id"]
        for body, headers in flaky.received:
            assert Webhook(retried["secret"]).verify(body, headers)["id"] == event.id

        log = await attempts(gw, retried["id"])
        assert [(a["attempt"], a["status_code"], a["state"]) for a in log] == [
            (1, 500, "retrying"),
            (2, 200, "delivered"),
        ]
        assert log[0]["next_attempt_at"] is not None and log[0]["error"] == "endpoint answered 500"
        log = await attempts(gw, refused["id"])
        assert [(a["attempt"], a["status_code"], a["state"]) for a in log] == [(1, 400, "failed")]
        r = await gw.client.get(f"/api/v1/webhooks/{refused['id']}", headers=gw.auth("partner", subject="forwarder"))
        assert r.json()["status"] == "active" and r.json()["consecutive_failures"] == 1


async def test_an_endpoint_that_keeps_failing_is_disabled_and_gets_nothing_more(settings, tmp_path):
    async with (
        running_gateway(dev(settings, tmp_path), state={"webhook_settings": FAST}) as gw,
        receiver(503) as (down, url),
    ):
        created = await subscribe(gw, url, ["sales."])
        await gw.publish(status_changed("ord-wh-3"))
        await gw.publish(status_changed("ord-wh-4"))
        headers = gw.auth("partner", subject="forwarder")

        async def disabled():
            body = (await gw.client.get(f"/api/v1/webhooks/{created['id']}", headers=headers)).json()
            return body if body["status"] == "disabled" else None

        endpoint = await eventually(disabled)
        assert endpoint["disabled_reason"] == "2 deliveries in a row failed" and endpoint["disabled_at"]
        log = await attempts(gw, created["id"])
        assert {a["state"] for a in log} == {"retrying", "failed"}
        assert sum(a["state"] == "failed" for a in log) == 2 and all(a["status_code"] == 503 for a in log)
        seen = len(down.received)
        later = await gw.publish(status_changed("ord-wh-5"))
        await eventually(lambda: _stored(gw, later.id))
        await asyncio.sleep(1.0)
        assert len(down.received) == seen


async def test_a_retry_owed_before_a_restart_is_delivered_after_it(settings, tmp_path):
    slow = WebhookSettings(retry_schedule=[2.0], poll_seconds=0.1, timeout_seconds=3)
    config = dev(settings, tmp_path)
    async with receiver(500, 200) as (hook, url):
        async with running_gateway(config, state={"webhook_settings": slow}) as gw:
            created = await subscribe(gw, url, ["sales.order.status_changed.v1"])
            event = await gw.publish(status_changed("ord-wh-6"))
            await eventually(lambda: _received(hook, 1))
            await eventually(lambda: _logged(gw, created["id"], 1))
        assert len(hook.received) == 1  # the gateway stopped before the retry was due
        async with running_gateway(config, state={"webhook_settings": slow}) as gw:
            await eventually(lambda: _received(hook, 2))
            await eventually(lambda: _logged(gw, created["id"], 2))
            log = await attempts(gw, created["id"])
            assert [(a["attempt"], a["state"]) for a in log] == [(1, "retrying"), (2, "delivered")]
            assert Webhook(created["secret"]).verify(*hook.received[1])["id"] == event.id
            listed = await gw.client.get("/api/v1/webhooks", headers=gw.auth("partner", subject="forwarder"))
            assert [w["id"] for w in listed.json()["items"]] == [created["id"]]


async def _logged(gw: RunningGateway, webhook_id: str, n: int) -> bool:
    return len(await attempts(gw, webhook_id)) >= n


@pytest.fixture
def sqlite_settings(broker, tmp_path) -> Settings:
    return sqlite_gateway_settings(broker.bootstrap, tmp_path)


TEST_ONLY = WebhookSettings(poll_seconds=0.1, allowed_networks=["127.0.0.2/32"])


REFUSED_OUTSIDE_DEV = [
    "http://127.0.0.1:9/hook",
    "http://localhost/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/hook",
    "http://[::ffff:10.0.0.1]/hook",
    "http://[fe80::1]/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "ftp://example.com/hook",
    "http://user:secret@127.0.0.2/hook",
    "not a url",
    "http:///hook",
]


async def test_webhook_targets_outside_public_addresses_are_refused_outside_dev(sqlite_settings):
    async with running_gateway(sqlite_settings, state={"webhook_settings": TEST_ONLY}) as gw:
        headers = gw.auth("partner", subject="forwarder")
        for url in REFUSED_OUTSIDE_DEV:
            r = await gw.client.post("/api/v1/webhooks", json={"url": url, "events": ["sales."]}, headers=headers)
            assert r.status_code == 422, (url, r.text)
            assert r.headers["content-type"] == "application/problem+json" and r.json()["field"] == "url", url
        assert (await gw.client.get("/api/v1/webhooks", headers=headers)).json()["items"] == []


async def test_partners_see_only_their_own_webhooks_and_bad_requests_change_nothing(sqlite_settings):
    async with running_gateway(sqlite_settings, state={"webhook_settings": TEST_ONLY}) as gw:
        c = gw.client
        # An operator-allowed network is accepted outside dev.
        mine = await subscribe(gw, "http://127.0.0.2:9/hook", ["logistics."], partner="forwarder")
        theirs = await subscribe(gw, "http://127.0.0.2:9/other", ["*"], partner="marketplace")
        me = gw.auth("partner", subject="forwarder")
        assert [w["id"] for w in (await c.get("/api/v1/webhooks", headers=me)).json()["items"]] == [mine["id"]]
        assert "secret" not in (await c.get(f"/api/v1/webhooks/{mine['id']}", headers=me)).json()
        for path in (f"/api/v1/webhooks/{theirs['id']}", f"/api/v1/webhooks/{theirs['id']}/deliveries"):
            r = await c.get(path, headers=me)
            assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
        assert (await c.delete(f"/api/v1/webhooks/{theirs['id']}", headers=me)).status_code == 404
        admin = (await c.get("/api/v1/webhooks", headers=gw.auth("admin"))).json()["items"]
        assert {w["id"] for w in admin} == {mine["id"], theirs["id"]}
        assert (await c.get("/api/v1/webhooks", headers=gw.auth("sales"))).status_code == 403
        assert (await c.get("/api/v1/webhooks")).status_code == 401

        for body, field in (
            ({"url": "http://127.0.0.2/h", "events": []}, "events"),
            ({"url": "http://127.0.0.2/h", "events": ["sales.order.teleported.v1"]}, "events.0"),
            ({"url": "http://127.0.0.2/h", "events": ["sales.", "nothing."]}, "events.1"),
            ({"url": "http://127.0.0.2/h", "events": ["Sales.Order"]}, "events.0"),
            ({"events": ["sales."]}, "url"),
            ({"url": "http://127.0.0.2/h"}, "events"),
        ):
            r = await c.post("/api/v1/webhooks", json=body, headers=me)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["field"] == field, (body, r.json())
        r = await c.post("/api/v1/webhooks", content=b"{nope", headers={**me, "content-type": "application/json"})
        assert r.status_code == 400
        assert (await c.get("/api/v1/webhooks/wh-../x", headers=me)).status_code == 404
        r = await c.get(f"/api/v1/webhooks/{mine['id']}/deliveries", params={"cursor": "YWJj"}, headers=me)
        assert r.status_code == 422 and r.json()["field"] == "cursor"
        assert [w["id"] for w in (await c.get("/api/v1/webhooks", headers=me)).json()["items"]] == [mine["id"]]

        assert (await c.delete(f"/api/v1/webhooks/{mine['id']}", headers=me)).status_code == 204
        assert (await c.get(f"/api/v1/webhooks/{mine['id']}", headers=me)).status_code == 404
        assert (await c.get("/api/v1/webhooks", headers=me)).json()["items"] == []


# -- re-enable, rotate the secret, redeliver -----------------------------------------------------------


async def messages(
    gw: RunningGateway, webhook_id: str, partner: str = "forwarder", **params: str
) -> list[dict[str, Any]]:
    r = await gw.client.get(
        f"/api/v1/webhooks/{webhook_id}/messages",
        params={"limit": 200, **params},
        headers=gw.auth("partner", subject=partner),
    )
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_a_disabled_endpoint_is_enabled_again_and_a_failed_delivery_is_redelivered(settings, tmp_path):
    # Two events, three attempts each (FAST: two retries), all refused: disabled after the second.
    async with (
        running_gateway(dev(settings, tmp_path), state={"webhook_settings": FAST}) as gw,
        receiver(*[503] * 6, 200) as (hook, url),
    ):
        created = await subscribe(gw, url, ["sales.order.status_changed.v1"])
        first = await gw.publish(status_changed("ord-wh-en-1"))
        await gw.publish(status_changed("ord-wh-en-2"))
        me = gw.auth("partner", subject="forwarder")
        path = f"/api/v1/webhooks/{created['id']}"

        async def disabled():
            body = (await gw.client.get(path, headers=me)).json()
            return body if body["status"] == "disabled" else None

        await eventually(disabled)
        for status, listed in (("disabled", True), ("active", False)):
            r = await gw.client.get("/api/v1/webhooks", params={"status": status}, headers=me)
            assert (created["id"] in {w["id"] for w in r.json()["items"]}) == listed, status
        failed = await messages(gw, created["id"], state="failed")
        assert len(failed) == 2 and all(m["attempts"] == 3 for m in failed)
        assert all(m["last_status_code"] == 503 and m["last_error"] == "endpoint answered 503" for m in failed)
        assert [m["event_seq"] for m in failed] == sorted((m["event_seq"] for m in failed), reverse=True)
        # Redelivering while the endpoint is disabled is refused: nothing would send it.
        target = next(m for m in failed if m["event_id"] == first.id)
        r = await gw.client.post(f"{path}/deliveries/{target['id']}/redeliver", headers=me)
        assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"

        r = await gw.client.post(f"{path}/enable", headers=me)
        assert r.status_code == 200, r.text
        enabled = r.json()
        assert enabled["status"] == "active" and enabled["consecutive_failures"] == 0
        assert (
            enabled["disabled_at"] is None and enabled["disabled_reason"] is None and enabled["failing_since"] is None
        )
        assert "secret" not in enabled
        again = await gw.client.post(f"{path}/enable", headers=me)  # enabling an enabled one: a no-op
        assert again.status_code == 200 and again.json() == enabled
        # Enabling sends nothing by itself: the given-up deliveries stay failed until redelivered.
        await asyncio.sleep(1.0)
        assert len(hook.received) == 6

        r = await gw.client.post(f"{path}/deliveries/{target['id']}/redeliver", headers=me)
        assert r.status_code == 202, r.text
        assert r.json()["state"] == "pending" and r.json()["id"] == target["id"]
        await eventually(lambda: _received(hook, 7))
        body, headers = hook.received[6]
        assert headers["webhook-id"] == target["id"]  # the same message, signed afresh
        assert Webhook(created["secret"]).verify(body, headers)["id"] == first.id

        async def delivered():
            found = {m["id"]: m for m in await messages(gw, created["id"])}[target["id"]]
            return found if found["state"] == "delivered" else None

        done = await eventually(delivered)
        assert done["attempts"] == 4 and done["last_status_code"] == 200 and done["last_error"] is None
        log = [a for a in await attempts(gw, created["id"]) if a["delivery_id"] == target["id"]]
        assert [(a["attempt"], a["status_code"], a["state"]) for a in log][-1] == (4, 200, "delivered")
        # A delivered one is not sent again; the other failed one is still failed.
        r = await gw.client.post(f"{path}/deliveries/{target['id']}/redeliver", headers=me)
        assert r.status_code == 409 and "was delivered" in r.json()["detail"]
        assert [m["state"] for m in await messages(gw, created["id"]) if m["id"] != target["id"]] == ["failed"]
        # And new events reach the endpoint again.
        later = await gw.publish(status_changed("ord-wh-en-3"))
        await eventually(lambda: _received(hook, 8))
        assert Webhook(created["secret"]).verify(*hook.received[7])["id"] == later.id


async def test_a_rotated_secret_signs_the_next_deliveries_and_the_old_one_no_longer_verifies(settings, tmp_path):
    async with (
        running_gateway(dev(settings, tmp_path), state={"webhook_settings": FAST}) as gw,
        receiver() as (hook, url),
    ):
        created = await subscribe(gw, url, ["sales.order.status_changed.v1"])
        me = gw.auth("partner", subject="forwarder")
        before = await gw.publish(status_changed("ord-wh-rot-1"))
        await eventually(lambda: _received(hook, 1))
        assert Webhook(created["secret"]).verify(*hook.received[0])["id"] == before.id

        r = await gw.client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret", headers=me)
        assert r.status_code == 200, r.text
        rotated = r.json()
        assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
        assert rotated["id"] == created["id"] and rotated["status"] == "active"
        # Shown once: reading the endpoint never shows it.
        assert "secret" not in (await gw.client.get(f"/api/v1/webhooks/{created['id']}", headers=me)).json()

        after = await gw.publish(status_changed("ord-wh-rot-2"))
        await eventually(lambda: _received(hook, 2))
        body, headers = hook.received[1]
        assert Webhook(rotated["secret"]).verify(body, headers)["id"] == after.id
        with pytest.raises(WebhookVerificationError):
            Webhook(created["secret"]).verify(body, headers)


async def test_enable_rotate_and_redeliver_refuse_bad_ids_wrong_roles_and_other_partners(sqlite_settings):
    async with running_gateway(sqlite_settings, state={"webhook_settings": TEST_ONLY}) as gw:
        c = gw.client
        mine = await subscribe(gw, "http://127.0.0.2:9/hook", ["logistics."], partner="forwarder")
        theirs = await subscribe(gw, "http://127.0.0.2:9/other", ["*"], partner="marketplace")
        me = gw.auth("partner", subject="forwarder")
        for path in (
            f"/api/v1/webhooks/{theirs['id']}/enable",
            f"/api/v1/webhooks/{theirs['id']}/rotate-secret",
            f"/api/v1/webhooks/{theirs['id']}/deliveries/msg_0123/redeliver",
            "/api/v1/webhooks/wh_nope/enable",
            "/api/v1/webhooks/wh_nope/rotate-secret",
            "/api/v1/webhooks/wh_nope/deliveries/msg_0123/redeliver",
            f"/api/v1/webhooks/{mine['id']}/deliveries/msg_nope/redeliver",
        ):
            r = await c.post(path, headers=me)
            assert r.status_code == 404, (path, r.text)
            assert r.headers["content-type"] == "application/problem+json", path
        for path in (f"/api/v1/webhooks/{theirs['id']}/messages", "/api/v1/webhooks/wh_nope/messages"):
            r = await c.get(path, headers=me)
            assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json", path
        for path in (f"/api/v1/webhooks/{mine['id']}/enable", f"/api/v1/webhooks/{mine['id']}/rotate-secret"):
            r = await c.post(path, headers=gw.auth("sales"))
            assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json", path
            assert (await c.post(path)).status_code == 401, path
        r = await c.get(f"/api/v1/webhooks/{mine['id']}/messages", params={"state": "lost"}, headers=me)
        assert r.status_code == 422
        r = await c.get(f"/api/v1/webhooks/{mine['id']}/messages", params={"cursor": "YWJj"}, headers=me)
        assert r.status_code == 422 and r.json()["field"] == "cursor"
        assert await messages(gw, mine["id"]) == []
        # Admin manages every partner's endpoints.
        r = await c.post(f"/api/v1/webhooks/{theirs['id']}/rotate-secret", headers=gw.auth("admin"))
        assert r.status_code == 200 and r.json()["secret"] != theirs["secret"]
        r = await c.post(f"/api/v1/webhooks/{theirs['id']}/enable", headers=gw.auth("admin"))
        assert r.status_code == 200 and r.json()["status"] == "active"
