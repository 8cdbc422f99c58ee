"""The gateway's part of a privacy request: it answers from its user store on hanse.gateway."""

from __future__ import annotations

from datetime import date

from hanse.events import CloudEvent, make_event
from services.compliance.contract import PrivacyRequestOpened
from tests.support.gateway import run_gateway
from tests.support.kafka import eventually, read_all, send_raw

PASSWORD = "a-long-enough-password-1"
DUE = date(2030, 1, 1)


async def test_the_gateway_exports_and_erases_staff_users_with_that_address(settings):
    async with run_gateway(settings) as gw:
        admin = await gw.admin()
        for username in ("anna@example.com", "ben@example.com"):
            r = await gw.client.post(
                "/api/v1/auth/users",
                json={"username": username, "password": PASSWORD, "roles": ["sales"]},
                headers=admin,
            )
            assert r.status_code == 201, r.text
        assert (await gw.login("anna@example.com", PASSWORD)).status_code == 200

        answers = {}
        # One after the other: requests on different partitions may be handled in any order.
        for n, (request_id, kind) in enumerate((("prq_access", "access"), ("prq_erase", "erasure")), start=1):
            opened = PrivacyRequestOpened(request_id=request_id, kind=kind, email="Anna@Example.com", due=DUE)
            event = make_event(opened, source_department="compliance", correlation_id=request_id)
            topic = settings.topic("compliance")
            await send_raw(settings.kafka_bootstrap_servers, topic, event.to_json(), request_id.encode())
            records = await read_all(settings.kafka_bootstrap_servers, settings.topic("gateway"), expect=n)
            answers = {a.data["request_id"]: a for a in (CloudEvent.from_json(r.value) for r in records)}
        access, erasure = answers["prq_access"], answers["prq_erase"]
        assert access.type == "gateway.privacy_request.answered.v1" and access.source == "/hanse/gateway"
        assert access.correlationid == "prq_access"
        assert access.data["records"] == 1 and access.data["export"]["users"][0]["username"] == "anna@example.com"
        assert "password" not in str(access.data["export"])
        # The user, and the timeline's copies: at least the access request's own event names her
        # (the gateway's access answer, with its export, may have reached the timeline too).
        assert erasure.data["records"] == erasure.data["pseudonymised"] >= 2, erasure.data
        r = await gw.client.get("/api/v1/events", params={"limit": 200}, headers=admin)
        assert r.status_code == 200 and "anna@example.com" not in r.text.lower(), r.text

        async def erased():
            r = await gw.client.get("/api/v1/auth/users", params={"limit": 200}, headers=admin)
            names = [u["username"] for u in r.json()["items"]]
            return names if "anna@example.com" not in names else None

        names = await eventually(erased)
        assert "ben@example.com" in names and any(n.startswith("erased-") for n in names)
        assert (await gw.login("anna@example.com", PASSWORD)).status_code == 401
        assert (await gw.login("ben@example.com", PASSWORD)).status_code == 200
