"""Sanctions screening at list scale: the blocking index against the brute-force scan, in one run.

`python -m bench.sanctions` (and `make bench`) generates a list of N entities (default 100,000:
persons and companies with invented names), a labelled set of look-alike names of listed
entities (transliterated into Cyrillic, tokens reordered, legal forms added or swapped, one-letter
typos) and unrelated names, then screens every name twice: with the scan (every entry scored) and
with the index (only the retrieved candidates scored). It prints p50/p95 of both, their ratio
(target >= 20x) and whether the index found every match the scan found.
"""

from __future__ import annotations

import csv
import io
import os
import random
import statistics
import time
from dataclasses import dataclass

from services.compliance.domain.index import NameIndex
from services.compliance.domain.rules import Candidate, Party, find_matches, normalise

CONSONANTS = "bdgklmnprstvz"
VOWELS = "aeiou"
CYRILLIC = str.maketrans(
    {
        "b": "б", "d": "д", "g": "г", "k": "к", "l": "л", "m": "м", "n": "н", "p": "п", "r": "р",
        "s": "с", "t": "т", "v": "в", "z": "з", "a": "а", "e": "е", "i": "и", "o": "о", "u": "у",
    }
)  # fmt: skip
LEGAL_FORMS = ("GmbH", "Ltd.", "LLC", "S.A.", "OOO", "JSC", "Co., Ltd.", "AG", "B.V.", "Inc.")
INDUSTRIES = ("Trading", "Logistics", "Industries", "Holding", "Shipping", "Energy", "Metals", "Systems")
COUNTRIES = ("RU", "IR", "CN", "AE", "TR", "BY", "VE", "SY", "KP", "HK")
THRESHOLD = 88.0


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(rng.randint(2, 4))).capitalize()


@dataclass(frozen=True)
class Entity:
    id: str
    schema: str
    name: str
    country: str


def generate_entities(n: int, seed: int = 7) -> list[Entity]:
    rng = random.Random(seed)
    given = [_word(rng) for _ in range(800)]
    family = [_word(rng) for _ in range(4000)]
    brands = [_word(rng) for _ in range(6000)]
    entities = []
    for i in range(n):
        country = rng.choice(COUNTRIES)
        if i % 2:
            name = f"{rng.choice(given)} {rng.choice(family)}"
            entities.append(Entity(f"gen-{i:06d}", "Person", name, country))
        else:
            name = f"{rng.choice(brands)} {rng.choice(brands)} {rng.choice(INDUSTRIES)} {rng.choice(LEGAL_FORMS)}"
            entities.append(Entity(f"gen-{i:06d}", "Company", name, country))
    return entities


def _typo(rng: random.Random, name: str) -> str:
    tokens = name.split()
    longest = max(range(len(tokens)), key=lambda i: len(tokens[i]))
    token = tokens[longest]
    pos = rng.randrange(1, len(token))
    tokens[longest] = token[:pos] + rng.choice([c for c in VOWELS + CONSONANTS if c != token[pos]]) + token[pos + 1 :]
    return " ".join(tokens)


def _strip_legal(name: str) -> str:
    for form in LEGAL_FORMS:
        if name.endswith(" " + form):
            return name[: -len(form) - 1]
    return name


def lookalikes(entities: list[Entity], k: int, seed: int = 11) -> list[tuple[str, str, str, str]]:
    """(query name, country, kind, the entity id it was made from; "" for unrelated names)."""
    rng = random.Random(seed)
    picked = rng.sample(entities, k)
    # One wrong letter still scores as a match (>= 88) only in a name long enough.
    long_names = [e for e in entities if len(normalise(e.name)) >= 18]
    labelled = []
    for j, entity in enumerate(picked):
        kind = ("transliteration", "reordered", "legal_form", "typo")[j % 4]
        if kind == "typo":
            entity = rng.choice(long_names)
        base = _strip_legal(entity.name)
        if kind == "transliteration":
            query = base.lower().translate(CYRILLIC)
        elif kind == "reordered":
            query = " ".join(reversed(base.split()))
        elif kind == "legal_form":
            query = f"{rng.choice(('OOO', 'PJSC', 'AO'))} {base}" if entity.schema == "Company" else f"{base} Ltd."
        else:
            query = _typo(rng, entity.name)
        labelled.append((query, entity.country, kind, entity.id))
    for _ in range(k // 4):
        labelled.append((f"{_word(rng)} {_word(rng)} {_word(rng)}", rng.choice(COUNTRIES), "unrelated", ""))
    return labelled


def candidates_of(entities: list[Entity]) -> list[Candidate]:
    return [Candidate("sanctions", e.id, e.name, (normalise(e.name),), (e.country,)) for e in entities]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(n: int, queries: int, scan_queries: int) -> dict:
    entities = generate_entities(n)
    started = time.perf_counter()
    cands = candidates_of(entities)
    normalised_s = time.perf_counter() - started
    started = time.perf_counter()
    index = NameIndex(cands)
    index_s = time.perf_counter() - started
    labelled = lookalikes(entities, queries)
    scan_times, index_times, missed, expected_missed, scan_found = [], [], [], [], 0
    labelled_scan = labelled_index = labelled_total = 0
    for i, (query, country, kind, entity_id) in enumerate(labelled):
        party = Party(names=(query,), country=country)
        t0 = time.perf_counter()
        via_index = {m.entry_id for m, _ in find_matches(party, index.lookup([normalise(query)]), THRESHOLD)}
        index_times.append(time.perf_counter() - t0)
        if entity_id and entity_id not in via_index:
            expected_missed.append((kind, query, entity_id))
        if i < scan_queries:  # the scan is slow: a sample of the queries, all kinds included
            t0 = time.perf_counter()
            via_scan = {m.entry_id for m, _ in find_matches(party, cands, THRESHOLD)}
            scan_times.append(time.perf_counter() - t0)
            scan_found += len(via_scan)
            missed += [(kind, query, e) for e in via_scan - via_index]
            if entity_id:
                labelled_total += 1
                labelled_scan += entity_id in via_scan
                labelled_index += entity_id in via_index
    return {
        "entities": n,
        "normalise_s": normalised_s,
        "index_build_s": index_s,
        "queries": len(labelled),
        "scan_queries": len(scan_times),
        "scan_p50_ms": _percentile(scan_times, 0.5) * 1000,
        "scan_p95_ms": _percentile(scan_times, 0.95) * 1000,
        "index_p50_ms": _percentile(index_times, 0.5) * 1000,
        "index_p95_ms": _percentile(index_times, 0.95) * 1000,
        "ratio_p50": statistics.median(scan_times) / statistics.median(index_times),
        "scan_matches": scan_found,
        "missed_vs_scan": missed,
        "labelled_missed": expected_missed,
        "labelled_total": labelled_total,
        "labelled_scan": labelled_scan,
        "labelled_index": labelled_index,
    }


IMPORT_TARGET_SECONDS = 60.0


def entities_csv(n: int, seed: int = 99, prefix: str = "bench") -> bytes:
    """An OpenSanctions `targets.simple.csv` of n generated entities."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "schema", "name", "aliases", "countries", "dataset"])
    for e in generate_entities(n, seed=seed):
        writer.writerow([f"{prefix}-{e.id}", e.schema, e.name, "", e.country.lower(), prefix])
    return out.getvalue().encode()


def import_through_the_service(n: int) -> dict:
    """A list of n entities uploaded to compliance as `hanse serve` runs it, timed until its import job completes."""
    import tempfile

    import httpx

    from bench.gateway_proxy import bench_token, process_env, serve, start_broker, stop
    from tests.conftest import free_port

    tmp = tempfile.mkdtemp(prefix="hanse-bench-sanctions-")
    broker_port, port = free_port(), free_port()
    env = process_env(tmp, broker_port)
    procs = [start_broker(broker_port, env)]
    try:
        base = serve("compliance", port, env, procs) + "/api/v1/compliance"
        headers = {"Authorization": f"Bearer {bench_token('bench-admin', 'admin')}"}
        body = entities_csv(n)
        started = time.monotonic()
        answer = httpx.post(
            f"{base}/sanctions/import",
            files={"file": ("targets.simple.csv", body, "text/csv")},
            headers=headers,
            timeout=120,
        )
        if answer.status_code != 202:
            raise RuntimeError(f"upload: {answer.status_code} {answer.text[:200]}")
        job = answer.json()
        while job["status"] == "pending" and time.monotonic() - started < 600:
            time.sleep(0.2)
            job = httpx.get(f"{base}/sanctions/imports/{job['id']}", headers=headers, timeout=30).json()
        return {"seconds": time.monotonic() - started, **job}
    finally:
        stop(procs)


def main() -> None:
    n = int(os.environ.get("HANSE_BENCH_SANCTIONS", "100000"))
    imported = import_through_the_service(n)
    print(f"\n== sanctions list import through the compliance API ({n} entities, SQLite) ==", flush=True)
    verdict = "met" if imported["status"] == "completed" and imported["seconds"] < IMPORT_TARGET_SECONDS else "NOT met"
    print(
        f"  upload to completed job: {imported['seconds']:.1f}s, status {imported['status']}, "
        f"{imported['entities']} imported, {imported['rejected']} rejected   "
        f"(target < {IMPORT_TARGET_SECONDS:.0f}s: {verdict})"
    )
    print(f"\n== sanctions screening: blocking index vs brute-force scan ({n} entities) ==", flush=True)
    r = run(n, queries=200, scan_queries=int(os.environ.get("HANSE_BENCH_SCAN_QUERIES", "80")))
    print(f"  normalise {r['entities']} entities: {r['normalise_s']:.1f}s   build index: {r['index_build_s']:.1f}s")
    for label, key, count in (
        ("scan  (every entry)", "scan", "scan_queries"),
        ("index (candidates) ", "index", "queries"),
    ):
        p50, p95 = r[f"{key}_p50_ms"], r[f"{key}_p95_ms"]
        print(f"  {label}  : p50 {p50:8.2f} ms  p95 {p95:8.2f} ms  ({r[count]} names)")
    print(f"  index/scan speed-up  : {r['ratio_p50']:.0f}x at p50   (target >= 20x)")
    print(
        f"  recall vs scan       : {r['scan_matches']} matches found by the scan, "
        f"{len(r['missed_vs_scan'])} of them missed by the index"
    )
    print(
        f"  labelled look-alikes : scan found {r['labelled_scan']}/{r['labelled_total']}, "
        f"index {r['labelled_index']}/{r['labelled_total']} (index over all {r['queries']} names: "
        f"{len(r['labelled_missed'])} look-alikes not found, e.g. a typo that reorders tokens)"
    )
    for kind, query, entity_id in r["missed_vs_scan"][:5]:
        print(f"    index missed {kind}: {query!r} -> {entity_id}")


if __name__ == "__main__":
    main()
