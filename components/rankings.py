"""Intent rankings as the classifiers blend them: {intent: confidence} dicts, ranked lists, and the
form Rasa keeps on a message ([{name, confidence}, ...], ten at most)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
)
from rasa.shared.nlu.training_data.message import Message

# Labels of a ranking kept on the message (Rasa's DIET keeps ten as well).
RANKING_LENGTH = 10

Ranking = list[tuple[str, float]]


def blend(first: dict[str, float], second: dict[str, float], first_weight: float) -> Ranking:
    """Labels ranked by `first_weight * first + (1 - first_weight) * second` (a missing label: 0)."""
    labels = set(first) | set(second)
    scores = {
        label: first_weight * first.get(label, 0.0) + (1 - first_weight) * second.get(label, 0.0)
        for label in labels
    }
    return by_confidence(scores)


def mean(rankings: list[dict[str, float]]) -> dict[str, float]:
    """Each label's mean confidence over the rankings (a label missing from one counts as zero)."""
    labels = {label for ranking in rankings for label in ranking}
    return {label: sum(r.get(label, 0.0) for r in rankings) / len(rankings) for label in labels}


def kept_last(ranked: Ranking, keep: Iterable[str]) -> Ranking:
    """`ranked` with the labels in `keep` moved after the others (each group in its order)."""
    keep = set(keep)
    return [r for r in ranked if r[0] not in keep] + [r for r in ranked if r[0] in keep]


def ranking_dict(ranking: list[dict[str, Any]] | None) -> dict[str, float]:
    """An intent ranking as Rasa stores it ([{name, confidence}, ...]) as {intent: confidence}."""
    return {
        r[INTENT_NAME_KEY]: float(r[PREDICTED_CONFIDENCE_KEY])
        for r in ranking or []
        if r.get(INTENT_NAME_KEY)
    }


def by_confidence(scores: dict[str, float]) -> Ranking:
    """Labels ranked by confidence (ties by name, so that a ranking never depends on dict order)."""
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def set_ranking(message: Message, ranked: Ranking) -> None:
    """Set the message's intent and ranking (first RANKING_LENGTH labels) from `ranked`."""
    ranking = [
        {INTENT_NAME_KEY: label, PREDICTED_CONFIDENCE_KEY: confidence}
        for label, confidence in ranked[:RANKING_LENGTH]
    ]
    message.set(INTENT, dict(ranking[0]), add_to_output=True)
    message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
