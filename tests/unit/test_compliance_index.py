"""The sanctions blocking index finds every match the brute-force scan finds, on labelled look-alikes."""

from __future__ import annotations

from bench.sanctions import THRESHOLD, candidates_of, generate_entities, lookalikes
from services.compliance.domain.index import NameIndex
from services.compliance.domain.rules import Candidate, Party, find_matches, normalise


def test_index_recall_equals_the_scan_on_labelled_lookalikes_at_small_scale():
    entities = generate_entities(3000, seed=3)
    candidates = candidates_of(entities)
    index = NameIndex(candidates)
    labelled = lookalikes(entities, 80, seed=5)
    kinds = {kind for _, _, kind, _ in labelled}
    assert kinds == {"transliteration", "reordered", "legal_form", "typo", "unrelated"}
    assert any(any("\u0400" <= ch <= "\u04ff" for ch in q) for q, *_ in labelled), "Cyrillic look-alikes"
    found_labelled = 0
    for query, country, _kind, entity_id in labelled:
        party = Party(names=(query,), country=country)
        scan = {m.entry_id for m, _ in find_matches(party, candidates, THRESHOLD)}
        retrieved = index.lookup([normalise(query)])
        assert len(retrieved) < len(candidates) / 5, "the index retrieves a small part of the list"
        via_index = {m.entry_id for m, _ in find_matches(party, retrieved, THRESHOLD)}
        assert scan == via_index, query
        found_labelled += bool(entity_id) and entity_id in via_index
    # Nearly every look-alike is found (a typo that reorders sorted tokens can fall below the threshold).
    assert found_labelled >= 0.9 * sum(1 for *_, e in labelled if e)


def test_common_tokens_do_not_flood_the_candidates_but_a_rare_one_still_retrieves():
    common = [Candidate("sanctions", f"c{i}", "x", (f"trading w{i:04d}x",)) for i in range(2000)]
    target = Candidate("sanctions", "t", "Zorbulax Trading", ("zorbulax trading",))
    index = NameIndex([*common, target])
    found = index.lookup([normalise("Zorbulax Trading LLC")])
    assert [c.entry_id for c in found] == ["t"]
    # A name made only of a stop key still gets the (smallest) posting rather than nothing.
    assert len(index.lookup(["trading"])) == 2001
