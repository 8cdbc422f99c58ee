"""Every string the console shows has a German translation, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from web.i18n import LOCALE_DIR, Formats, negotiate, translations

WEB = Path(__file__).resolve().parents[2] / "web"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def marked_strings() -> set[str]:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    found = set()
    for _, _, message, _, _ in extract_from_dir(WEB, method_map, options, keywords):
        found.update([message] if isinstance(message, str) else [m for m in message if m])
    return found


def german_catalogue() -> dict[str, str]:
    strings: dict[str, str] = {}
    for po in sorted((LOCALE_DIR / "de" / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as handle:
            for message in read_po(handle, locale="de"):
                if message.id and message.string and not message.fuzzy:
                    key = message.id if isinstance(message.id, str) else message.id[0]
                    strings[key] = message.string if isinstance(message.string, str) else message.string[0]
    return strings


def test_every_marked_string_has_a_german_translation() -> None:
    marked = marked_strings()
    assert len(marked) > 30, "the extraction found too little: is the babel mapping right?"
    catalogue = german_catalogue()
    missing = sorted(marked - catalogue.keys())
    assert not missing, f"no German translation for {len(missing)} strings: {missing}"


def test_translations_keep_their_placeholders() -> None:
    for source, german in german_catalogue().items():
        assert set(PLACEHOLDER.findall(source)) == set(PLACEHOLDER.findall(german)), (source, german)


def test_the_merged_catalogue_translates() -> None:
    assert translations("de").gettext("Sign out") == "Abmelden"
    assert translations("en").gettext("Sign out") == "Sign out"


def test_language_from_accept_language() -> None:
    assert negotiate("de-DE,de;q=0.9,en;q=0.8") == "de"
    assert negotiate("fr-FR, en;q=0.5") == "en"
    assert negotiate("fr") == "en"
    assert negotiate(None) == "en"
    assert negotiate("de;q=abc, en") == "en"


def test_money_and_time_follow_the_reader() -> None:
    german = Formats("de", "Europe/Berlin")
    assert german.money("1234.5", "EUR") == "1.234,50\xa0€"
    assert german.when("2026-11-26T20:00:00Z", "short") == "26.11.26, 21:00"
    english = Formats("en", "Asia/Tokyo")
    assert english.money("1234.5", "USD") == "US$1,234.50"
    assert english.when("2026-11-26T20:00:00+00:00", "short") == "27/11/2026, 05:00"
    assert Formats("en", "Not/AZone").zone.key == "UTC"


def test_the_areas_catalogues_agree_on_shared_strings() -> None:
    """One merged catalogue serves every page: a string translated two ways would show one at random."""
    seen: dict[str, dict[str, list[str]]] = {}
    for po in sorted((LOCALE_DIR / "de" / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as handle:
            for message in read_po(handle, locale="de"):
                if message.id and message.string:
                    seen.setdefault(str(message.id), {}).setdefault(str(message.string), []).append(po.stem)
    disagree = {source: ways for source, ways in seen.items() if len(ways) > 1}
    assert not disagree, disagree
