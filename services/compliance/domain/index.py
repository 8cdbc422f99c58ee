"""An in-memory blocking index over the sanctions list: candidate retrieval before rapidfuzz scoring.

Screening a name against every entry costs O(n) scorer calls; at 100,000 entities that is far too
slow per order. The index keys every token of every normalised name four ways: the token itself
(reordered tokens), its metaphone code (transliteration variants: Mohammed / Muhammad), and its
first and last four letters (a typo leaves at least one of them intact in a token long enough for
a typo to still score as a match). A screened name retrieves the entries sharing a key with it,
and only those are scored. Keys so common that they would retrieve a large part of the list are
skipped unless nothing rarer is left.

Pure: built from candidates, queried with names; the service rebuilds it when the list changes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from rigour.text import metaphone

from services.compliance.domain.rules import Candidate

MIN_AFFIX_TOKEN = 5
AFFIX = 4


def token_keys(token: str) -> list[str]:
    keys = [f"t:{token}"]
    if len(token) >= 3:
        code = metaphone(token)
        if code:
            keys.append(f"m:{code}")
    if len(token) >= MIN_AFFIX_TOKEN:
        keys.append(f"p:{token[:AFFIX]}")
        keys.append(f"s:{token[-AFFIX:]}")
    return keys


def name_keys(normalised: str) -> set[str]:
    keys: set[str] = set()
    for token in normalised.split():
        keys.update(token_keys(token))
    return keys


class NameIndex:
    def __init__(self, candidates: Sequence[Candidate], *, max_posting_share: float = 0.02) -> None:
        self.candidates = list(candidates)
        postings: dict[str, list[int]] = defaultdict(list)
        for i, candidate in enumerate(self.candidates):
            keys: set[str] = set()
            for name in candidate.names_normalised:
                keys |= name_keys(name)
            for key in keys:
                postings[key].append(i)
        self.postings = dict(postings)
        # A key shared by more entries than this is a stop key (e.g. "trading", "bank").
        self.cap = max(200, int(len(self.candidates) * max_posting_share))

    def __len__(self) -> int:
        return len(self.candidates)

    def lookup(self, normalised_names: Iterable[str]) -> list[Candidate]:
        """Entries sharing a non-stop key with any of the names (or, failing that, the rarest key)."""
        found: set[int] = set()
        for name in normalised_names:
            lists = [self.postings[k] for k in name_keys(name) if k in self.postings]
            if not lists:
                continue
            rare = [p for p in lists if len(p) <= self.cap]
            for posting in rare or [min(lists, key=len)]:
                found.update(posting)
        return [self.candidates[i] for i in sorted(found)]
