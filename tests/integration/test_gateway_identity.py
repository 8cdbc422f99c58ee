"""Gateway identity on a real database: users, partner apps, both OAuth2 grants, expiry and bad input."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlmodel import select

from gateway.models.identity import PartnerClient, User
from hanse.auth import verify_token
from ops.broker import EmbeddedBroker
from tests.conftest import make_settings
from tests.support.gateway import ADMIN_PASSWORD, Gateway, database, run_gateway

PASSWORD = "long-enough-password-1"


# One gateway per database kind for the whole module: starting and stopping one costs seconds.
@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def gw(
    request: pytest.FixtureRequest, broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Gateway]:
    async with database(request.param, tmp_path_factory.mktemp("gateway")) as url:
        async with run_gateway(make_settings(broker.bootstrap, url)) as running:
            yield running


def unique(name: str) -> str:
    return f"{name}.{uuid.uuid4().hex[:8]}"


def problem_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


async def all_usernames(gw: Gateway, admin: dict[str, str]) -> list[str]:
    names, cursor = [], None
    while True:
        page = await gw.client.get("/api/v1/auth/users", params={"cursor": cursor} if cursor else {}, headers=admin)
        assert page.status_code == 200, page.text
        assert "password" not in page.text
        names += [u["username"] for u in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return names


async def test_admin_creates_a_sales_user_who_logs_in_with_the_password_grant(gw: Gateway):
    admin = await gw.admin()
    name = unique("ina")
    created = await gw.client.post(
        "/api/v1/auth/users", json={"username": name, "password": PASSWORD, "roles": ["sales"]}, headers=admin
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["username"] == name and body["roles"] == ["sales"] and body["created_by"] == "admin"
    assert "password" not in body and "password_hash" not in body

    login = await gw.client.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": name, "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    assert login.headers["cache-control"] == "no-store"
    token = login.json()
    assert token["token_type"] == "bearer" and token["expires_in"] == gw.settings.token_ttl_seconds
    principal = verify_token(token["access_token"], gw.settings)
    assert principal.subject == name and principal.roles == {"sales"} and principal.kind == "user"

    async with gw.app.state.db.session() as session:
        stored = (await session.exec(select(User).where(User.username == name))).one()
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
    assert name in await all_usernames(gw, admin)


async def test_wrong_password_unknown_user_and_missing_fields_are_refused(gw: Gateway):
    admin = await gw.admin()
    name = unique("otto")
    await gw.client.post(
        "/api/v1/auth/users", json={"username": name, "password": PASSWORD, "roles": ["finance"]}, headers=admin
    )
    for username, password in ((name, "not-the-password"), (unique("nobody"), PASSWORD), ("admin", "wrong")):
        bad = await gw.login(username, password)
        assert problem_of(bad, 401)["error"] == "invalid_grant", username
        assert bad.headers["www-authenticate"].startswith("Bearer")
    missing = await gw.client.post("/api/v1/auth/token", data={"username": name})
    assert problem_of(missing, 422)["field"] == "password"
    unsupported = await gw.client.post("/api/v1/auth/token", data={"grant_type": "implicit", "username": name})
    problem = problem_of(unsupported, 400)
    assert problem["field"] == "grant_type" and problem["error"] == "unsupported_grant_type"


async def test_user_creation_refuses_duplicates_weak_passwords_unknown_roles_and_non_admins(gw: Gateway):
    admin = await gw.admin()
    ok = {"username": unique("lena"), "password": PASSWORD, "roles": ["logistics"]}
    assert (await gw.client.post("/api/v1/auth/users", json=ok, headers=admin)).status_code == 201
    refused = {
        "duplicate": (ok, 409, "username"),
        "bootstrap admin": ({**ok, "username": "admin"}, 409, "username"),
        "weak password": ({**ok, "username": unique("weak"), "password": "short"}, 422, "password"),
        "unknown role": ({**ok, "username": unique("pirate"), "roles": ["sales", "pirate"]}, 422, "roles"),
        "no role": ({**ok, "username": unique("none"), "roles": []}, 422, "roles"),
        "space in name": ({**ok, "username": "a b"}, 422, "username"),
    }
    for case, (body, status, field) in refused.items():
        response = await gw.client.post("/api/v1/auth/users", json=body, headers=admin)
        assert problem_of(response, status)["field"] == field, case
    non_admin = {**ok, "username": unique("sneaky")}
    problem_of(await gw.client.post("/api/v1/auth/users", json=non_admin, headers=gw.auth("sales")), 403)
    problem_of(await gw.client.post("/api/v1/auth/users", json=non_admin), 401)
    problem_of(await gw.client.get("/api/v1/auth/users", headers=gw.auth("marketing")), 403)
    names = await all_usernames(gw, admin)
    assert ok["username"] in names
    assert not [n for n in names if n.startswith(("weak.", "pirate.", "none.", "sneaky.", "a b"))], "nothing else"


async def test_a_partner_app_gets_a_token_with_client_credentials_in_the_form_or_as_basic(gw: Gateway):
    admin = await gw.admin()
    name = unique("Forwarder GmbH")
    created = await gw.client.post("/api/v1/auth/clients", json={"name": name}, headers=admin)
    assert created.status_code == 201, created.text
    client = created.json()
    assert client["roles"] == ["partner"] and client["client_secret"] and client["client_id"].startswith("hc_")
    assert created.headers["cache-control"] == "no-store"
    cid, secret = client["client_id"], client["client_secret"]

    form = await gw.client.post(
        "/api/v1/auth/token", data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}
    )
    assert form.status_code == 200, form.text
    principal = verify_token(form.json()["access_token"], gw.settings)
    assert principal.subject == cid and principal.roles == {"partner"} and principal.kind == "client"

    def basic(user: str, password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    grant = {"grant_type": "client_credentials"}
    assert (await gw.client.post("/api/v1/auth/token", data=grant, headers=basic(cid, secret))).status_code == 200
    wrong = await gw.client.post("/api/v1/auth/token", data=grant, headers=basic(cid, "not-the-secret"))
    assert problem_of(wrong, 401)["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    unknown = await gw.client.post("/api/v1/auth/token", data={**grant, "client_id": "hc_nobody", "client_secret": "x"})
    assert problem_of(unknown, 401)["error"] == "invalid_client"
    both = await gw.client.post("/api/v1/auth/token", data={**grant, "client_id": cid}, headers=basic(cid, secret))
    assert problem_of(both, 400)["error"] == "invalid_request"
    no_secret = await gw.client.post("/api/v1/auth/token", data={**grant, "client_id": cid})
    assert problem_of(no_secret, 422)["field"] == "client_secret"

    listed = await gw.client.get("/api/v1/auth/clients", params={"limit": 200}, headers=admin)
    assert name in [c["name"] for c in listed.json()["items"]]
    assert "client_secret" not in listed.text and secret not in listed.text
    async with gw.app.state.db.session() as session:
        stored = (await session.exec(select(PartnerClient).where(PartnerClient.client_id == cid))).one()
    assert stored.secret_hash.startswith("$argon2id$") and secret not in stored.secret_hash

    bad_role = await gw.client.post("/api/v1/auth/clients", json={"name": "X", "roles": ["root"]}, headers=admin)
    assert problem_of(bad_role, 422)["field"] == "roles"
    partner = {"Authorization": f"Bearer {form.json()['access_token']}"}
    problem_of(await gw.client.post("/api/v1/auth/clients", json={"name": "Y"}, headers=partner), 403)


async def test_an_expired_or_forged_token_is_a_401_at_the_gateway(gw: Gateway):
    expired = gw.auth("admin", ttl_seconds=-60)
    for path in ("/api/v1/auth/users", "/api/v1/sales/orders"):
        response = await gw.client.get(path, headers=expired)
        assert "expired" in problem_of(response, 401)["detail"], path
    token = gw.auth("admin")["Authorization"].split()[1]
    forged = {"Authorization": f"Bearer {token[:-4]}AAAA"}
    problem_of(await gw.client.get("/api/v1/sales/orders", headers=forged), 401)


async def test_the_bootstrap_admin_logs_in_without_being_stored(gw: Gateway):
    response = await gw.login("admin", ADMIN_PASSWORD)
    assert response.status_code == 200
    assert verify_token(response.json()["access_token"], gw.settings).roles == {"admin"}
    async with gw.app.state.db.session() as session:
        assert (await session.exec(select(User).where(User.username == "admin"))).first() is None
