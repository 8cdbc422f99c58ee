"""Marketing rules without I/O: UTM codes, input normalisation, the lead life cycle, campaign figures, rate limit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError
from starlette.requests import Request

from hanse.errors import Invalid
from hanse.http import client_address
from hanse.ids import new_id
from hanse.money import Money
from hanse.ratelimit import RateLimiter
from hanse.validators import country_code
from services.marketing import models
from services.marketing.config import MarketingConfig
from services.marketing.domain import rules
from services.marketing.models import CampaignCreate, LeadCreate, SpendCreate


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hannover-2026", "hannover-2026"),
        ("  SPRING.Sale_26 ", "spring.sale_26"),
        ("   ", None),
        ("", None),
        (None, None),
    ],
)
def test_utm_campaign_matches_case_insensitively(raw, expected):
    assert models.normalise_utm_campaign(raw) == expected


@pytest.mark.parametrize(("code", "ok"), [("a", True), ("ppc.q2_de-1", True), ("x" * 100, True), ("x" * 101, False)])
def test_utm_code_shape(code, ok):
    assert models.is_utm_code(code) is ok


@pytest.mark.parametrize("code", ["spring sale", "summer!", "ümlaut", ""])
def test_utm_code_refuses_other_characters(code):
    assert not models.is_utm_code(code)


def test_campaign_stores_the_utm_code_lowercase():
    body = CampaignCreate(
        name="Fair", channel="trade_show", budget={"amount": "10.00", "currency": "eur"}, utm_campaign="Fair-2026"
    )
    assert body.utm_campaign == "fair-2026" and body.budget.currency == "EUR"


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ({"amount": 10.5, "currency": "EUR"}, "float"),
        ({"amount": "-0.01", "currency": "EUR"}, "negative"),
        ({"amount": "1e14", "currency": "EUR"}, "below"),
    ],
)
def test_budget_is_a_non_negative_decimal(budget, message):
    with pytest.raises(ValidationError) as err:
        CampaignCreate(name="Fair", channel="seo", budget=budget, utm_campaign="fair")
    assert err.value.errors()[0]["loc"] == ("budget", "amount")
    assert message in str(err.value)


def test_spend_must_be_positive():
    with pytest.raises(ValidationError) as err:
        SpendCreate(amount={"amount": "0.00", "currency": "EUR"})
    assert err.value.errors()[0]["loc"] == ("amount", "amount")


def test_amount_finer_than_the_currency_is_refused():
    rules.check_amount(Money(amount=Decimal("10.50"), currency="EUR"), "budget.amount")
    with pytest.raises(Invalid) as err:
        rules.check_amount(Money(amount=Decimal("10.5"), currency="JPY"), "budget.amount")
    assert err.value.field == "budget.amount"


@pytest.mark.parametrize(("raw", "expected"), [("de", "DE"), (" us ", "US"), ("Cn", "CN")])
def test_country_is_iso_alpha_2(raw, expected):
    assert country_code(raw) == expected


@pytest.mark.parametrize("raw", ["XX", "DEU", "D1", ""])
def test_unknown_country_is_refused(raw):
    with pytest.raises(ValueError):
        country_code(raw)


def lead(**overrides) -> dict:
    body = {
        "company": "Nordlicht GmbH",
        "contact_name": "Greta Berg",
        "email": "greta@nordlicht.example",
        "country": "de",
        "consent_marketing": True,
    }
    body.update(overrides)
    return body


def test_lead_form_normalises_and_requires_explicit_consent():
    parsed = LeadCreate(**lead(language="pt-br", company="  Nordlicht GmbH "))
    assert (parsed.country, parsed.language, parsed.company) == ("DE", "pt-BR", "Nordlicht GmbH")
    for bad in ({"consent_marketing": "true"}, {"consent_marketing": 1}):
        with pytest.raises(ValidationError) as err:
            LeadCreate(**lead(**bad))
        assert err.value.errors()[0]["loc"] == ("consent_marketing",)


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "nope"), ("message", "m" * 5001), ("contact_name", "Greta\x00"), ("company", "")],
)
def test_lead_form_refuses_bad_fields(field, value):
    with pytest.raises(ValidationError) as err:
        LeadCreate(**lead(**{field: value}))
    assert err.value.errors()[0]["loc"] == (field,)


def test_message_may_span_lines():
    assert LeadCreate(**lead(message="Hello,\n\tplease call.\r\n")).message == "Hello,\n\tplease call."


# -- lead life cycle -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "result", "expected"),
    [
        ("new", "clear", "qualified"),
        ("new", "blocked", "disqualified"),
        ("new", "review", None),
        ("qualified", "blocked", None),
        ("qualified", "clear", None),
        ("disqualified", "clear", None),
        ("converted", "blocked", None),
        ("converted", "clear", None),
    ],
)
def test_screening_decides_only_a_new_lead(status, result, expected):
    assert rules.screening_transition(status, result) == expected


@pytest.mark.parametrize(
    ("status", "current", "account", "converts"),
    [
        ("new", None, "acc-1", True),
        ("qualified", None, "acc-1", True),
        ("disqualified", None, "acc-1", True),
        ("converted", "acc-1", "acc-1", False),
        ("converted", "acc-1", "acc-2", False),
    ],
)
def test_an_account_converts_the_lead_once(status, current, account, converts):
    assert rules.account_converts(status, current, account) is converts


def test_screening_reasons_are_joined_for_the_lead():
    assert rules.screening_reason(["watchlist: ACME", "embargo: KP"]) == "watchlist: ACME; embargo: KP"
    assert rules.screening_reason([]) == "blocked by compliance screening"


# -- campaign figures -------------------------------------------------------------------------------------


def test_roas_is_revenue_over_spend_in_decimal():
    assert rules.return_on_ad_spend(Decimal("1500.50"), Decimal("100.00")) == Decimal("15.0050")
    assert rules.return_on_ad_spend(Decimal("100"), Decimal("3")) == Decimal("33.3333")
    assert rules.return_on_ad_spend(Decimal("0.00"), Decimal("10.00")) == Decimal("0.0000")
    assert isinstance(rules.return_on_ad_spend(Decimal("1"), Decimal("3")), Decimal)


def test_roas_is_none_without_spend():
    assert rules.return_on_ad_spend(Decimal("500.00"), Decimal("0")) is None


def test_cost_per_lead_rounds_to_the_currency():
    assert rules.cost_per_lead(Decimal("100.00"), 3, "EUR") == Money(amount=Decimal("33.33"), currency="EUR")
    assert rules.cost_per_lead(Decimal("100"), 3, "JPY") == Money(amount=Decimal("33"), currency="JPY")
    assert rules.cost_per_lead(Decimal("0.00"), 4, "EUR") == Money(amount=Decimal("0.00"), currency="EUR")
    assert rules.cost_per_lead(Decimal("100.00"), 0, "EUR") is None


def test_amounts_in_the_base_currency_are_not_converted():
    assert rules.to_base(Decimal("12.34"), "EUR", "EUR", date(2024, 1, 2)) == Decimal("12.34")


# -- rate limit --------------------------------------------------------------------------------------------


def request_from(client_host: str | None, forwarded_for: list[str]) -> Request:
    """A request as the server sees it: the peer address and the X-Forwarded-For headers received."""
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded_for]
    client = (client_host, 50000) if client_host else None
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers, "client": client})


def client_key(client_host: str | None, forwarded_for: list[str], behind_gateway: bool) -> str:
    return client_address(request_from(client_host, forwarded_for), behind_gateway=behind_gateway)


def test_client_key_ignores_forwarded_for_unless_behind_the_gateway():
    assert client_key("10.1.1.1", ["203.0.113.7"], behind_gateway=False) == "10.1.1.1"
    assert client_key("10.1.1.1", ["203.0.113.7"], behind_gateway=True) == "203.0.113.7"


def test_client_key_trusts_only_the_entry_the_gateway_added():
    forged = ["1.2.3.4, 5.6.7.8", "203.0.113.7"]
    assert client_key("10.1.1.1", forged, behind_gateway=True) == "203.0.113.7"
    assert client_key("10.1.1.1", ["garbage"], behind_gateway=True) == "10.1.1.1"
    assert client_key("10.1.1.1", [], behind_gateway=True) == "10.1.1.1"
    assert client_key(None, [], behind_gateway=False) == "unknown"


def test_rate_limiter_refuses_after_the_limit_and_says_how_long_to_wait(monkeypatch):
    # The kernel's sliding-window counter names a wait that depends on where in the window the
    # hits fall (up to 80 s for 3/minute at a window's start), so the clock is pinned mid-window.
    import hanse.ratelimit

    monkeypatch.setattr(hanse.ratelimit.time, "time", lambda: 6030.0)
    limiter = RateLimiter("lead-form", "3/minute")
    assert [limiter.hit("a") for _ in range(3)] == [None, None, None]
    wait = limiter.hit("a")
    assert wait is not None and 1 <= wait <= 60
    assert limiter.hit("b") is None, "per client"
    assert RateLimiter("lead-form", "3/minute").hit("a") is None, "per limiter instance"


def test_rate_limit_setting_must_parse(monkeypatch):
    monkeypatch.setenv("HANSE_LEAD_RATE_LIMIT", "lots")
    with pytest.raises(ValidationError):
        MarketingConfig()
    monkeypatch.setenv("HANSE_LEAD_RATE_LIMIT", "100/hour")
    monkeypatch.setenv("HANSE_BEHIND_GATEWAY", "1")
    config = MarketingConfig()
    assert config.lead_rate_limit == "100/hour" and config.behind_gateway is True
    assert config.consent_text_version == "2026-01"


def test_ids_sort_by_creation():
    ids = [new_id() for _ in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50 and all(len(i) == 32 for i in ids)
