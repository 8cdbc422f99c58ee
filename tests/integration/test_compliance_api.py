"""Compliance HTTP edges: roles, bad input on every endpoint (problem+json naming the field), nothing changed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from services.marketing.contract import LeadCaptured
from tests.support.kafka import eventually
from tests.support.service import run_service

API = "/api/v1/compliance"
PROBLEM = "application/problem+json"


def assert_problem(r, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    if field is not None:
        assert body.get("field") == field, body
    return body


async def test_roles_and_bad_input_on_every_endpoint(settings):
    async with run_service("compliance", settings) as svc:
        c = svc.client
        officer, sales, marketing = svc.auth("compliance"), svc.auth("sales"), svc.auth("marketing")
        admin = svc.auth("admin")

        # -- 401 without a token, 403 with the wrong role ------------------------------------------
        routes = [
            ("POST", "/watchlist"),
            ("GET", "/watchlist"),
            ("DELETE", "/watchlist/wl_x"),
            ("POST", "/sanctions/import"),
            ("GET", "/sanctions"),
            ("GET", "/checks"),
            ("GET", "/checks/chk_x"),
            ("GET", "/reviews"),
            ("POST", "/checks/chk_x/decision"),
            ("GET", "/audit"),
            ("GET", "/audit/verify"),
            ("GET", "/sanctions/imports/imp_x"),
            ("POST", "/export-controls"),
            ("POST", "/licences"),
        ]
        for method, path in routes:
            assert_problem(await c.request(method, API + path), 401)
            assert_problem(await c.request(method, API + path, headers=marketing), 403)
        for method, path in routes:
            if path.startswith("/checks") and method == "GET":
                continue  # sales reads checks
            assert_problem(await c.request(method, API + path, headers=sales), 403)
        assert (await c.get(f"{API}/checks", headers=sales)).status_code == 200
        assert_problem(await c.get(f"{API}/checks/chk_x", headers=sales), 404, "check_id")
        assert (await c.get(f"{API}/audit", headers=admin)).status_code == 200

        # -- watchlist ------------------------------------------------------------------------------
        bad_entries = [
            ({"country": "DE", "reason": "r"}, "name"),
            ({"name": "   ", "reason": "r"}, "name"),
            ({"name": "x" * 201, "reason": "r"}, "name"),
            ({"name": "GmbH!!", "reason": "r", "country": "XX"}, "country"),
            ({"name": "Acme", "reason": "r", "country": 7}, "country"),
            ({"name": "Acme"}, "reason"),
            ({"name": "Acme", "reason": ""}, "reason"),
            ({"name": "Acme", "reason": "r", "colour": "red"}, "colour"),
            ({"name": "...", "reason": "r"}, "name"),
        ]
        for body, field in bad_entries:
            assert_problem(await c.post(f"{API}/watchlist", json=body, headers=officer), 422, field)
        r = await c.post(
            f"{API}/watchlist", content=b"{not json", headers={**officer, "content-type": "application/json"}
        )
        assert_problem(r, 400)
        assert (await c.get(f"{API}/watchlist", headers=officer)).json()["items"] == []
        assert_problem(await c.delete(f"{API}/watchlist/wl_unknown", headers=officer), 404, "entry_id")
        assert_problem(await c.get(f"{API}/watchlist", params={"limit": 0}, headers=officer), 422, "query.limit")

        ids = []
        for name in ("Acme Trading GmbH", "Globex S.A.", "Initech Ltd"):
            r = await c.post(
                f"{API}/watchlist", json={"name": name, "reason": "test", "country": "de"}, headers=officer
            )
            assert r.status_code == 201 and r.json()["country"] == "DE"
            ids.append(r.json()["id"])
        first = (await c.get(f"{API}/watchlist", params={"limit": 2}, headers=officer)).json()
        assert [e["id"] for e in first["items"]] == ids[:2] and first["next_cursor"]
        second = (
            await c.get(f"{API}/watchlist", params={"limit": 2, "cursor": first["next_cursor"]}, headers=officer)
        ).json()
        assert [e["id"] for e in second["items"]] == ids[2:] and second["next_cursor"] is None
        assert (await c.delete(f"{API}/watchlist/{ids[2]}", headers=officer)).status_code == 204
        assert_problem(await c.delete(f"{API}/watchlist/{ids[2]}", headers=officer), 404)

        # -- sanctions import -----------------------------------------------------------------------
        async def sanctions_count() -> int:
            r = await c.get(f"{API}/sanctions", params={"limit": 200}, headers=officer)
            return len(r.json()["items"])

        assert await sanctions_count() == 21
        csv_headers = {**officer, "Content-Type": "text/csv"}
        bad_imports = [
            (b"id,schema,name,countries\nz1,Company,Zed,de\n", "aliases"),
            (b"schema,name,aliases,countries\nCompany,Zed,,de\n", "id"),
            (b"", "file"),
            (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "file"),
        ]
        for body, field in bad_imports:
            r = await c.post(f"{API}/sanctions/import", content=body, headers=csv_headers)
            problem = assert_problem(r, 422, field)
            if field != "file":
                assert field in problem["detail"]
            r = await c.post(f"{API}/sanctions/import", files={"file": ("list.csv", body)}, headers=officer)
            assert_problem(r, 422, field)
        r = await c.post(f"{API}/sanctions/import", files={"other": ("list.csv", b"x")}, headers=officer)
        assert_problem(r, 422, "file")
        r = await c.post(
            f"{API}/sanctions/import", json={"id": "z1"}, headers={**officer, "Content-Type": "application/json"}
        )
        assert_problem(r, 415)
        r = await c.post(f"{API}/sanctions/import", params={"replace": "maybe"}, content=b"x", headers=csv_headers)
        assert_problem(r, 422, "query.replace")
        assert_problem(await c.get(f"{API}/sanctions/imports/imp_nope", headers=officer), 404, "import_id")
        assert await sanctions_count() == 21
        r = await c.get(f"{API}/audit", params={"action": "sanctions_imported"}, headers=officer)
        assert len(r.json()["items"]) == 1, "only the startup load: a refused upload changes nothing"

        # Replace mode keeps only what the file holds.
        csv = b"id,schema,name,aliases,countries\nhanse-fict-001,Company,Zyvorra Renamed Ltd,,gb\n"
        r = await c.post(f"{API}/sanctions/import", params={"replace": "true"}, content=csv, headers=csv_headers)
        assert r.status_code == 202 and r.json()["status"] == "pending", r.text

        async def completed():
            job = (await c.get(f"{API}/sanctions/imports/{r.json()['id']}", headers=officer)).json()
            return job if job["status"] == "completed" else None

        job = await eventually(completed)
        assert (job["entities"], job["skipped"], job["rejected"], job["removed"]) == (1, 0, 0, 20)
        items = (await c.get(f"{API}/sanctions", headers=officer)).json()["items"]
        assert [(e["id"], e["name"], e["countries"]) for e in items] == [
            ("hanse-fict-001", "Zyvorra Renamed Ltd", ["GB"])
        ]

        # -- checks and decisions -----------------------------------------------------------------
        for params, field in [
            ({"result": "maybe"}, "query.result"),
            ({"status": "pending"}, "query.status"),
            ({"subject_type": "vessel"}, "query.subject_type"),
            ({"order_id": ""}, "query.order_id"),
            ({"cursor": "x" * 201}, "query.cursor"),
        ]:
            assert_problem(await c.get(f"{API}/checks", params=params, headers=officer), 422, field)
        assert_problem(await c.get(f"{API}/audit", params={"action": "deleted"}, headers=officer), 422, "query.action")
        good = {"decision": "clear", "note": "ok"}
        assert_problem(await c.post(f"{API}/checks/chk_unknown/decision", json=good, headers=officer), 404, "check_id")

        await svc.deliver(
            LeadCaptured(
                lead_id="l-1",
                company="ACME Trading",
                contact_name="Wile E.",
                email="w@example.com",
                country="DE",
                consent_marketing=True,
                captured_at=datetime.now(UTC),
            )
        )

        async def open_review():
            items = (await c.get(f"{API}/reviews", headers=officer)).json()["items"]
            return items[0] if items else None

        check = await eventually(open_review)
        path = f"{API}/checks/{check['id']}/decision"
        for body, field in [
            ({"decision": "clear"}, "note"),
            ({"decision": "clear", "note": "   "}, "note"),
            ({"decision": "clear", "note": "n" * 2001}, "note"),
            ({"decision": "clear", "note": None}, "note"),
            ({"decision": "maybe", "note": "n"}, "decision"),
            ({"note": "n"}, "decision"),
        ]:
            assert_problem(await c.post(path, json=body, headers=officer), 422, field)
        after = (await c.get(f"{API}/checks/{check['id']}", headers=officer)).json()
        assert after == check, "a refused decision changes nothing"

        # Two officers at once: exactly one decision wins.
        first, second = await asyncio.gather(
            c.post(path, json={"decision": "reject", "note": "n" * 2000}, headers=officer),
            c.post(path, json={"decision": "clear", "note": "namesake"}, headers=officer),
        )
        assert sorted([first.status_code, second.status_code]) == [200, 409]
        winner = first if first.status_code == 200 else second
        assert (await c.get(f"{API}/checks/{check['id']}", headers=officer)).json()["decision"] == (
            winner.json()["decision"]
        )

        trail = (await c.get(f"{API}/audit", params={"limit": 200}, headers=officer)).json()["items"]
        # The re-screening job's runs interleave with the rest (it runs after every list change).
        actions = [a["action"] for a in trail if a["action"] != "rescreened"]
        assert actions == [
            "export_rules_loaded",
            "sanctions_imported",
            "watchlist_added",
            "watchlist_added",
            "watchlist_added",
            "watchlist_removed",
            "sanctions_imported",
            "screened",
            "decided",
        ]
