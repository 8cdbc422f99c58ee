"""Compliance rules without I/O: name normalisation, scoring, embargoes, verdicts and the CSV import."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hanse.errors import Conflict
from services.compliance.config import SAMPLE_SANCTIONS, ComplianceConfig
from services.compliance.domain import rules
from services.compliance.domain.rules import Candidate, Party, normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Acme Trading GmbH", "acme trading"),
        ("ACME   Trading", "acme trading"),
        ("Acme Trading, L.L.C.", "acme trading"),
        ("Acme Trading Co., Ltd.", "acme trading"),
        ("Acme Trading S.p.A.", "acme trading"),
        ("Acme Trading S.A.S.", "acme trading"),
        ("Acme Trading B.V.", "acme trading"),
        ("OOO Acme Trading", "acme trading"),
        ("PJSC Acme-Trading", "acme trading"),
        ("Acme Trading Pte. Ltd.", "acme trading"),
        ("Acme Trading Limited Liability Company", "acme trading"),
        ("Müller-Schrödinger Handels GmbH", "muller schrodinger handels"),
        ("Société Générale de Négoce S.A.", "societe generale de negoce"),
        ("Øresund Łódź Straße", "oresund lodz strasse"),
        ("Nguyễn Văn Định", "nguyen van dinh"),
    ],
)
def test_normalise_casefolds_strips_diacritics_punctuation_and_legal_forms(raw, expected):
    assert normalise(raw) == expected


def test_a_name_that_is_only_a_legal_form_keeps_its_tokens():
    assert normalise("AB") == "ab"
    assert normalise("  ...  ") == ""


def test_word_order_does_not_matter_but_extra_words_do():
    assert rules.name_score(normalise("Trading Acme Ltd"), normalise("ACME Trading GmbH")) == 100
    assert rules.name_score(normalise("Acme Trading International"), normalise("Acme Trading")) < 88
    assert rules.name_score("", "acme") == 0


def _watch(name: str, *countries: str, entry_id: str = "wl_1") -> Candidate:
    return Candidate("watchlist", entry_id, name, (normalise(name),), tuple(countries))


def test_matches_at_or_above_the_threshold_and_not_below():
    entry = _watch("Acme Trading GmbH")
    (found,) = rules.find_matches(Party(("ACME Trading",), "DE"), [entry], threshold=88)
    match, reason = found
    assert (match.list, match.entry_id, match.score) == ("watchlist", "wl_1", 100.0)
    assert "Acme Trading GmbH" in reason
    assert rules.find_matches(Party(("Nordwind Handel GmbH",), "DE"), [entry], threshold=88) == []
    # A near miss: one letter off scores in the 90s; a stricter threshold lets it pass.
    near = Party(("Acme Tradeing",), None)
    assert rules.find_matches(near, [entry], threshold=88)
    assert rules.find_matches(near, [entry], threshold=99) == []


def test_aliases_are_compared_and_the_best_party_name_wins():
    entry = Candidate(
        "sanctions", "s-1", "Zyvorra Holdings Ltd", (normalise("Zyvorra Holdings Ltd"), normalise("ZFH Group")), ()
    )
    (found,) = rules.find_matches(Party(("Jane Doe", "ZFH Group Inc."), None), [entry], threshold=88)
    assert found[0].name == "Zyvorra Holdings Ltd" and found[0].score == 100


def test_a_different_country_lowers_the_score():
    entry = _watch("Acme Trading GmbH", "DE")
    same = rules.best_match(Party(("Acme Trading",), "DE"), entry)
    other = rules.best_match(Party(("Acme Trading",), "FR"), entry)
    unknown = rules.best_match(Party(("Acme Trading",), None), entry)
    assert same[0] == 100 and unknown[0] == 100
    assert other[0] == 100 - rules.COUNTRY_MISMATCH_PENALTY
    near = Party(("Acme Tradng",), "FR")  # ~96 by name, below 88 once the country differs
    assert rules.find_matches(near, [entry], threshold=88) == []


def test_embargo_blocks_and_names_each_country():
    embargoed = frozenset({"KP", "IR", "SY", "CU"})
    reasons = rules.embargo_reasons(embargoed, destination_country="KP", buyer_country="DE")
    assert reasons == ["destination country KP is under embargo"]
    assert rules.embargo_reasons(embargoed, destination_country="FR", buyer_country="ir") == [
        "buyer country ir is under embargo"
    ]
    assert rules.embargo_reasons(embargoed, destination_country="FR", buyer_country=None) == []


def test_verdict_embargo_beats_match_and_match_needs_review():
    entry = _watch("Acme Trading GmbH")
    matches = rules.find_matches(Party(("Acme Trading",), None), [entry], 88)
    assert rules.verdict(["destination country KP is under embargo"], matches).result == "blocked"
    review = rules.verdict([], matches)
    assert review.result == "review" and review.matches[0].entry_id == "wl_1"
    assert rules.verdict([], []).result == "clear"


def test_embargo_setting_is_parsed_and_validated(monkeypatch):
    monkeypatch.delenv("HANSE_EMBARGOED_COUNTRIES", raising=False)
    monkeypatch.delenv("HANSE_SCREENING_THRESHOLD", raising=False)
    assert ComplianceConfig().embargoed() == {"KP", "IR", "SY", "CU"}
    monkeypatch.setenv("HANSE_EMBARGOED_COUNTRIES", " ru, by ,")
    assert ComplianceConfig().embargoed() == {"RU", "BY"}
    monkeypatch.setenv("HANSE_EMBARGOED_COUNTRIES", "KP,XX")
    with pytest.raises(ValueError, match="XX"):
        ComplianceConfig()
    monkeypatch.delenv("HANSE_EMBARGOED_COUNTRIES")
    monkeypatch.setenv("HANSE_SCREENING_THRESHOLD", "120")
    with pytest.raises(ValueError):
        ComplianceConfig()


def test_only_open_reviews_can_be_decided():
    rules.ensure_decidable("open", "review")
    for status, result in [("decided", "clear"), ("decided", "blocked"), ("closed", "review"), ("decided", "review")]:
        with pytest.raises(Conflict):
            rules.ensure_decidable(status, result)
    assert rules.decided_result("clear") == "clear" and rules.decided_result("reject") == "blocked"


# -- the OpenSanctions CSV --------------------------------------------------------------------------

HEADER = (
    "id,schema,name,aliases,birth_date,countries,addresses,identifiers,sanctions,phones,emails,"
    "program_ids,dataset,first_seen,last_seen,last_change"
)


def test_the_shipped_sample_loads_entities_only():
    rows, skipped = rules.parse_sanctions_csv(SAMPLE_SANCTIONS.read_text("utf-8"))
    assert 15 <= len(rows) <= 30
    assert skipped == 3  # a vessel, an address and an airplane
    assert {r.schema for r in rows} <= rules.SCREENED_SCHEMAS
    assert all(r.dataset == "hanse_fictitious_sample" for r in rows)
    by_id = {r.id: r for r in rows}
    assert by_id["hanse-fict-009"].countries == ("AE", "IR")
    assert "Oresund Phantom Trading" in by_id["hanse-fict-002"].aliases


def test_csv_aliases_and_countries_are_split_on_semicolons_and_duplicates_replace():
    text = (
        f"{HEADER}\n"
        "x1,Person,Jane Roe,J. Roe;Jane Roe; Janie Roe ,,us;ca,,,,,,,d,,,\n"
        "x2,Vessel,Boat,,,,,,,,,,d,,,\n"
        "x1,Person,Jane Roe,,,gb,,,,,,,d,,,\n"
        ",Person,No Id,,,,,,,,,,d,,,\n"
    )
    rows, skipped = rules.parse_sanctions_csv(text)
    assert [(r.id, r.countries) for r in rows] == [("x1", ("GB",))]
    assert skipped == 3
    first, _ = rules.parse_sanctions_csv(
        f"{HEADER}\nx1,Person,Jane Roe,J. Roe;Jane Roe; Janie Roe ,,us;ca,,,,,,,d,,,\n"
    )
    assert first[0].aliases == ("J. Roe", "Janie Roe") and first[0].countries == ("US", "CA")


def test_csv_with_only_the_required_columns_is_accepted():
    rows, skipped = rules.parse_sanctions_csv("id,schema,name,aliases,countries\nc1,Company,Foo Ltd,,de\n")
    assert rows[0].name == "Foo Ltd" and skipped == 0


@pytest.mark.parametrize("missing", ["id", "schema", "name", "aliases", "countries"])
def test_csv_missing_a_column_names_it(missing):
    header = ",".join(c for c in HEADER.split(",") if c != missing)
    with pytest.raises(rules.SanctionsCsvError) as err:
        rules.parse_sanctions_csv(header + "\n")
    assert err.value.field == missing and missing in err.value.detail


def test_csv_malformed_rows_reject_the_file():
    with pytest.raises(rules.SanctionsCsvError, match="fields") as err:
        rules.parse_sanctions_csv("id,schema,name,aliases,countries\nc1,Company,Foo\n")
    assert err.value.field == "body"
    with pytest.raises(rules.SanctionsCsvError, match="empty"):
        rules.parse_sanctions_csv("")
    with pytest.raises(rules.SanctionsCsvError):
        rules.parse_sanctions_csv('id,schema,name,aliases,countries\nc1,Company,"Foo\x00,,\n')


# -- export control, documents, Incoterms ----------------------------------------------------------


def test_export_control_matches_hs_prefix_digits_and_destination():
    controls = [
        rules.ExportRule("r1", "8542", ("RU", "BY"), "dual_use"),
        rules.ExportRule("r2", "9301", ("*",), "military"),
    ]
    lines = [("CHIP", "8542.31.00"), ("PUMP", "841370"), ("GUN", "930190")]
    ru = rules.export_control_hits(lines, "ru", controls)
    assert [r.split(" under rule ")[1] for r in ru] == ["r1 (dual_use)", "r2 (military)"]
    assert all(r.startswith("export_licence_required: ") for r in ru)
    assert [r.split(" under rule ")[1] for r in rules.export_control_hits(lines, "FR", controls)] == ["r2 (military)"]
    assert rules.export_control_hits([("PUMP", "841370")], "RU", controls) == []


def test_required_documents_by_destination_value_and_licence():
    coo = {"AE": "legalised certificate asked"}

    def kinds(**kw):
        args = {"seller_country": "DE", "destination": "FR", "total_eur": Decimal("5000"), "coo_countries": coo}
        return [k for k, _ in rules.required_documents(**(args | {"licence_reasons": []} | kw))]

    assert kinds() == ["commercial_invoice", "packing_list"]  # inside the EU
    assert kinds(destination="US", total_eur=Decimal("1000")) == ["commercial_invoice", "packing_list"]
    assert kinds(destination="US", total_eur=Decimal("1000.01"))[-1] == "export_declaration"
    assert kinds(destination="AE") == [
        "commercial_invoice",
        "packing_list",
        "certificate_of_origin",
        "export_declaration",
    ]
    assert kinds(seller_country="US", destination="CA") == ["commercial_invoice", "packing_list"]
    assert kinds(licence_reasons=["x"])[-1] == "export_licence"


def test_sea_only_incoterms_with_other_transport_are_findings():
    assert rules.incoterm_decision("FOB", "air")[0] is False
    assert rules.incoterm_decision("cif", "road")[0] is False
    assert rules.incoterm_decision("CIF", "sea")[0] is True
    assert rules.incoterm_decision("CIF", None)[0] is True
    assert rules.incoterm_decision("FCA", "air")[0] is True
