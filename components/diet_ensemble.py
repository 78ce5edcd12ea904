"""DIETEnsembleMember: one more DIET, trained with another seed, averaged into the ranking so far.

Why it exists: DIET's answers on messages written by other people swing by one to two points of
correct answers from one training seed to the next (docs/evaluation.md), and the wrong answers of
one seed are largely not those of another. Averaging the confidences of DIETs trained with
different seeds keeps what they agree on and lowers the top confidence where they do not, so the
FallbackClassifier offers "did you mean" instead of a confident wrong answer.

It is FastDIETClassifier (same training, NumPy prediction, weights saved for loading without
TensorFlow) with its own `random_seed`, placed after the first DIET. Instead of replacing the
ranking it finds, it replaces it with the weighted mean: `previous_weight` for the ranking so far,
the rest for its own. The k-th DIET of an ensemble takes previous_weight (k - 1) / k, so that every
DIET weighs the same. As with the second opinion, a crisis or dosing prediction (`keep_intents`) is
left exactly as the first DIET made it, and the mean never turns another prediction into one: a
crisis is the first DIET's or the safety net's call.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
)
from rasa.shared.nlu.training_data.message import Message

from components.fast_diet import FastDIETClassifier
from components.second_opinion import blend, kept_last, ranking_dict, set_ranking


def averaged_ranking(
    previous: dict[str, float],
    previous_intent: str | None,
    own: dict[str, float],
    previous_weight: float,
    keep_intents: set[str],
) -> list[tuple[str, float]] | None:
    """The ranking to set: None keeps the previous one (it is a crisis or dosing prediction)."""
    if previous_intent in keep_intents:
        return None
    if not previous:
        return blend(own, {}, 1.0)
    return kept_last(blend(previous, own, previous_weight), keep_intents)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR],
    is_trainable=True,
)
class DIETEnsembleMember(FastDIETClassifier):
    """A further DIET whose confidences are averaged into the previous classifier's ranking."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **FastDIETClassifier.get_default_config(),
            # Weight of the ranking so far; (k - 1) / k for the k-th DIET weighs every DIET the same.
            "previous_weight": 0.5,
            # Predictions the mean never changes, nor makes.
            "keep_intents": ["crisis", "ask_dosing"],
        }

    def process(self, messages: list[Message]) -> list[Message]:
        before = [(m.get(INTENT), m.get(INTENT_RANKING_KEY)) for m in messages]
        super().process(messages)
        weight = float(self.component_config["previous_weight"])
        keep = set(self.component_config["keep_intents"])
        for message, (previous_intent, previous_ranking) in zip(messages, before, strict=True):
            own = ranking_dict(message.get(INTENT_RANKING_KEY))
            previous = ranking_dict(previous_ranking)
            averaged = (
                averaged_ranking(previous, (previous_intent or {}).get(INTENT_NAME_KEY), own, weight, keep)
                if own
                else None  # nothing predicted (no features): the ranking so far stands
            )
            if averaged is None:
                if previous_intent is not None:
                    message.set(INTENT, previous_intent, add_to_output=True)
                    message.set(INTENT_RANKING_KEY, previous_ranking or [], add_to_output=True)
                continue
            set_ranking(message, averaged)
        return messages
