"""Groups queue items of similar wording, so a curator decides once for many alike questions."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# Two wordings belong together when they share at least this share of their words (Jaccard).
SIMILARITY = 0.6
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def normalise(text: str) -> str:
    """Lower case, punctuation gone, one space between words: 'Is Valium OK??' -> 'is valium ok'."""
    text = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    return " ".join(WORD.findall(text))


def tokens(text: str) -> frozenset[str]:
    return frozenset(normalise(text).split())


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 1.0 if a == b else 0.0
    return len(a & b) / len(a | b)


@dataclass
class Group:
    """Queue items whose wording is alike; `items` newest first."""

    items: list[dict[str, Any]] = field(default_factory=list)
    words: frozenset[str] = frozenset()

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def latest(self) -> float:
        return max(item["ts"] for item in self.items)

    @property
    def hidden(self) -> bool:
        """Items whose text was never stored (crisis language): counted, never shown."""
        return self.items[0]["text"] is None

    @property
    def ids(self) -> list[int]:
        return [item["id"] for item in self.items]

    def guesses(self) -> list[dict[str, Any]]:
        """The assistant's likeliest intents over the group: mean confidence where guessed, best first."""
        totals: dict[str, float] = {}
        for item in self.items:
            for guess in item["guesses"]:
                totals[guess["intent"]] = totals.get(guess["intent"], 0.0) + guess["confidence"]
        ranked = sorted(totals.items(), key=lambda pair: -pair[1])[:3]
        return [{"intent": name, "confidence": total / self.count} for name, total in ranked]

    def values(self, key: str) -> list[str]:
        """The distinct values of `key` over the items, most frequent first."""
        counts: dict[str, int] = {}
        for item in self.items:
            if item.get(key):
                counts[item[key]] = counts.get(item[key], 0) + 1
        return sorted(counts, key=lambda value: -counts[value])


def group_items(items: Iterable[dict[str, Any]], threshold: float = SIMILARITY) -> list[Group]:
    """Groups items (dicts with id, ts, text, guesses, ...) by similar wording.

    Each item joins the group whose first wording it is most similar to (at least `threshold`),
    else starts one; items without text form one group of their own. Most frequent group first,
    then the most recent.
    """
    ordered: Sequence[dict[str, Any]] = sorted(items, key=lambda item: -item["ts"])
    groups: list[Group] = []
    hidden = Group()
    for item in ordered:
        if item["text"] is None:
            hidden.items.append(item)
            continue
        words = tokens(item["text"])
        best, best_score = None, threshold
        for group in groups:
            score = similarity(words, group.words)
            if score >= best_score:
                best, best_score = group, score
        if best is None:
            groups.append(Group(items=[item], words=words))
        else:
            best.items.append(item)
    if hidden.items:
        groups.append(hidden)
    return sorted(groups, key=lambda group: (-group.count, -group.latest))
