"""Admin pages in Chromium: staff users, partner apps and partner webhooks (re-enable, rotate, redeliver).

Every effect is checked through the gateway's API afterwards; webhook deliveries reach a real
HTTP receiver in this process, and their signatures are verified with the standardwebhooks library.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.browser.support import Staff
from tests.support.isolation import free_port
from web import pages
from web.nav import SECTIONS

T = TypeVar("T")
LEAD_EVENT = "marketing.lead.captured.v1"


def every(staff: Staff, path: str, **params: Any) -> list[dict[str, Any]]:
    """All items of a paged admin listing."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = staff.api("GET", path, params={**params, "limit": 200, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return items


def eventually(check: Callable[[], T | None], timeout: float = 60, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.25)


# -- users ----------------------------------------------------------------------------------------------------


def test_a_user_made_in_the_browser_signs_in_and_sees_only_their_sections(staff: Staff, browser: Browser) -> None:
    staff.sign_in()
    staff.open("/console/admin/users")
    page = staff.page
    username, password = f"clerk-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    page.fill("#f-username", username)
    page.fill("#f-password", password)
    page.check("input[name=roles][value=marketing]")
    page.check("input[name=roles][value=finance]")
    page.click("form[action='/console/admin/users'] button[type=submit]")
    page.wait_for_url("**/console/admin/users")
    assert page.inner_text("[role=status]") == f"User {username} created."
    made = [u for u in every(staff, "/api/v1/auth/users") if u["username"] == username]
    assert len(made) == 1 and sorted(made[0]["roles"]) == ["finance", "marketing"]

    context = browser.new_context(base_url=staff.platform.gateway, locale="en-GB")
    try:
        clerk = Staff(context, staff.platform)
        clerk.sign_in(username, password)
        shown = clerk.page.locator("header nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert pages.AREAS  # every page module registered its sections
        expected = [s.path for s in SECTIONS if not s.roles or {"marketing", "finance"} & set(s.roles)]
        assert shown == expected
        assert "/console/marketing/campaigns" in shown and "/console/admin/users" not in shown
        response = clerk.page.goto("/console/admin/users")
        assert response is not None and response.status == 403
        assert "This page needs one of the roles: admin." in clerk.page.inner_text("main")
    finally:
        context.close()


def test_a_refused_user_form_shows_the_api_message_next_to_the_field_and_creates_nothing(staff: Staff) -> None:
    staff.sign_in()
    staff.open("/console/admin/users")
    page = staff.page
    username = f"short-{uuid.uuid4().hex[:8]}"
    page.fill("#f-username", username)
    page.fill("#f-password", "short")
    page.check("input[name=roles][value=sales]")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("form[action='/console/admin/users'] button[type=submit]")
    assert posted.value.status == 422
    assert page.inner_text("#e-password") == "password must be at least 12 characters"
    assert page.get_attribute("#f-password", "aria-invalid") == "true"
    assert page.input_value("#f-username") == username  # kept; the password is not
    assert page.input_value("#f-password") == ""
    assert page.is_checked("input[name=roles][value=sales]")
    staff.assert_accessible()

    # A role the form does not offer (a forged post) is named next to the roles.
    page.fill("#f-password", f"pw-{uuid.uuid4().hex}")
    page.evaluate("document.querySelector('input[name=roles][value=sales]').value = 'wizard'")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("form[action='/console/admin/users'] button[type=submit]")
    assert posted.value.status == 422
    assert "wizard" in page.inner_text("#e-roles") or "roles" in page.inner_text("#e-roles")

    # A taken name is named next to the user name.
    taken, _ = staff.new_user("sales")
    page.fill("#f-username", taken)
    page.fill("#f-password", f"pw-{uuid.uuid4().hex}")
    page.check("input[name=roles][value=finance]")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("form[action='/console/admin/users'] button[type=submit]")
    assert posted.value.status == 409
    assert page.inner_text("#e-username") == f"username {taken!r} is taken"

    names = [u["username"] for u in every(staff, "/api/v1/auth/users")]
    assert username not in names and names.count(taken) == 1


# -- partner apps ---------------------------------------------------------------------------------------------


def test_a_partner_app_is_created_and_its_secret_is_shown_once(staff: Staff) -> None:
    staff.sign_in()
    staff.open("/console/admin/apps")
    page = staff.page
    name = f"Forwarder {uuid.uuid4().hex[:8]}"
    page.fill("#f-name", name)
    assert page.is_checked("input[name=roles][value=partner]")  # the default
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("form[action='/console/admin/apps'] button[type=submit]")
    assert posted.value.status == 201
    client_id, secret = page.inner_text("#new-client-id"), page.inner_text("#new-client-secret")
    assert name in page.inner_text("#created-app")
    staff.assert_accessible()
    # The credentials work: the partner gets a token with them.
    token = httpx.post(
        f"{staff.platform.gateway}/api/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=20,
    )
    assert token.status_code == 200, token.text
    listed = [c for c in every(staff, "/api/v1/auth/clients") if c["client_id"] == client_id]
    assert len(listed) == 1 and listed[0]["name"] == name and listed[0]["roles"] == ["partner"]
    # Never again: the list shows the app but not its secret.
    staff.open("/console/admin/apps")
    assert client_id in page.inner_text("main") and secret not in page.content()

    # An empty name is refused next to the field.
    page.fill("#f-name", "")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("form[action='/console/admin/apps'] button[type=submit]")
    assert posted.value.status == 422 and page.inner_text("#e-name")


# -- webhooks ---------------------------------------------------------------------------------------------------


class Receiver:
    """A partner's webhook receiver on 127.0.0.1: answers `status` and keeps what it got."""

    def __init__(self) -> None:
        self.status = 400
        self.received: list[tuple[bytes, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.received.append((body, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def ids(self) -> list[str]:
        return [headers["webhook-id"] for _, headers in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    hook.thread.start()
    try:
        yield hook
    finally:
        hook.server.shutdown()
        hook.server.server_close()


@pytest.fixture
def subscribe(staff: Staff) -> Iterator[Callable[[str], dict[str, Any]]]:
    """Subscribes a URL to new leads (as admin); the endpoints go when the test ends."""
    made: list[str] = []

    def create(url: str) -> dict[str, Any]:
        r = staff.api("POST", "/api/v1/webhooks", json={"url": url, "events": [LEAD_EVENT]})
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
        return r.json()

    yield create
    for webhook_id in made:
        staff.api("DELETE", f"/api/v1/webhooks/{webhook_id}")


def post_lead(staff: Staff, tag: str) -> str:
    r = httpx.post(
        f"{staff.platform.gateway}/api/v1/marketing/leads",
        json={
            "company": f"Hook {tag}",
            "contact_name": "Ada",
            "email": f"ada-{tag}@hook.example",
            "country": "DE",
            "consent_marketing": False,
        },
        timeout=20,
    )
    assert r.status_code == 202, r.text
    return r.json()["id"]


def disabled_endpoint(staff: Staff, receiver: Receiver, subscribe: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """An endpoint the gateway disabled: the receiver refused (400, not retried) enough deliveries in a row."""
    created = subscribe(receiver.url)
    tag = uuid.uuid4().hex[:8]
    # The platform's threshold (HANSE_WEBHOOK_DISABLE_AFTER_FAILURES, 10 by default): one more to be sure.
    for i in range(11):
        post_lead(staff, f"{tag}-{i}")

    def disabled() -> dict[str, Any] | None:
        endpoint = staff.api("GET", f"/api/v1/webhooks/{created['id']}").json()
        return endpoint if endpoint["status"] == "disabled" else None

    eventually(disabled, 90, "the endpoint is disabled")
    return created


def test_a_disabled_webhook_is_enabled_its_secret_rotated_and_a_failed_delivery_redelivered(
    staff: Staff, receiver: Receiver, subscribe: Callable[[str], dict[str, Any]]
) -> None:
    created = disabled_endpoint(staff, receiver, subscribe)
    webhook_id, path = created["id"], f"/api/v1/webhooks/{created['id']}"
    staff.sign_in()
    page = staff.page
    page.on("dialog", lambda dialog: dialog.accept())  # the rotate button asks first

    # The list, filtered to disabled endpoints, leads to it.
    staff.open("/console/admin/webhooks?status=disabled")
    row = page.locator("#webhook-rows tr", has=page.locator(f"a[href='/console/admin/webhooks/{webhook_id}']"))
    assert "disabled" in row.inner_text() and receiver.url in row.inner_text()
    row.locator("a").click()
    page.wait_for_url(f"**/console/admin/webhooks/{webhook_id}")
    assert page.inner_text("#endpoint-status").startswith("disabled")
    assert "deliveries in a row failed" in page.inner_text("#endpoint-status")
    failed_rows = page.locator("#delivery-rows tbody tr")
    assert failed_rows.count() >= 10
    assert "400" in failed_rows.first.inner_text() and "failed" in failed_rows.first.inner_text()
    assert page.locator("button:has-text('Redeliver')").count() == 0  # not while disabled
    staff.assert_accessible()

    # Enable again.
    with page.expect_navigation():
        page.click(f"form[action='/console/admin/webhooks/{webhook_id}/enable'] button")
    assert page.inner_text("[role=status]") == "The webhook is enabled again."
    endpoint = staff.api("GET", path).json()
    assert endpoint["status"] == "active" and endpoint["consecutive_failures"] == 0
    assert endpoint["disabled_reason"] is None
    assert page.inner_text("#endpoint-status").startswith("enabled")

    # Rotate the secret: shown once, on this answer.
    receiver.status = 200
    page.click(f"form[action='/console/admin/webhooks/{webhook_id}/rotate-secret'] button")
    page.wait_for_selector("#rotated-secret")
    secret = page.inner_text("#rotated-secret")
    assert secret.startswith("whsec_") and secret != created["secret"]
    staff.assert_accessible()
    staff.open(f"/console/admin/webhooks/{webhook_id}")
    assert secret not in page.content()
    # The next delivery verifies with the new secret and not with the old one.
    seen = len(receiver.received)
    post_lead(staff, uuid.uuid4().hex[:8])
    eventually(lambda: len(receiver.received) > seen, 60, "a delivery after the rotation")
    body, headers = receiver.received[seen]
    assert Webhook(secret).verify(body, headers)["type"] == LEAD_EVENT
    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(body, headers)

    # Redeliver a failed delivery: it arrives, signed with the new secret, and is delivered.
    failed = staff.api("GET", f"{path}/messages", params={"state": "failed"}).json()["items"]
    target = failed[0]["id"]
    staff.open(f"/console/admin/webhooks/{webhook_id}?state=failed")
    before = receiver.ids().count(target)  # refused earlier (400), or given up unsent when it was disabled
    with page.expect_navigation():
        page.click(f"form[action='/console/admin/webhooks/{webhook_id}/deliveries/{target}/redeliver'] button")
    assert page.inner_text("[role=status]") == f"Delivery {target} is queued again."
    eventually(lambda: receiver.ids().count(target) > before, 60, "the redelivery arrives")
    # The last one with its webhook-id (any earlier one was the refused attempt, under the old secret).
    body, headers = receiver.received[len(receiver.ids()) - 1 - receiver.ids()[::-1].index(target)]
    assert Webhook(secret).verify(body, headers)["id"] == failed[0]["event_id"]

    def delivered() -> dict[str, Any] | None:
        items = staff.api("GET", f"{path}/messages", params={"limit": 200}).json()["items"]
        found = next(m for m in items if m["id"] == target)
        return found if found["state"] == "delivered" else None

    done = eventually(delivered, 30, "the redelivery is recorded")
    assert done["last_status_code"] == 200 and done["attempts"] == failed[0]["attempts"] + 1
    staff.open(f"/console/admin/webhooks/{webhook_id}?state=delivered")
    assert target in page.inner_text("#delivery-rows")


def test_webhook_refusals_are_shown_and_change_nothing(
    staff: Staff, receiver: Receiver, subscribe: Callable[[str], dict[str, Any]]
) -> None:
    created = subscribe(receiver.url)
    webhook_id = created["id"]
    staff.sign_in()
    page = staff.page
    staff.open(f"/console/admin/webhooks/{webhook_id}")
    token = page.get_attribute("input[name=csrf_token]", "value")
    # Redelivering an unknown delivery: the API's 404 detail on the endpoint's page.
    refused = page.request.post(
        f"/console/admin/webhooks/{webhook_id}/deliveries/msg_unknown/redeliver", form={"csrf_token": token or ""}
    )
    assert refused.status == 404 and f"no delivery msg_unknown of webhook {webhook_id}" in refused.text()
    # A forged token rotates nothing (the secret still signs: a delivery verifies with it).
    forged = page.request.post(f"/console/admin/webhooks/{webhook_id}/rotate-secret", form={"csrf_token": "0" * 64})
    assert forged.status == 403 and "nothing was changed" in forged.text()
    receiver.status = 200
    post_lead(staff, uuid.uuid4().hex[:8])
    eventually(lambda: receiver.received, 60, "a delivery")
    assert Webhook(created["secret"]).verify(*receiver.received[0])["type"] == LEAD_EVENT
    # Unknown endpoints and bad addresses are pages, not stack traces.
    assert staff.open("/console/admin/webhooks/wh_missing", 404)
    assert "Nothing was found here." in page.inner_text("main")
    assert staff.open("/console/admin/webhooks/not%20an%20id", 400)
    assert staff.open("/console/admin/webhooks?status=lost", 400)
    assert staff.open(f"/console/admin/webhooks/{webhook_id}?state=lost", 400)


def test_a_non_admin_typing_the_admin_addresses_gets_the_403_page_and_changes_nothing(
    staff: Staff, receiver: Receiver, subscribe: Callable[[str], dict[str, Any]]
) -> None:
    webhook_id = subscribe(receiver.url)["id"]
    username, password = staff.new_user("marketing", "sales")
    staff.sign_in(username, password)
    for path in (
        "/console/admin/webhooks",
        f"/console/admin/webhooks/{webhook_id}",
        "/console/admin/users",
        "/console/admin/apps",
    ):
        staff.open(path, 403)
        assert staff.page.inner_text("h1") == "Not allowed"
        assert "This page needs one of the roles: admin." in staff.page.inner_text("main")
    staff.open("/console/")
    token = staff.page.get_attribute("input[name=csrf_token]", "value")
    refused = staff.page.request.post(
        "/console/admin/users",
        form={"csrf_token": token or "", "username": "sneaky", "password": "p" * 20, "roles": "admin"},
    )
    assert refused.status == 403
    assert "sneaky" not in [u["username"] for u in every(staff, "/api/v1/auth/users")]


@pytest.mark.parametrize("language", ["en", "de"])
def test_admin_pages_pass_axe(
    staff: Staff, receiver: Receiver, subscribe: Callable[[str], dict[str, Any]], language: str, tmp_path: Path
) -> None:
    webhook_id = subscribe(receiver.url)["id"]
    receiver.status = 503
    post_lead(staff, uuid.uuid4().hex[:8])
    eventually(lambda: receiver.received, 60, "a delivery attempt")
    staff.context.add_cookies([{"name": "hanse_lang", "value": language, "domain": "127.0.0.1", "path": "/console"}])
    staff.sign_in()
    for path in (
        "/console/admin/users",
        "/console/admin/apps",
        "/console/admin/webhooks",
        f"/console/admin/webhooks/{webhook_id}",
    ):
        staff.open(path)
        assert staff.page.locator("html").get_attribute("lang") == language
        staff.assert_accessible()
    if language == "de":
        staff.open("/console/admin/users")
        assert staff.page.inner_text("h1") == "Mitarbeiterkonten"
