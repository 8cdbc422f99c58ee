"""The role matrix agrees with every department's guards, and both the gateway and the services enforce it."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import httpx
import pytest

from gateway.roles import AUTHENTICATED, MATRIX, PUBLIC, RoleMatrix, Rule, app_routes
from gateway.rolesdoc import gateway_routes, markdown
from hanse.auth import ROLES, issue_token
from hanse.settings import Settings
from ops.broker import EmbeddedBroker
from services import DEPARTMENTS
from tests.conftest import free_port, make_settings
from tests.support.gateway import run_gateway
from tests.support.service import run_service

ROOT = Path(__file__).resolve().parents[2]
STAFF = tuple(r for r in ROLES if r != "admin")


def concrete(path: str) -> str:
    """A request path for a template: every parameter becomes an id that exists nowhere."""
    return re.sub(r"\{[^}]+\}", "NO-SUCH-ID-1", path)


def send(client: httpx.AsyncClient, rule: Rule, headers: dict[str, str]):
    body = {} if rule.method in ("POST", "PUT", "PATCH") else None
    return client.request(rule.method, concrete(rule.path), json=body, headers=headers)


def bearer(settings: Settings, *roles: str) -> dict[str, str]:
    token, _ = issue_token("matrix-test", list(roles), settings)
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("department", DEPARTMENTS)
def test_the_matrix_lists_every_route_of_the_department_with_the_roles_its_guards_demand(department: str):
    app = importlib.import_module(f"services.{department}.app").app
    declared = list(app_routes(app))
    listed = [(m, p, a if isinstance(a, str) else tuple(a)) for m, p, a in MATRIX[department]]
    missing = [r for r in declared if r not in listed]
    stale = [r for r in listed if r not in declared]
    assert not missing and not stale, (
        f"{department}: gateway/roles.py MATRIX is out of step with the service's require_roles guards\n"
        f"  add or fix: {missing}\n  remove or fix: {stale}"
    )


def test_docs_roles_md_is_generated_from_the_matrix():
    committed = (ROOT / "docs" / "roles.md").read_text()
    assert committed == markdown(gateway_routes()), "regenerate: python -m gateway.rolesdoc > docs/roles.md"


@pytest.mark.parametrize("department", DEPARTMENTS)
async def test_each_department_answers_401_without_a_token_and_403_to_a_role_not_in_the_matrix(
    department: str, broker: EmbeddedBroker, tmp_path: Path
):
    settings = make_settings(broker.bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'service.db'}")
    matrix = RoleMatrix()
    async with run_service(department, settings) as svc:
        for rule in matrix.rules[department]:
            where = f"{rule.method} {rule.path}"
            anonymous = await send(svc.client, rule, {})
            if rule.public:
                assert anonymous.status_code not in (401, 403), (where, anonymous.text)
                continue
            assert anonymous.status_code == 401, (where, anonymous.text)
            assert anonymous.headers["content-type"] == "application/problem+json"
            for role in (*STAFF, "admin"):
                response = await send(svc.client, rule, bearer(settings, role))
                if rule.allows(frozenset({role})):
                    assert response.status_code not in (401, 403), (where, role, response.text)
                else:
                    assert response.status_code == 403, (where, role, response.text)
                    assert response.headers["content-type"] == "application/problem+json"


async def test_the_gateway_refuses_before_forwarding_and_lets_the_right_roles_through(
    broker: EmbeddedBroker, tmp_path: Path
):
    settings = make_settings(broker.bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    # Nothing listens here: a request that passes the gate comes back as a 503 naming the department.
    nowhere = f"http://127.0.0.1:{free_port()}"
    async with run_gateway(settings, upstreams=dict.fromkeys(DEPARTMENTS, nowhere)) as gw:
        for department, rule in gw.proxy.matrix:
            where = f"{rule.method} {rule.path}"
            anonymous = await send(gw.client, rule, {})
            if rule.public:
                assert anonymous.status_code == 503 and anonymous.json()["department"] == department, where
                continue
            assert anonymous.status_code == 401, (where, anonymous.text)
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
            for role in (*STAFF, "admin"):
                response = await send(gw.client, rule, bearer(gw.settings, role))
                assert response.headers["content-type"] == "application/problem+json", where
                if rule.allows(frozenset({role})):
                    assert response.status_code == 503, (where, role, response.text)
                    assert response.json()["department"] == department
                else:
                    assert response.status_code == 403, (where, role, response.text)
                    assert response.json()["type"].endswith("/forbidden")
        # A path the matrix does not know is the department's to answer (here: not reachable).
        unknown = await gw.client.get("/api/v1/sales/no-such-route")
        assert unknown.status_code == 503 and unknown.json()["department"] == "sales"


def test_every_matrix_entry_is_public_any_role_or_known_roles():
    for department, routes in MATRIX.items():
        for method, path, access in routes:
            assert path.startswith(f"/api/v1/{department}/"), path
            assert method in ("GET", "POST", "PUT", "PATCH", "DELETE")
            assert access in (PUBLIC, AUTHENTICATED) or set(access) <= set(ROLES), (path, access)
