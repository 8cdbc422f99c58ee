"""Money is Decimal with an ISO currency; ECB rates come from the offline reference data."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from hanse.money import Money, convert, ecb_rate, round_money


def test_money_serialises_amount_as_a_decimal_string():
    money = Money(amount="1234.50", currency="usd")
    assert money.currency == "USD"
    assert money.model_dump(mode="json") == {"amount": "1234.50", "currency": "USD"}


@pytest.mark.parametrize(
    "amount, currency",
    [(12.3, "EUR"), ("NaN", "EUR"), ("Infinity", "EUR"), ("1", "EURO"), ("1", "XYZ"), ("abc", "EUR")],
)
def test_floats_non_finite_amounts_and_unknown_currencies_are_refused(amount, currency):
    with pytest.raises(ValidationError):
        Money(amount=amount, currency=currency)


def test_rounding_follows_the_currency_minor_unit():
    assert round_money(Decimal("1.005"), "EUR") == Decimal("1.01")
    assert round_money(Decimal("100.5"), "JPY") == Decimal("101")
    assert round_money(Decimal("1.0005"), "KWD") == Decimal("1.001")


def test_adding_different_currencies_is_an_error():
    with pytest.raises(ValueError):
        Money.of("1", "EUR") + Money.of("1", "USD")
    assert (Money.of("1.10", "EUR") + Money.of("2.20", "EUR")).amount == Decimal("3.30")


def test_ecb_rate_uses_the_last_fixing_on_or_before_the_date():
    saturday = date(2025, 6, 7)
    fx = ecb_rate("EUR", "USD", saturday)
    assert fx.rate_date < saturday, "no fixing on a Saturday: the Friday one is used and named"
    assert isinstance(fx.rate, Decimal) and fx.rate > 0
    back = ecb_rate("USD", "EUR", saturday)
    assert abs(fx.rate * back.rate - 1) < Decimal("0.0001")


def test_convert_rounds_to_the_target_currency_and_returns_the_rate_used():
    money, fx = convert(Money.of("100", "EUR"), "JPY", date(2025, 6, 6))
    assert money.currency == "JPY" and money.amount == money.amount.to_integral_value()
    assert fx.base == "EUR" and fx.quote == "JPY" and fx.rate_date == date(2025, 6, 6)
    same, fx_same = convert(Money.of("5", "EUR"), "EUR")
    assert same.amount == Decimal("5.00") and fx_same.rate == 1
