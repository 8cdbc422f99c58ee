"""Marketing's mail, scoring and sitemap rules without I/O: signed tokens, languages, lead score, sitemap XML."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import xmlschema
from lxml import etree
from pydantic import ValidationError

from services.marketing import views
from services.marketing.config import MarketingConfig
from services.marketing.domain import rules
from services.marketing.models import NewsletterCreate, SeoMetadata, SeoPut

SECRET = "s" * 40
XSD = Path(__file__).resolve().parents[1] / "data" / "sitemap" / "sitemap-hreflang.xsd"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_a_confirmation_token_is_read_back_and_refused_when_forged_expired_or_for_another_purpose():
    token = rules.confirm_token(SECRET, "sub_1", "nonce", NOW)
    assert rules.read_confirm_token(SECRET, token, NOW + timedelta(days=6, hours=23), 7) == ("sub_1", "nonce")

    with pytest.raises(rules.TokenError, match="expired"):
        rules.read_confirm_token(SECRET, token, NOW + timedelta(days=7, seconds=1), 7)
    body, _, signature = token.partition(".")
    forgeries = [
        token + "x",
        body + "." + signature[::-1],
        rules.confirm_token("t" * 40, "sub_1", "nonce", NOW),  # another secret
        rules.sign_token(SECRET, {"p": "confirm", "s": "sub_1"}),  # genuine, but no nonce or time
        rules.unsubscribe_token(SECRET, "k" * 64),  # genuine, another purpose
        "no-dot-at-all",
        "",
    ]
    for forged in forgeries:
        with pytest.raises(rules.TokenError, match="forged"):
            rules.read_confirm_token(SECRET, forged, NOW, 7)


def test_an_unsubscribe_token_names_the_address_only_by_its_key_and_never_expires():
    key = rules.email_key(SECRET, " Anna@Example.COM ")
    assert key == rules.email_key(SECRET, "anna@example.com") != rules.email_key("t" * 40, "anna@example.com")
    token = rules.unsubscribe_token(SECRET, key)
    assert "anna" not in token.lower() and rules.read_unsubscribe_token(SECRET, token) == key
    with pytest.raises(rules.TokenError):
        rules.read_unsubscribe_token(SECRET, rules.confirm_token(SECRET, "sub_1", "n", NOW))


@pytest.mark.parametrize(
    ("available", "wanted", "expected"),
    [
        ({"en", "de"}, "de", "de"),
        ({"en", "de"}, "de-CH", "de"),
        ({"en", "de"}, "zh", "en"),
        ({"en", "de"}, None, "en"),
        ({"fr"}, "de", None),
        ({"pt-BR", "en"}, "pt-BR", "pt-BR"),
    ],
)
def test_a_reader_gets_their_language_else_en(available, wanted, expected):
    assert rules.text_language(available, wanted) == expected


def test_uncovered_languages_name_what_a_text_without_en_cannot_serve():
    assert rules.uncovered_languages({"de", "fr"}, ["de", "fr-CA", "zh", None]) == ["en", "zh"]
    assert rules.uncovered_languages({"en"}, ["zh"]) == []


def test_a_newsletter_names_the_same_languages_in_subject_and_body():
    NewsletterCreate(subject={"en": "Hi", "de": "Hallo"}, body={"en": "x", "de": "y"})
    for bad in (
        {"subject": {"en": "Hi"}, "body": {"de": "x"}},
        {"subject": {}, "body": {}},
        {"subject": {"xx-notalang": "Hi"}, "body": {"xx-notalang": "x"}},
        {"subject": {"en": "  "}, "body": {"en": "x"}},
        {"subject": {"en": "Hi"}, "body": {"en": "nul \x00 inside"}},
    ):
        with pytest.raises(ValidationError):
            NewsletterCreate(**bad)


def test_a_hot_lead_scores_high_with_every_reason_named():
    score, reasons = rules.score_lead(
        email="greta@nordlicht.example",
        country="DE",
        message="Please send a quotation for 2,500 units, delivery 2027.",
        channel="trade_show",
        consent_marketing=True,
    )
    assert score == 100 >= rules.HOT_LEAD
    assert reasons == [
        "+10 base",
        "+20 business email domain (nordlicht.example)",
        "+15 core market DE",
        "+25 large quantity (2500) in the message",
        "+20 buying intent: quotation",
        "+15 channel trade_show",
        "+10 marketing consent given",
    ]


def test_a_cold_lead_scores_low_and_never_below_zero():
    score, reasons = rules.score_lead(
        email="someone@gmail.com", country="IR", message="Hello, in 2026 ...", channel=None, consent_marketing=False
    )
    assert (
        score == 0 and "+0 free-mail address (gmail.com)" in reasons and "-20 country IR under embargo risk" in reasons
    )
    mid, _ = rules.score_lead(
        email="a@b.example", country="BR", message=None, channel="social", consent_marketing=False
    )
    assert mid == 10 + 20 + 5 + 5


@pytest.mark.parametrize(
    ("message", "quantity", "intent"),
    [
        ("Angebot für 5.000 Stück bitte", 5000, ["angebot"]),
        ("需要报价 3000件", 3000, ["报价"]),
        ("Necesitamos cotización de 40 bombas", 40, ["cotización"]),
        ("We met in 2025", None, []),
        (None, None, []),
    ],
)
def test_quantities_and_intent_words_are_found_in_several_languages(message, quantity, intent):
    assert rules.largest_quantity(message) == quantity
    assert rules.intent_words(message) == intent


def test_seo_titles_descriptions_and_slugs_have_their_limits():
    SeoPut(title="t" * 60, description="d" * 160, slug="pump-x-200")
    for bad in (
        {"title": "t" * 61, "description": "d", "slug": "s"},
        {"title": "t", "description": "d" * 161, "slug": "s"},
        {"title": "t", "description": "d", "slug": "Not A Slug"},
        {"title": "t", "description": "d", "slug": "-lead"},
    ):
        with pytest.raises(ValidationError):
            SeoPut(**bad)


def meta(sku: str, language: str, slug: str) -> SeoMetadata:
    return SeoMetadata(sku=sku, language=language, title="T", description="D", slug=slug, updated_at=NOW)


def test_the_sitemap_validates_and_lists_each_page_with_every_alternate_and_x_default():
    pages = {
        "PUMP-1": [meta("PUMP-1", "de", "pumpe-1"), meta("PUMP-1", "en", "pump-1"), meta("PUMP-1", "zh", "beng-1")],
        "VALVE-2": [meta("VALVE-2", "fr", "vanne-2")],
    }
    xml = views.sitemap_xml(pages, "https://shop.example")
    schema = xmlschema.XMLSchema(str(XSD))
    schema.validate(xml.decode())
    etree.XMLSchema(etree.parse(str(XSD))).assertValid(etree.fromstring(xml))

    ns = {"s": views.SITEMAP_NS, "x": views.XHTML_NS}
    doc = etree.fromstring(xml)
    locs = doc.xpath("//s:url/s:loc/text()", namespaces=ns)
    assert locs == [
        "https://shop.example/",
        "https://shop.example/de/products/pumpe-1",
        "https://shop.example/en/products/pump-1",
        "https://shop.example/zh/products/beng-1",
        "https://shop.example/fr/products/vanne-2",
    ]
    [german] = doc.xpath("//s:url[s:loc='https://shop.example/de/products/pumpe-1']", namespaces=ns)
    links = {(a.get("hreflang"), a.get("href")) for a in german.xpath("x:link[@rel='alternate']", namespaces=ns)}
    assert links == {
        ("de", "https://shop.example/de/products/pumpe-1"),
        ("en", "https://shop.example/en/products/pump-1"),
        ("zh", "https://shop.example/zh/products/beng-1"),
        ("x-default", "https://shop.example/en/products/pump-1"),
    }
    [french] = doc.xpath("//s:url[s:loc='https://shop.example/fr/products/vanne-2']", namespaces=ns)
    assert {a.get("hreflang") for a in french.xpath("x:link", namespaces=ns)} == {"fr", "x-default"}


def test_the_schema_refuses_a_broken_sitemap():
    """The XSD really checks: a sitemap without <loc> or with a bad hreflang fails."""
    schema = xmlschema.XMLSchema(str(XSD))
    bad_link = views.sitemap_xml({"P": [meta("P", "en", "p")]}, "https://shop.example").replace(
        b'hreflang="en"', b'hreflang="not a tag"'
    )
    assert not schema.is_valid(bad_link.decode())
    no_loc = b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url></url></urlset>'
    assert not schema.is_valid(no_loc.decode())


def test_links_in_mail_must_be_https_except_on_a_loopback_host():
    assert (
        MarketingConfig(marketing_public_url="https://hanse.example/").marketing_public_url == "https://hanse.example"
    )
    assert MarketingConfig(marketing_public_url="http://127.0.0.1:8000").marketing_public_url == "http://127.0.0.1:8000"
    with pytest.raises(ValidationError):
        MarketingConfig(marketing_public_url="http://hanse.example")


def test_the_marketing_secret_is_required_in_prod(tmp_path):
    from hanse.settings import Settings

    prod = Settings(env="prod", jwt_secret="j" * 40, data_dir=tmp_path)
    with pytest.raises(ValueError, match="HANSE_MARKETING_SECRET"):
        MarketingConfig(marketing_secret=None).resolve(prod)
    with pytest.raises(ValueError, match="at least 32"):
        MarketingConfig(marketing_secret="short").resolve(prod)
    dev = MarketingConfig(marketing_secret=None).resolve(Settings(env="dev", data_dir=tmp_path))
    assert dev.secret == (tmp_path / "marketing-secret").read_text().strip() and len(dev.secret) >= 32
