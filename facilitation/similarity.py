"""Alike texts, found incrementally: each text is compared once, when it arrives.

Comparing every text with every other one (what ``rapidfuzz.process.extract`` over
the whole board did on each moderator refresh) grows with the square of the event:
500 items of 2,000 characters held the event loop for 80 s. Here a text entering
the index is *blocked* first (only texts that share one of its rarest words or word
pairs are candidates, a bounded number of them) and *scored* second (a bounded
number of rapidfuzz comparisons, on a bounded prefix of each text). What it found
is kept as pairs, so a query reads pairs and compares nothing.

Cost of one ``put`` (a new or edited text), whatever the event's size:
- normalising and splitting at most ``SCORED_CHARS`` characters;
- at most ``KEYS`` blocking keys, each looking at its ``HOLDERS`` most recent texts;
- at most ``CANDIDATES`` scorer calls on texts of at most ``SCORED_CHARS`` characters.
A ``remove`` costs its keys and its pairs. Memory: one entry per key and text, and at
most ``CANDIDATES`` pairs found per text.

The same index serves three callers: likely duplicate items across rooms and alike
responsibilities in the roles matrix (``plenary.py``), and alike spellings of one
name (``likely_same_name``, ``alike_names``: for owners written two ways).
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rapidfuzz import fuzz, utils

# A text is compared on its first characters only (normalised): enough to tell two
# actions apart, and it bounds the scorer (WRatio's partial match is quadratic in length).
SCORED_CHARS = 400
# Blocking keys of one text used to find its candidates: the rarest ones.
KEYS = 32
# Texts looked at per blocking key (its most recent holders): a word in every item
# (a topic word, or an attacker's) costs no more than a rare one.
HOLDERS = 64
# Candidates scored per text, the ones sharing the most (rarest) keys.
CANDIDATES = 12

Scorer = Callable[[str, str], float]
_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    """Lower case, punctuation as spaces, spaces collapsed, clipped to ``SCORED_CHARS``."""
    return str(utils.default_process(text[: SCORED_CHARS * 2]))[:SCORED_CHARS].strip()


def word_keys(norm: str) -> set[str]:
    """Words and adjacent word pairs (a pair is rarer than either word: "write report")."""
    words = _WORD.findall(norm)
    keys = {w for w in words if len(w) > 1 or not w.isascii()}
    keys.update(f"{a} {b}" for a, b in itertools.pairwise(words))
    return keys


def gram_keys(norm: str) -> set[str]:
    """Character trigrams without spaces: names such as "N.V.E." and "NVE" share them."""
    squeezed = norm.replace(" ", "")
    if len(squeezed) < 3:
        return {squeezed} if squeezed else set()
    return {squeezed[i:i + 3] for i in range(len(squeezed) - 2)} | word_keys(norm)


def duplicate_score(a: str, b: str) -> float:
    """How alike two normalised action texts are, 0-100: rapidfuzz's WRatio (whole,
    word-order and word-set matches weighed) with two changes in its branch for texts
    of quite different lengths. Its partial word match scores 100 as soon as the texts
    share one word ("for"), so it is left out; and its partial match of a text longer
    than 64 characters is quadratic (150 ms on 400 characters), so there the word-set
    match stands in for it, scaled as WRatio scales its partial matches."""
    if not a or not b:
        return 0.0
    short, long = sorted((len(a), len(b)))
    whole = float(fuzz.ratio(a, b))
    if long < 1.5 * short:
        return max(whole, 0.95 * float(fuzz.token_sort_ratio(a, b)),
                   0.95 * float(fuzz.token_set_ratio(a, b)))
    scale = 0.9 if long < 8 * short else 0.6
    partial = float(fuzz.partial_ratio(a, b)) if short <= 64 else 0.0
    return max(whole, scale * partial, scale * 0.95 * float(fuzz.token_set_ratio(a, b)))


@dataclass
class _Entry:
    norm: str
    group: str | None
    keys: set[str]


@dataclass
class PairIndex:
    """Texts by id, and the pairs of them that score at least ``threshold``.

    ``group``: texts of the same group are never paired (items of one room).
    """

    scorer: Scorer
    threshold: float
    keys_of: Callable[[str], set[str]] = word_keys
    entries: dict[str, _Entry] = field(default_factory=dict)
    postings: dict[str, dict[str, None]] = field(default_factory=dict)
    pairs: dict[str, dict[str, float]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)

    def put(self, key: str, text: str, group: str | None = None) -> None:
        """Add or replace one text, and compare it with its candidates (bounded, above)."""
        norm = normalise(text)
        old = self.entries.get(key)
        if old is not None:
            if old.norm == norm and old.group == group:
                return
            self.remove(key)
        if not norm:
            return
        keys = self.keys_of(norm)
        # The rarest keys tell the most; each counts for its rarity.
        rare = sorted(keys, key=lambda k: len(self.postings.get(k, ())))[:KEYS]
        weight: dict[str, float] = {}
        for k in rare:
            holders = self.postings.get(k)
            if not holders:
                continue
            share = 1.0 / len(holders)
            for other in itertools.islice(reversed(holders), HOLDERS):
                if group is not None and self.entries[other].group == group:
                    continue
                weight[other] = weight.get(other, 0.0) + share
        found = self.pairs.setdefault(key, {})
        for other in heapq.nlargest(CANDIDATES, weight, key=weight.__getitem__):
            score = float(self.scorer(norm, self.entries[other].norm))
            if score >= self.threshold:
                found[other] = score
                self.pairs.setdefault(other, {})[key] = score
        if not found:
            del self.pairs[key]
        self.entries[key] = _Entry(norm, group, keys)
        for k in keys:
            self.postings.setdefault(k, {})[key] = None

    def remove(self, key: str) -> None:
        entry = self.entries.pop(key, None)
        if entry is None:
            return
        for k in entry.keys:
            holders = self.postings.get(k)
            if holders is not None:
                holders.pop(key, None)
                if not holders:
                    del self.postings[k]
        for other in self.pairs.pop(key, {}):
            mine = self.pairs.get(other)
            if mine is not None:
                mine.pop(key, None)
                if not mine:
                    del self.pairs[other]

    def alike(self, key: str) -> dict[str, float]:
        """The texts found alike to ``key``, with their scores."""
        return dict(self.pairs.get(key, {}))

    def all_pairs(self) -> Iterable[tuple[str, str, float]]:
        """Every pair once (``a < b``): costs the number of pairs, never of texts squared."""
        for a, others in self.pairs.items():
            for b, score in others.items():
                if a < b:
                    yield a, b, score

    def best(self, limit: int) -> list[tuple[str, str, float]]:
        return heapq.nlargest(limit, self.all_pairs(), key=lambda p: p[2])


# -- names (owners written two ways) -------------------------------------------------------

# token_sort_ratio (0-100) at or above which two names are likely one: "Statens vegvesen"
# and "statens  Vegvesen" (100), "Kystverket Vest" and "Vest Kystverket" (100),
# "Fylkesmannen" and "Fylkesmanen" (96); "NVE" and "NVE Region Sør" are not (36).
SAME_NAME = 85


def _name_score(a: str, b: str) -> float:
    if a.replace(" ", "") == b.replace(" ", ""):
        return 100.0
    return float(fuzz.token_sort_ratio(a, b))


def likely_same_name(a: str, b: str) -> bool:
    """Two spellings of one name (an owner, an actor)? Case, spaces and punctuation
    never matter; small typos and word order do not either."""
    x, y = normalise(a), normalise(b)
    return bool(x) and bool(y) and _name_score(x, y) >= SAME_NAME


def name_index() -> PairIndex:
    """An index of names; ``put(id, name)`` each, then ``pairs``/``alike`` say which match."""
    return PairIndex(_name_score, SAME_NAME, gram_keys)


def alike_names(names: Iterable[str]) -> list[list[str]]:
    """Groups of two or more distinct spellings that are likely one name, each group in
    first-seen order; names alike through a third one are grouped together. Costs each
    name's bounded comparisons (above), never every pair of names."""
    index = name_index()
    order: list[str] = []
    for name in names:
        if name not in index.entries and normalise(name):
            order.append(name)
            index.put(name, name)
    parent = {name: name for name in order}
    rank = {name: i for i, name in enumerate(order)}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a, b, _ in index.all_pairs():
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb, key=rank.__getitem__)] = min(ra, rb, key=rank.__getitem__)
    groups: dict[str, list[str]] = {}
    for name in order:
        groups.setdefault(root(name), []).append(name)
    return [g for g in groups.values() if len(g) > 1]
