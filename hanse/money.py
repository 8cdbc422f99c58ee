"""Money as Decimal with an ISO 4217 currency; serialised as {"amount": "12.30", "currency": "EUR"}."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Annotated

import pycountry
from babel.numbers import get_currency_precision
from pydantic import BaseModel, ConfigDict, PlainSerializer, field_validator

# Decimal that serialises as a string in JSON so no consumer parses it into a float.
DecimalStr = Annotated[Decimal, PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json")]


@lru_cache(maxsize=512)
def is_currency(code: str) -> bool:
    return pycountry.currencies.get(alpha_3=code) is not None


@lru_cache(maxsize=512)
def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-get_currency_precision(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def validate_currency(value: str) -> str:
    code = value.upper() if isinstance(value, str) else value
    if not isinstance(code, str) or len(code) != 3 or not is_currency(code):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return code


class Money(BaseModel):
    model_config = ConfigDict(frozen=True)

    amount: DecimalStr
    currency: str

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        return validate_currency(v)

    @field_validator("amount", mode="before")
    @classmethod
    def _no_float(cls, v: object) -> object:
        if isinstance(v, float):
            raise ValueError("amount must be a decimal string, not a float")
        return v

    @field_validator("amount")
    @classmethod
    def _finite(cls, v: Decimal) -> Decimal:
        if not v.is_finite():
            raise ValueError("amount must be a finite number")
        return v

    @classmethod
    def of(cls, amount: Decimal | str | int, currency: str) -> Money:
        return cls(amount=round_money(Decimal(amount), currency), currency=currency)

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot subtract {other.currency} from {self.currency}")
        return Money(amount=self.amount - other.amount, currency=self.currency)


# -- ECB reference rates, shipped offline by the `currencyconverter` package -------------------------

_converter = None


def _ecb() -> object:
    global _converter
    if _converter is None:
        from currency_converter import CurrencyConverter

        # Weekends and holidays have no fixing: use the last published one (rate_date says which).
        _converter = CurrencyConverter(fallback_on_wrong_date=False, fallback_on_missing_rate=False)
    return _converter


class FxRate(BaseModel):
    """Units of `quote` per one unit of `base`, as published by the ECB on `rate_date`."""

    model_config = ConfigDict(frozen=True)

    base: str
    quote: str
    rate: DecimalStr
    rate_date: date
    source: str = "ECB"


def _eur_rate(currency: str, on: date) -> tuple[Decimal, date]:
    if currency == "EUR":
        return Decimal(1), on
    converter = _ecb()
    bounds = converter.bounds.get(currency)  # type: ignore[attr-defined]
    if bounds is None:
        raise ValueError(f"no ECB reference rate for {currency}")
    day = min(on, bounds.last_date)
    from currency_converter import RateNotFoundError

    for _ in range(15):
        try:
            rate = converter._get_rate(currency, day)  # type: ignore[attr-defined]
        except RateNotFoundError:
            rate = None
        if rate is not None:
            # ECB publishes 5 significant digits; str() of the float gives them back exactly.
            return Decimal(str(rate)), day
        day -= timedelta(days=1)
    raise ValueError(f"no ECB reference rate for {currency} near {on}")


def ecb_rate(base: str, quote: str, on: date | None = None) -> FxRate:
    """The ECB cross rate base→quote for `on` (default today), using the latest fixing on or before it."""
    on = on or datetime.now(UTC).date()
    base, quote = validate_currency(base), validate_currency(quote)
    if base == quote:
        return FxRate(base=base, quote=quote, rate=Decimal(1), rate_date=on)
    base_eur, day_b = _eur_rate(base, on)
    quote_eur, day_q = _eur_rate(quote, on)
    rate = (quote_eur / base_eur).quantize(Decimal("0.000001"))
    return FxRate(base=base, quote=quote, rate=rate, rate_date=min(day_b, day_q))


def convert(money: Money, to: str, on: date | None = None) -> tuple[Money, FxRate]:
    fx = ecb_rate(money.currency, to, on)
    return Money.of(money.amount * fx.rate, fx.quote), fx
