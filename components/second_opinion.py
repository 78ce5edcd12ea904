"""SecondOpinionClassifier: blends DIET's intent confidences with a logistic regression's.

Why it exists: on messages written by other people most misses were confident wrong answers, and a
linear model on the same sparse features (Rasa's LogisticRegressionClassifier) is wrong on other
messages than DIET is. Averaging the two confidences lowers the top confidence where they disagree,
so the FallbackClassifier after this component offers "did you mean" instead of a wrong answer, and
where DIET hesitates the agreeing second opinion lifts the right intent over the threshold
(docs/evaluation.md, "The model and its thresholds").

It trains as LogisticRegressionClassifier does (same features, same persistence) and runs after
DIET: instead of replacing DIET's prediction it replaces its ranking by the weighted mean of both.
A prediction of an intent in `keep_intents` (crisis, dosing) is left exactly as DIET made it, and the
blend never turns another prediction into one of them: a crisis is DIET's or the safety net's call.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import (
    FEATURE_TYPE_SENTENCE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from overrides.rasa_components import logistic_regression_features

logger = logging.getLogger(__name__)

RANKING_LENGTH = 10


def _import_skops_keeping_log_level() -> None:
    """Import skops.io (the parent class persists and loads with it) without losing the log level.

    Its first import lists scikit-learn's estimators, which imports numpy.distutils, which sets the
    root logger to WARNING: a server loading the model went silent at INFO (its "up and running"
    line too). Imported here once, the level is put back; later imports are no-ops.
    """
    root = logging.getLogger()
    level = root.level
    try:
        import skops.io  # noqa: F401
    finally:
        root.setLevel(level)


_import_skops_keeping_log_level()


def blend(first: dict[str, float], second: dict[str, float], first_weight: float) -> list[tuple[str, float]]:
    """Labels ranked by `first_weight * first + (1 - first_weight) * second` (a missing label: 0)."""
    labels = set(first) | set(second)
    scores = {
        label: first_weight * first.get(label, 0.0) + (1 - first_weight) * second.get(label, 0.0)
        for label in labels
    }
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def ranking_dict(ranking: list[dict[str, Any]] | None) -> dict[str, float]:
    """An intent ranking as Rasa stores it ([{name, confidence}, ...]) as {intent: confidence}."""
    return {
        r[INTENT_NAME_KEY]: float(r[PREDICTED_CONFIDENCE_KEY])
        for r in ranking or []
        if r.get(INTENT_NAME_KEY)
    }


def kept_last(ranked: list[tuple[str, float]], keep: set[str]) -> list[tuple[str, float]]:
    """`ranked` with the labels in `keep` moved after the others (each group in its order).

    A mean of rankings never makes a crisis or dosing prediction the first classifier did not
    make: the linear model alone flagged look-alikes ("should I carry narcan") as crises. Those
    labels stay in the ranking, after the others.
    """
    return [r for r in ranked if r[0] not in keep] + [r for r in ranked if r[0] in keep]


def set_ranking(message: Message, ranked: list[tuple[str, float]]) -> None:
    """Set the message's intent and ranking (first RANKING_LENGTH labels) from `ranked`."""
    ranking = [
        {INTENT_NAME_KEY: label, PREDICTED_CONFIDENCE_KEY: confidence}
        for label, confidence in ranked[:RANKING_LENGTH]
    ]
    message.set(INTENT, dict(ranking[0]), add_to_output=True)
    message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class SecondOpinionClassifier(LogisticRegressionClassifier):
    """Logistic regression whose confidences are averaged into the previous classifier's ranking."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **LogisticRegressionClassifier.get_default_config(),
            # lbfgs does not converge in Rasa's default 100 iterations on this data.
            "max_iter": 500,
            # Weight of the previous classifier's (DIET's) confidences in the blend.
            "diet_weight": 0.5,
            # Predictions the blend never changes.
            "keep_intents": ["crisis", "ask_dosing"],
        }

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> SecondOpinionClassifier:
        """As LogisticRegressionClassifier loads, also after Rasa's training cache renamed the node.

        Rasa saves the coefficients as `<resource name>.skops` and reads that name back. A training
        that restores this component from the cache under another node name (a component added
        before it in config.yml shifts the names: `...SecondOpinionClassifier6` becomes `...8`)
        packs the cached file under its old name, and Rasa's own load then fails on the model it
        just trained. The one `.skops` file of the resource is read whatever its name.
        """
        import skops.io as sio

        with model_storage.read_from(resource) as model_dir:
            classifier_file = cls.coefficients_file(Path(model_dir), resource)
            if classifier_file is None:  # as Rasa: nothing saved, an untrained classifier
                logger.warning(f"{cls.__name__}: no saved coefficients in '{resource.name}'; not used.")
                return cls.create(config, model_storage, resource, execution_context)
            unknown_types = sio.get_untrusted_types(file=classifier_file)
            if unknown_types:  # as Rasa: nothing but scikit-learn's own types is unpickled
                logger.warning(
                    f"{cls.__name__}: untrusted types {unknown_types} in {classifier_file}; not used."
                )
                return cls.create(config, model_storage, resource, execution_context)
            component = cls(config, execution_context.node_name, model_storage, resource)
            component.clf = sio.load(classifier_file, trusted=unknown_types)
            return component

    @staticmethod
    def coefficients_file(model_dir: Path, resource: Resource) -> Path | None:
        """`<resource name>.skops`, or else the resource's only `.skops` file (see `load`)."""
        named = model_dir / f"{resource.name}.skops"
        if named.exists():
            return named
        found = sorted(model_dir.glob("*.skops"))
        return found[0] if len(found) == 1 else None

    def process(self, messages: list[Message]) -> list[Message]:
        if not hasattr(self.clf, "classes_"):  # untrained
            return messages
        for message in messages:
            row = self.probabilities(message)
            if row is None:  # no features to read
                continue
            second = {str(label): float(p) for label, p in zip(self.clf.classes_, row, strict=True)}
            self._blend_into(message, second)
        return messages

    def probabilities(self, message: Message) -> np.ndarray | None:
        """`clf.predict_proba` of the message's sentence features (None without them).

        For one message scikit-learn's and Rasa's input checks and sparse stacking cost about 0.6 ms
        of CPU for a product of a few dozen non-zero features with the coefficients: a multinomial
        model (lbfgs on more than two intents, this project's) is computed here directly, as
        scikit-learn does (softmax of X @ coef.T + intercept; equal within 1e-12, tested). X is
        never built: each featurizer's sentence row adds its non-zero columns' coefficients, at
        that featurizer's offset in the order Rasa would stack them (`Message.get_sparse_features`
        deep-copies and stacks the sequence features too, which this model never reads). Any
        other model, or dense features present, goes through `predict_proba`.
        """
        blocks = [
            f
            for f in message.features
            if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE and f.is_sparse()
        ]
        if not blocks:
            return None
        if message.get_dense_features(TEXT)[1] is not None or not self._multinomial():
            return self.clf.predict_proba(logistic_regression_features(self, [message]))[0]
        coef = self.clf.coef_
        if sum(block.features.shape[1] for block in blocks) != coef.shape[1]:
            # scikit-learn's error
            return self.clf.predict_proba(logistic_regression_features(self, [message]))[0]
        scores = np.array(self.clf.intercept_, dtype=np.float64)
        offset = 0
        for block in blocks:
            row = block.features.tocoo()
            if row.nnz:
                scores += coef[:, row.col + offset] @ np.asarray(row.data, dtype=np.float64)
            offset += row.shape[1]
        scores -= scores.max()
        exp = np.exp(scores)
        return exp / exp.sum()

    def _multinomial(self) -> bool:
        """Whether predict_proba is the softmax of the decision function (scikit-learn's rule)."""
        clf = self.clf
        if len(getattr(clf, "classes_", ())) <= 2 or getattr(clf, "solver", None) == "liblinear":
            return False
        return getattr(clf, "multi_class", "auto") in ("auto", "multinomial")

    def _blend_into(self, message: Message, second: dict[str, float]) -> None:
        intent = message.get(INTENT) or {}
        if intent.get(INTENT_NAME_KEY) in self.config["keep_intents"]:
            return
        first = ranking_dict(message.get(INTENT_RANKING_KEY))
        # Without a previous classifier's ranking, the second opinion is the only one.
        weight = float(self.config["diet_weight"]) if first else 0.0
        blended = blend(first, second, weight)
        if first:
            blended = kept_last(blended, set(self.config["keep_intents"]))
        set_ranking(message, blended)
