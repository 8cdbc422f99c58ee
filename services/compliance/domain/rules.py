"""Pure compliance rules: name matching, embargoes, verdicts, decisions and the sanctions CSV format."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from rapidfuzz import fuzz
from rigour.names import normalize_name, remove_org_types
from rigour.text import ascii_text

from hanse.errors import Conflict, Invalid, PermanentEventError
from services.compliance.contract import Match, ScreeningResult

Decision = Literal["clear", "reject"]
CheckStatus = Literal["open", "decided", "closed"]
MAX_ID_LENGTH = 255


def ensure_subject_id(name: str, value: str) -> None:
    """Ids from other departments must fit our columns; an event that breaks this can never apply."""
    if not value or len(value) > MAX_ID_LENGTH:
        raise PermanentEventError(f"{name} must be 1..{MAX_ID_LENGTH} characters")


def party_country(country: str | None) -> str | None:
    return country.strip().upper() if country and country.strip() else None


# -- name normalisation and scoring ----------------------------------------------------------------

# Letters NFKD does not decompose into a base letter plus a combining mark.
_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "ł": "l", "ı": "i", "þ": "th"})
# Dotted abbreviations (L.L.C., S.p.A., B.V.) lose their dots before punctuation becomes space.
_DOTTED = re.compile(r"\b(?:[^\W\d_]\.){1,}[^\W\d_]?\b\.?")
_NOT_WORD = re.compile(r"[\W_]+")

LEGAL_SUFFIXES: frozenset[str] = frozenset(
    """
    llc inc incorporated ltd limited gmbh mbh ag sa sas sarl srl spa bv nv oy oyj ab plc co corp corporation
    company llp lp kg ohg ug ooo oao zao ao jsc pjsc ojsc cjsc pte pty se kft zrt sro as asa aps doo ad
    kk gk bhd sdn lda ltda sl sna eurl ev
    """.split()
)
# Multi-word legal forms, removed before single tokens (normalised form, space separated).
LEGAL_PHRASES: tuple[str, ...] = (
    "limited liability company",
    "limited liability partnership",
    "public limited company",
    "joint stock company",
    "private limited",
    "gesellschaft mit beschrankter haftung",
    "societe anonyme",
    "co kg",
)


def normalise(name: str) -> str:
    """Casefold, strip diacritics, transliterate other scripts, punctuation to spaces, drop legal
    forms (rigour's org-type table for every script, then ours), collapse whitespace."""
    if not name.isascii():
        # Legal forms in their own script first ("ПАО", "有限公司"), then Latin letters for all.
        name = ascii_text(remove_org_types(normalize_name(name) or name, replacement=" ")) or name
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold().translate(_LETTERS)
    text = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), text)
    tokens = _NOT_WORD.sub(" ", text).split()
    if not tokens:
        return ""
    joined = f" {' '.join(tokens)} "
    for phrase in LEGAL_PHRASES:
        joined = joined.replace(f" {phrase} ", " ")
    kept = [t for t in joined.split() if t not in LEGAL_SUFFIXES]
    # A name that is nothing but a legal form ("AB") keeps its tokens rather than matching everything.
    return " ".join(kept or tokens)


# An entry whose countries do not include the party's country is less likely the same party.
COUNTRY_MISMATCH_PENALTY = 10.0


def name_score(a: str, b: str) -> float:
    """Similarity 0..100 of two normalised names; word order does not matter, extra words do."""
    if not a or not b:
        return 0.0
    return float(fuzz.token_sort_ratio(a, b))


@dataclass(frozen=True)
class Candidate:
    """An entry of the watchlist or the sanctions list, with its names already normalised."""

    list: Literal["watchlist", "sanctions"]
    entry_id: str
    name: str
    names_normalised: tuple[str, ...]
    countries: tuple[str, ...] = ()


@dataclass(frozen=True)
class Party:
    """Who is screened: one or more names (company, contact) and a country."""

    names: tuple[str, ...]
    country: str | None = None


def best_match(
    party: Party, candidate: Candidate, normalised_names: Sequence[tuple[str, str]] | None = None
) -> tuple[float, str, str] | None:
    """The best (score, party name, matched entry name) of a party against one entry's names."""
    best: tuple[float, str, str] | None = None
    if normalised_names is None:
        normalised_names = [(n, normalise(n)) for n in party.names]
    for party_name, normalised in normalised_names:
        for entry_name in candidate.names_normalised:
            score = name_score(normalised, entry_name)
            if best is None or score > best[0]:
                best = (score, party_name, entry_name)
    if best is None:
        return None
    score, party_name, entry_name = best
    if party.country and candidate.countries and party.country not in candidate.countries:
        score = max(score - COUNTRY_MISMATCH_PENALTY, 0.0)
    return round(score, 1), party_name, entry_name


def find_matches(party: Party, candidates: Iterable[Candidate], threshold: float) -> list[tuple[Match, str]]:
    """Entries scoring at or above the threshold, best first, with a reason line for each."""
    found: list[tuple[Match, str]] = []
    names = [(n, normalise(n)) for n in party.names]  # once per party, not once per entry
    for candidate in candidates:
        result = best_match(party, candidate, names)
        if result is None or result[0] < threshold:
            continue
        score, party_name, entry_name = result
        country = candidate.countries[0] if candidate.countries else None
        match = Match(
            list=candidate.list, entry_id=candidate.entry_id, name=candidate.name, score=score, country=country
        )
        found.append((match, f"{candidate.list} match: {party_name!r} ~ {candidate.name!r} ({entry_name}) {score}"))
    found.sort(key=lambda pair: (-pair[0].score, pair[0].entry_id))
    return found


# -- screening verdicts ----------------------------------------------------------------------------


@dataclass
class Verdict:
    result: ScreeningResult
    reasons: list[str] = field(default_factory=list)
    matches: list[Match] = field(default_factory=list)


def embargo_reasons(embargoed: frozenset[str], **countries: str | None) -> list[str]:
    """One reason per named country (destination_country=..., buyer_country=...) under embargo."""
    return [
        f"{role.replace('_', ' ')} {code} is under embargo"
        for role, code in countries.items()
        if code and code.upper() in embargoed
    ]


def verdict(embargo: list[str], matches: Sequence[tuple[Match, str]]) -> Verdict:
    """Embargo blocks outright; a list match needs an officer; otherwise the party is clear."""
    reasons = [*embargo, *(reason for _, reason in matches)]
    found = [m for m, _ in matches]
    if embargo:
        return Verdict("blocked", reasons, found)
    if found:
        return Verdict("review", reasons, found)
    return Verdict("clear", ["no embargo, no list match"], [])


def decided_result(decision: Decision) -> ScreeningResult:
    return "clear" if decision == "clear" else "blocked"


def ensure_decidable(status: str, result: str) -> None:
    """Only an open check in review awaits an officer."""
    if status != "open" or result != "review":
        raise Conflict(f"the check is {status} with result {result}; only open reviews can be decided", field="status")


# -- OpenSanctions targets.simple.csv --------------------------------------------------------------

SCREENED_SCHEMAS = frozenset({"Person", "Organization", "Company", "LegalEntity"})
REQUIRED_COLUMNS = ("id", "schema", "name", "aliases", "countries")
OPTIONAL_COLUMNS = (
    "birth_date",
    "addresses",
    "identifiers",
    "sanctions",
    "phones",
    "emails",
    "program_ids",
    "dataset",
    "first_seen",
    "last_seen",
    "last_change",
)


class SanctionsCsvError(ValueError):
    def __init__(self, detail: str, field: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


@dataclass(frozen=True)
class SanctionsRow:
    id: str
    schema: str
    name: str
    aliases: tuple[str, ...]
    countries: tuple[str, ...]
    dataset: str | None = None
    program_ids: str | None = None
    sanctions: str | None = None
    last_change: str | None = None


def _split(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(dict.fromkeys(part.strip() for part in value.split(";") if part.strip()))


def parse_sanctions_csv(text: str) -> tuple[list[SanctionsRow], int]:
    """Entities of a targets.simple.csv and how many rows were skipped (other schemas, no name).

    A missing required column or a row with the wrong number of fields rejects the whole file.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise SanctionsCsvError("the CSV is empty", field="body")
        columns = [h.strip().lower() for h in header]
        for column in REQUIRED_COLUMNS:
            if column not in columns:
                raise SanctionsCsvError(f"the CSV header lacks the column {column!r}", field=column)
        index = {name: columns.index(name) for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if name in columns}
        rows: dict[str, SanctionsRow] = {}
        skipped = 0
        for record in reader:
            if not record or all(not cell.strip() for cell in record):
                continue
            if len(record) != len(columns):
                raise SanctionsCsvError(
                    f"row {reader.line_num}: {len(record)} fields where the header has {len(columns)}", field="body"
                )

            def cell(name: str, record: list[str] = record) -> str:
                return record[index[name]].strip() if name in index else ""

            entity_id, schema, name = cell("id"), cell("schema"), cell("name")
            if schema not in SCREENED_SCHEMAS or not entity_id or not name or len(entity_id) > 200:
                skipped += 1
                continue
            if entity_id in rows:
                skipped += 1  # a later duplicate row replaces the earlier one
            rows[entity_id] = SanctionsRow(
                id=entity_id,
                schema=schema,
                name=name,
                aliases=tuple(a for a in _split(cell("aliases")) if a != name),
                countries=tuple(c.upper() for c in _split(cell("countries"))),
                dataset=cell("dataset") or None,
                program_ids=cell("program_ids") or None,
                sanctions=cell("sanctions") or None,
                last_change=cell("last_change") or None,
            )
    except csv.Error as exc:
        raise SanctionsCsvError(f"malformed CSV at line {reader.line_num}: {exc}", field="body") from None
    return list(rows.values()), skipped


def decode_csv(raw: bytes) -> str:
    if not raw.strip():
        raise Invalid("the request body is empty; send the CSV as text/csv", field="body")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(f"the CSV is not UTF-8 (byte {exc.start})", field="body") from None


# -- export control, trade documents, Incoterms ----------------------------------------------------

EXPORT_LICENCE_REQUIRED = "export_licence_required"
LIST_MATCH = "list_match"
# A hold ends when its last reason is resolved: a licence resolves the first, an officer the second.
HoldReason = Literal["export_licence_required", "list_match"]

EU_MEMBERS = frozenset("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())
# Exports leaving the EU above this value (in EUR) need an export declaration (EU customs: the
# simplified oral/implicit declaration covers low-value exports only).
EXPORT_DECLARATION_THRESHOLD_EUR = 1000
SEA_ONLY_INCOTERMS = frozenset({"FAS", "FOB", "CFR", "CIF"})


def hs_digits(code: str) -> str:
    """ "8542.31" and "8542 31" are the HS code 854231: rules and lines compare digits only."""
    return "".join(ch for ch in code if ch.isdigit())


@dataclass(frozen=True)
class ExportRule:
    id: str
    hs_prefix: str
    destinations: tuple[str, ...]  # ISO alpha-2 codes, or ("*",) for every destination
    regime: str


def export_control_hits(
    lines: Iterable[tuple[str, str]], destination: str | None, rules: Iterable[ExportRule]
) -> list[str]:
    """Reason lines for each (sku, hs_code) line caught by a rule for this destination, in rule order."""
    dest = (destination or "").upper()
    reasons: list[str] = []
    rules = list(rules)
    for sku, hs_code in lines:
        digits = hs_digits(hs_code)
        for rule in rules:
            if digits.startswith(rule.hs_prefix) and ("*" in rule.destinations or dest in rule.destinations):
                where = "any destination" if "*" in rule.destinations else dest
                reasons.append(
                    f"{EXPORT_LICENCE_REQUIRED}: {sku} (HS {hs_code}) to {where} under rule {rule.id} ({rule.regime})"
                )
    return reasons


def required_documents(
    *,
    seller_country: str,
    destination: str | None,
    total_eur: Decimal | None,
    coo_countries: dict[str, str],
    licence_reasons: Sequence[str],
) -> list[tuple[str, str]]:
    """(kind, reason) of every document a shipment of the order needs, in a fixed order."""
    dest = (destination or "").upper()
    seller = seller_country.upper()
    docs = [
        ("commercial_invoice", "always: customs value and buyer"),
        ("packing_list", "always: packages, weights and contents"),
    ]
    if dest in coo_countries:
        docs.append(("certificate_of_origin", coo_countries[dest]))
    leaves_eu = seller in EU_MEMBERS and dest not in EU_MEMBERS
    if leaves_eu and total_eur is not None and total_eur > EXPORT_DECLARATION_THRESHOLD_EUR:
        docs.append(
            (
                "export_declaration",
                f"export from the EU ({seller} to {dest}) above EUR {EXPORT_DECLARATION_THRESHOLD_EUR}"
                f" (order total EUR {total_eur})",
            )
        )
    if licence_reasons:
        docs.append(("export_licence", "; ".join(licence_reasons)))
    return docs


def incoterm_decision(incoterm: str, mode: str | None) -> tuple[bool, str]:
    """Incoterms 2020: FAS, FOB, CFR and CIF are for sea and inland waterway transport only."""
    term = incoterm.upper()
    if term in SEA_ONLY_INCOTERMS and mode and mode != "sea":
        return False, f"{term} is a sea-only Incoterm but the order ships by {mode}; use FCA/CPT/CIP instead"
    if term in SEA_ONLY_INCOTERMS and not mode:
        return True, f"{term} is sea-only; no transport mode given, sea assumed"
    return True, f"{term} fits transport mode {mode or 'unspecified'}"


def licence_valid(valid_until: date, today: date) -> bool:
    return valid_until >= today


# -- contracts -------------------------------------------------------------------------------------

INCOTERMS_2020 = frozenset("EXW FCA CPT CIP DAP DPU DDP FAS FOB CFR CIF".split())
# The review workflow; `expired` is set by the scheduler only.
CONTRACT_TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"under_review", "terminated"}),
    "under_review": frozenset({"active", "terminated"}),
    "active": frozenset({"terminated"}),
    "terminated": frozenset(),
    "expired": frozenset(),
}


def ensure_contract_transition(current: str, target: str, expires_on: date, today: date) -> None:
    if target not in CONTRACT_TRANSITIONS[current]:
        allowed = ", ".join(sorted(CONTRACT_TRANSITIONS[current])) or "nothing (final)"
        raise Conflict(f"a {current} contract can move to {allowed}, not {target}", field="status")
    if target == "active" and expires_on < today:
        raise Conflict(f"the contract expired on {expires_on.isoformat()}; it cannot become active", field="status")
