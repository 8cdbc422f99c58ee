"""Campaigns in Chromium: the list and its channel filter, the new-campaign form, and a campaign's
performance drawn by Chart.js with the same figures as a table (checked against marketing's API)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.support import Staff
from web.i18n import Formats


def new_campaign(staff: Staff, channel: str = "ppc") -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    r = staff.api(
        "POST",
        "/api/v1/marketing/campaigns",
        json={
            "name": f"Spring {tag}",
            "channel": channel,
            "utm_campaign": f"spring-{tag}",
            "budget": {"amount": "5000.00", "currency": "EUR"},
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_a_campaign_made_in_the_form_shows_its_performance_as_a_chart_and_a_table(staff: Staff) -> None:
    staff.sign_in()
    staff.open("/console/marketing/campaigns")
    page = staff.page
    page.click("a[href='/console/marketing/campaigns/new']")
    page.wait_for_url("**/console/marketing/campaigns/new")
    tag = uuid.uuid4().hex[:8]
    page.fill("#f-name", f"Trade fair {tag}")
    page.select_option("#f-channel", "trade_show")
    page.fill("#f-utm_campaign", f"Fair-{tag}")
    page.fill("#f-budget_amount", "12000.50")
    page.select_option("#f-budget_currency", "EUR")
    page.fill("#f-starts_on", "2026-03-01")
    page.fill("#f-ends_on", "2026-03-31")
    staff.assert_accessible()
    page.click("form[action='/console/marketing/campaigns'] button[type=submit]")
    page.wait_for_url("**/console/marketing/campaigns/cmp*")
    assert page.inner_text("[role=status]") == f"Campaign Trade fair {tag} created."
    campaign_id = page.url.rsplit("/", 1)[1]
    made = staff.api("GET", f"/api/v1/marketing/campaigns/{campaign_id}").json()
    assert made["name"] == f"Trade fair {tag}" and made["channel"] == "trade_show"
    assert made["utm_campaign"] == f"fair-{tag}" and made["budget"] == {"amount": "12000.50", "currency": "EUR"}
    assert made["starts_on"] == "2026-03-01" and made["ends_on"] == "2026-03-31"

    # Downstream figures: two leads carrying its UTM code and some spend.
    for i in range(2):
        r = httpx.post(
            f"{staff.platform.gateway}/api/v1/marketing/leads",
            json={
                "company": f"Fair visitor {tag} {i}",
                "contact_name": "Ben",
                "email": f"ben-{tag}-{i}@fair.example",
                "country": "DE",
                "consent_marketing": False,
                "utm": {"source": "fair", "medium": "booth", "campaign": f"fair-{tag}"},
            },
            timeout=20,
        )
        assert r.status_code == 202, r.text
    r = staff.api(
        "POST",
        f"/api/v1/marketing/campaigns/{campaign_id}/spend",
        json={"amount": {"amount": "800.00", "currency": "EUR"}},
    )
    assert r.status_code == 201, r.text
    # Wait for the whole chain (screened → qualified → account opened → converted): the page read
    # while a conversion is still in flight would draw a later figure than the one polled here.
    deadline = time.monotonic() + 30
    while (performance := staff.api("GET", f"/api/v1/marketing/campaigns/{campaign_id}/performance").json())[
        "converted"
    ] < 2:
        assert time.monotonic() < deadline, performance
        time.sleep(0.3)

    staff.open(f"/console/marketing/campaigns/{campaign_id}")
    page.wait_for_function("() => document.querySelectorAll('canvas[data-drawn]').length === 2")
    charts = page.evaluate(
        """() => [...document.querySelectorAll('canvas[data-chart]')].map(c => {
            const chart = Chart.getChart(c);
            return chart ? {labels: chart.data.labels, data: chart.data.datasets[0].data} : null;
        })"""
    )
    assert charts[0] == {
        "labels": ["Leads", "Qualified", "Converted", "Orders"],
        "data": [performance["leads"], performance["qualified"], performance["converted"], performance["orders"]],
    }
    assert charts[1] == {
        "labels": ["Revenue", "Spend"],
        "data": [float(performance["revenue"]["amount"]), float(performance["spend"]["amount"])],
    }
    figures = dict(
        page.locator("#performance-figures tbody tr").evaluate_all(
            "rows => rows.map(r => [r.dataset.figure, r.querySelector('td').innerText])"
        )
    )
    assert figures["leads"] == str(performance["leads"]) == "2"
    assert figures["qualified"] == str(performance["qualified"]) == "2"
    assert figures["converted"] == str(performance["converted"]) == "2"
    assert figures["orders"] == str(performance["orders"])
    assert performance["spend"] == {"amount": "800.00", "currency": "EUR"}
    shown = Formats("en", "Europe/Berlin")
    assert figures["spend"] == "€800.00" == shown.money("800.00", "EUR")
    assert figures["revenue"] == shown.money(performance["revenue"]["amount"], performance["revenue"]["currency"])
    assert figures["roas"] == shown.number(performance["roas"])
    assert figures["cost_per_lead"] == "€400.00"
    staff.assert_accessible()


def test_a_refused_campaign_form_shows_the_message_next_to_the_field_and_creates_nothing(staff: Staff) -> None:
    staff.sign_in()
    staff.open("/console/marketing/campaigns/new")
    page = staff.page
    name = f"Broken {uuid.uuid4().hex[:8]}"
    page.fill("#f-name", name)
    page.fill("#f-utm_campaign", "has spaces!")
    page.fill("#f-budget_amount", "100")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("form[action='/console/marketing/campaigns'] button[type=submit]")
    assert posted.value.status == 422
    assert "use 1-100 characters" in page.inner_text("#e-utm_campaign")
    assert page.input_value("#f-name") == name and page.input_value("#f-utm_campaign") == "has spaces!"
    staff.assert_accessible()
    # A negative budget is named next to the budget.
    page.fill("#f-utm_campaign", f"ok-{uuid.uuid4().hex[:8]}")
    page.fill("#f-budget_amount", "-5")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("form[action='/console/marketing/campaigns'] button[type=submit]")
    assert posted.value.status == 422 and page.inner_text("#e-budget_amount")
    names = [c["name"] for c in staff.api("GET", "/api/v1/marketing/campaigns", params={"limit": 200}).json()["items"]]
    assert name not in names


def test_the_channel_filter_and_bad_addresses(staff: Staff) -> None:
    ppc, social = new_campaign(staff, "ppc"), new_campaign(staff, "social")
    staff.sign_in()
    staff.open("/console/marketing/campaigns")
    page = staff.page
    page.select_option("#f-channel", "social")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/console/marketing/campaigns?channel=social")
    page.wait_for_selector(f"a[href='/console/marketing/campaigns/{social['id']}']")
    rows = page.locator("#campaign-rows tbody tr td:nth-child(2)").all_inner_texts()
    assert rows and set(rows) == {"Social media"}
    assert page.locator(f"a[href='/console/marketing/campaigns/{ppc['id']}']").count() == 0
    # Without htmx too: the plain address gives the same page.
    staff.open("/console/marketing/campaigns?channel=ppc")
    assert page.locator(f"a[href='/console/marketing/campaigns/{ppc['id']}']").count() == 1
    staff.open("/console/marketing/campaigns?channel=telepathy", 400)
    assert "channel" in page.inner_text("main")
    staff.open("/console/marketing/campaigns/cmp_missing", 404)
    staff.open("/console/marketing/campaigns/bad%20id", 400)
    # A user without marketing typing the address: the 403 page.
    username, password = staff.new_user("logistics")
    staff.sign_in(username, password)
    staff.open("/console/marketing/campaigns", 403)
    assert "This page needs one of the roles" in page.inner_text("main")


@pytest.mark.parametrize("language", ["en", "de"])
def test_campaign_pages_pass_axe(staff: Staff, language: str, tmp_path: Path) -> None:
    made = new_campaign(staff)
    staff.context.add_cookies([{"name": "hanse_lang", "value": language, "domain": "127.0.0.1", "path": "/console"}])
    staff.sign_in()
    for path in (
        "/console/marketing/campaigns",
        "/console/marketing/campaigns/new",
        f"/console/marketing/campaigns/{made['id']}",
    ):
        staff.open(path)
        staff.page.wait_for_load_state("networkidle")
        staff.assert_accessible()
    if language == "de":
        assert staff.page.inner_text("#performance-figures caption") == "Kennzahlen"
