"""The kernel's shared field rules: each is written once and every department uses it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hanse.validators import check_minor_unit, country_code, language_tag, positive_amount


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("de", "de"),
        ("pt-br", "pt-BR"),
        ("PT-BR", "pt-BR"),
        ("zh-hans-cn", "zh-Hans-CN"),
        ("fil", "fil"),
        ("es-419", "es-419"),
    ],
)
def test_language_tags_are_normalised(raw, expected):
    assert language_tag(raw) == expected


@pytest.mark.parametrize("raw", ["xx", "de_DE", "german", "d", "de-", "pt-BR-"])
def test_bad_language_tags_are_refused(raw):
    with pytest.raises(ValueError):
        language_tag(raw)


@pytest.mark.parametrize(("raw", "expected"), [("de", "DE"), (" us ", "US"), ("gb", "GB")])
def test_country_codes_are_upper_case_iso_3166(raw, expected):
    assert country_code(raw) == expected


@pytest.mark.parametrize("raw", ["XX", "DEU", "", "D1", "Ü"])
def test_unknown_country_codes_are_refused(raw):
    with pytest.raises(ValueError, match="ISO 3166"):
        country_code(raw)


def test_amounts_must_be_positive_and_in_the_currencys_minor_unit():
    assert positive_amount(Decimal("12.50")) == Decimal("12.50")
    with pytest.raises(ValueError, match="greater than 0"):
        positive_amount(Decimal(0))
    with pytest.raises(ValueError, match="too large"):
        positive_amount(Decimal("1e12"))
    check_minor_unit(Decimal("1500"), "JPY")
    check_minor_unit(Decimal("12.50"), "EUR")
    with pytest.raises(ValueError, match="JPY amounts have at most 0 decimals"):
        check_minor_unit(Decimal("1500.5"), "JPY")
    with pytest.raises(ValueError, match="EUR amounts have at most 2 decimals"):
        check_minor_unit(Decimal("12.505"), "EUR")
