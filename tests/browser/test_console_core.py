"""Sign-in, sessions, CSRF, languages, roles and failures of the console, in Chromium."""

from __future__ import annotations

import re

import httpx
import jwt
import pytest

from hanse.auth import issue_token
from hanse.settings import Settings
from tests.browser.support import JWT_SECRET, Staff
from web.nav import SECTIONS


def test_root_leads_to_sign_in_and_back_to_the_page_asked_for(staff: Staff) -> None:
    page = staff.page
    page.goto("/")
    assert page.url.endswith("/console/login?next=%2Fconsole%2F&reason=signin")
    assert "Please sign in to open this page." in page.inner_text("main")
    page.goto("/console/definitely-not-a-page")
    page.fill("#username", staff.platform.admin_user)
    page.fill("#password", staff.platform.admin_password)
    page.click("form[action='/console/login'] button[type=submit]")
    # After sign-in the user lands where they were going: here the console's own 404 page.
    page.wait_for_url("**/console/definitely-not-a-page")
    assert page.inner_text("h1") == "Not found"
    assert "There is no such page." in page.inner_text("main")


def test_wrong_password_says_so_and_sets_no_session(staff: Staff) -> None:
    page = staff.page
    page.goto("/console/login")
    page.fill("#username", staff.platform.admin_user)
    page.fill("#password", "not-the-password")
    page.click("form[action='/console/login'] button[type=submit]")
    assert page.inner_text("[role=alert]") == "The user name or password is not right."
    assert "hanse_session" not in {c["name"] for c in staff.context.cookies()}
    assert page.input_value("#username") == staff.platform.admin_user  # kept; the password is not


def test_session_cookie_is_httponly_and_strict_and_pages_carry_a_csp(staff: Staff) -> None:
    staff.sign_in()
    cookies = {c["name"]: c for c in staff.context.cookies()}
    session = cookies["hanse_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/console"
    assert not session["secure"]  # plain http on loopback; production and TLS set Secure
    assert cookies["hanse_csrf"]["httpOnly"]
    response = staff.open("/console/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    # Scripts cannot read the session.
    assert "hanse_session" not in staff.page.evaluate("document.cookie")


def test_a_form_without_or_with_a_forged_csrf_token_changes_nothing(staff: Staff) -> None:
    staff.sign_in()
    request = staff.page.request
    # Sign-out without a token: refused, still signed in.
    refused = request.post("/console/logout", form={"x": "1"})
    assert refused.status == 403
    assert "did not come from this console; nothing was changed" in refused.text()
    forged = request.post("/console/logout", form={"csrf_token": "0" * 64})
    assert forged.status == 403
    assert staff.open("/console/").status == 200
    assert "hanse_session" in {c["name"] for c in staff.context.cookies()}
    # A sign-in posted from elsewhere (no CSRF cookie or token) does not sign anybody in.
    outside = httpx.post(
        f"{staff.platform.gateway}/console/login",
        data={"username": staff.platform.admin_user, "password": staff.platform.admin_password},
        timeout=10,
    )
    assert outside.status_code == 403
    assert "hanse_session" not in outside.cookies


def test_sign_out_ends_the_session(staff: Staff) -> None:
    staff.sign_in()
    staff.page.click("form[action='/console/logout'] button")
    staff.page.wait_for_url("**/console/login?reason=signedout")
    assert "You have signed out." in staff.page.inner_text("main")
    staff.page.goto("/console/")
    assert "/console/login" in staff.page.url


def test_an_expired_session_sends_the_user_back_to_sign_in(staff: Staff) -> None:
    settings = Settings(jwt_secret=JWT_SECRET)
    expired, _ = issue_token(staff.platform.admin_user, ["admin"], settings, ttl_seconds=-60)
    assert jwt.decode(expired, options={"verify_signature": False})["sub"] == staff.platform.admin_user
    staff.context.add_cookies([{"name": "hanse_session", "value": expired, "domain": "127.0.0.1", "path": "/console"}])
    staff.page.goto("/console/")
    assert re.search(r"/console/login\?next=%2Fconsole%2F&reason=expired$", staff.page.url)
    assert "Your session has ended. Please sign in again." in staff.page.inner_text("main")
    assert "hanse_session" not in {c["name"] for c in staff.context.cookies()}


def test_german_and_back(staff: Staff) -> None:
    staff.sign_in()
    staff.page.select_option("#language-choice", "de")
    staff.page.click("form[action='/console/language'] button")
    staff.page.wait_for_load_state()
    assert staff.page.locator("html").get_attribute("lang") == "de"
    assert staff.page.inner_text("form[action='/console/logout'] button") == "Abmelden"
    staff.page.select_option("#language-choice", "en")
    staff.page.click("form[action='/console/language'] button")
    staff.page.wait_for_load_state()
    assert staff.page.inner_text("form[action='/console/logout'] button") == "Sign out"


def test_the_browser_language_is_the_default(browser, console_platform) -> None:
    context = browser.new_context(base_url=console_platform.gateway, locale="de-DE")
    try:
        page = context.new_page()
        page.goto("/console/login")
        assert page.inner_text("h1") == "Bei Hanse anmelden"
    finally:
        context.close()


def test_a_user_sees_only_the_sections_of_their_roles_and_is_refused_the_others(staff: Staff) -> None:
    username, password = staff.new_user("marketing")
    staff.sign_in(username, password)
    shown = set(staff.page.locator("header nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))"))
    for section in SECTIONS:
        allowed = not section.roles or "marketing" in section.roles
        assert (section.path in shown) == allowed, section
        if not allowed:
            response = staff.page.goto(section.path)
            assert response is not None and response.status == 403, section.path
            assert "This page needs one of the roles" in staff.page.inner_text("main")


@pytest.mark.parametrize("language", ["en", "de"])
def test_every_page_passes_axe(staff: Staff, language: str) -> None:
    """Each section as admin (with whatever the other tests left in the databases), and the sign-in page."""
    staff.context.add_cookies([{"name": "hanse_lang", "value": language, "domain": "127.0.0.1", "path": "/console"}])
    staff.page.goto("/console/login")
    staff.assert_accessible()
    staff.sign_in()
    for section in SECTIONS:
        staff.open(section.path)
        staff.page.wait_for_load_state("networkidle")
        staff.assert_accessible()
