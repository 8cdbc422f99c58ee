"""Field rules every department shares, each written once: country, currency, money, language, text.

Use them as annotated types in request models (`country: CountryCode`); a bad value becomes a 422
problem naming the field. The plain functions serve rules that check values outside a model.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from typing import Annotated

import pycountry
from pydantic import AfterValidator, StringConstraints

from hanse.money import minor_unit, validate_currency

# Free text: no control characters (PostgreSQL refuses NUL; nobody means a tab in a name).
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
MAX_AMOUNT = Decimal("1e12")
# BCP 47, simply: a 2-3 letter language, then subtags (script, region, variant) of 2-8 letters/digits.
_LANGUAGE_TAG = re.compile(r"([A-Za-z]{2,3})((?:-[A-Za-z0-9]{2,8})*)")


@lru_cache(maxsize=512)
def is_country(code: str) -> bool:
    """An ISO 3166-1 alpha-2 code, upper case."""
    return len(code) == 2 and code.isascii() and code.isalpha() and pycountry.countries.get(alpha_2=code) is not None


def country_code(value: str) -> str:
    """ "de " -> "DE"; anything that is not an ISO 3166-1 alpha-2 code is refused."""
    code = value.strip().upper()
    if not is_country(code):
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def language_tag(value: str) -> str:
    """A BCP 47 tag in its canonical spelling: 'pt-br' -> 'pt-BR', 'zh-hans-cn' -> 'zh-Hans-CN'.

    The primary language must exist in ISO 639; one spelling per language lets rows group and
    filter, and lets templates be found by the tag.
    """
    match = _LANGUAGE_TAG.fullmatch(value.strip())
    if match is None or len(value) > 35:
        raise ValueError(f"{value!r} is not a language tag like 'de' or 'pt-BR'")
    primary = match.group(1).lower()
    known = pycountry.languages.get(alpha_2=primary) if len(primary) == 2 else pycountry.languages.get(alpha_3=primary)
    if known is None:
        raise ValueError(f"{primary!r} is not an ISO 639 language")
    subtags = []
    for sub in match.group(2).split("-")[1:]:
        if len(sub) == 2 and sub.isalpha():
            subtags.append(sub.upper())  # region
        elif len(sub) == 4 and sub.isalpha():
            subtags.append(sub.title())  # script
        else:
            subtags.append(sub.lower())
    return "-".join([primary, *subtags])


def positive_amount(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("amount must be greater than 0")
    if value >= MAX_AMOUNT:
        raise ValueError("amount is too large")
    return value


def check_minor_unit(amount: Decimal, currency: str) -> None:
    """12.50 EUR and 1500 JPY pass; 12.505 EUR and 1500.5 JPY do not."""
    places = -minor_unit(currency).as_tuple().exponent
    if amount != amount.quantize(minor_unit(currency)):
        raise ValueError(f"{currency} amounts have at most {places} decimals")


# The bound on the raw string keeps a megabyte of input from reaching pycountry.
CountryCode = Annotated[str, StringConstraints(max_length=64), AfterValidator(country_code)]
CurrencyCode = Annotated[str, StringConstraints(max_length=64), AfterValidator(validate_currency)]
LanguageTag = Annotated[str, StringConstraints(max_length=64), AfterValidator(language_tag)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=PRINTABLE)]
Ident = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=PRINTABLE)]

__all__ = [
    "PRINTABLE",
    "CountryCode",
    "CurrencyCode",
    "Ident",
    "LanguageTag",
    "Text200",
    "check_minor_unit",
    "country_code",
    "is_country",
    "language_tag",
    "positive_amount",
]
