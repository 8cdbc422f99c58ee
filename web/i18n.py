"""The console's languages: Babel catalogues per area, read at start, and formatting for the reader.

Each area of the console keeps its German strings in its own catalogue,
`web/locale/de/LC_MESSAGES/<area>.po`, so pages can grow side by side; they are compiled in memory
when the gateway starts and merged into one `Translations` per language (no .mo files to build or
commit). English is the source language. `tests/unit/test_console_i18n.py` extracts every string
the templates and pages mark and fails on one without a German translation.
"""

from __future__ import annotations

import functools
import io
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import babel.dates
import babel.numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = ("en", "de")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch"}
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


def N_(message: str) -> str:
    """Marks a string for extraction where it is defined; it is translated where it is shown."""
    return message


@functools.cache
def translations(language: str) -> NullTranslations:
    """Every catalogue of `language`, merged (English: the strings as written)."""
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    merged: Translations | None = None
    if language == DEFAULT_LANGUAGE or not folder.is_dir():
        return NullTranslations()
    for po in sorted(folder.glob("*.po")):
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)  # fuzzy entries are left out, as gettext would
        buffer.seek(0)
        part = Translations(buffer)
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    return merged or NullTranslations()


def negotiate(accept_language: str | None) -> str:
    """The best of LANGUAGES for an Accept-Language header."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    wanted = []
    for part in accept_language.split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        wanted.append((weight, tag.strip().split("-")[0].lower()))
    for _, tag in sorted(wanted, key=lambda w: -w[0]):
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE


def zone(name: str | None) -> ZoneInfo:
    """The reader's zone by IANA name; UTC for a missing or unknown one."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo("UTC")


def parse_instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Formats:
    """Numbers, money and instants in the reader's language and zone."""

    def __init__(self, language: str, zone_name: str | None) -> None:
        self.language = language
        self.locale = "de_DE" if language == "de" else "en_GB"
        self.zone = zone(zone_name)

    def money(self, amount: Any, currency: str | None = None) -> str:
        if amount is None or amount == "":
            return "–"
        try:
            value = Decimal(str(amount))
        except InvalidOperation:
            return str(amount)
        if not currency:
            return babel.numbers.format_decimal(value, format="#,##0.00", locale=self.locale)
        return babel.numbers.format_currency(value, currency, locale=self.locale)

    def number(self, value: Any) -> str:
        if value is None or value == "":
            return "–"
        try:
            return babel.numbers.format_decimal(Decimal(str(value)), locale=self.locale)
        except InvalidOperation:
            return str(value)

    def when(self, value: Any, format: str = "medium") -> str:
        """An instant in the reader's zone, e.g. `26 Nov 2026, 21:04:05` / `26.11.2026, 21:04:05`."""
        moment = parse_instant(value)
        if moment is None:
            return "–" if not value else str(value)
        return babel.dates.format_datetime(moment, format=format, tzinfo=self.zone, locale=self.locale)

    def day(self, value: Any) -> str:
        if not value:
            return "–"
        moment = parse_instant(value)
        if moment is not None and isinstance(value, str) and "T" in value:
            return babel.dates.format_date(moment.astimezone(self.zone).date(), format="medium", locale=self.locale)
        try:
            day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        except ValueError:
            return str(value)
        return babel.dates.format_date(day, format="medium", locale=self.locale)
