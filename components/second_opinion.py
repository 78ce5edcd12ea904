"""SecondOpinionClassifier: Rasa's LogisticRegressionClassifier, predicting without its per-call overhead.

Why it exists: on messages written by other people most misses were confident wrong answers, and a
linear model on the same sparse features is wrong on other messages than DIET is. The intent
decider (components/intent_decider.py) blends its probabilities with the DIETs' confidences, so
that where they disagree the fallback offers "did you mean" instead of a wrong answer
(docs/evaluation.md, "The model and its thresholds").

It trains and persists as LogisticRegressionClassifier does; `probabilities` computes scikit-learn's
`predict_proba` directly from the sparse features, and `load` also finds the coefficients after
Rasa's training cache renamed the node. Alone in a pipeline, it predicts as Rasa's does.
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
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from components.rankings import by_confidence, set_ranking
from overrides.rasa_components import logistic_regression_features

logger = logging.getLogger(__name__)


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


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class SecondOpinionClassifier(LogisticRegressionClassifier):
    """Rasa's logistic regression, predicting from the sparse features directly."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **LogisticRegressionClassifier.get_default_config(),
            # lbfgs does not converge in Rasa's default 100 iterations on this data.
            "max_iter": 500,
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
        for message in messages:
            scores = self.intent_probabilities(message)
            if scores is not None:  # else: untrained, or no features to read
                set_ranking(message, by_confidence(scores))
        return messages

    def intent_probabilities(self, message: Message) -> dict[str, float] | None:
        """{intent: probability} for the message (None: untrained, or no features to read)."""
        if not hasattr(self.clf, "classes_"):  # untrained
            return None
        row = self.probabilities(message)
        if row is None:
            return None
        return {str(label): float(p) for label, p in zip(self.clf.classes_, row, strict=True)}

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
