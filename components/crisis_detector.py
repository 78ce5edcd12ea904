"""A second crisis detector, independent of the safety patterns: a classifier trained only for crisis.

The safety net's patterns (components/safety_net.py) catch the words the team has read; seven blind
final sets in a row each had emergencies said in words no pattern knew. This detector learns from
examples instead of rules: a logistic regression on hashed word (1-2) and character (2-4) n-grams,
TF-IDF weighted, trained on

- the `crisis` intent's examples against every other intent's (data/nlu), and
- content/crisis_examples.yml (English) and content/crisis_examples_es.yml (Spanish): messages
  written for it, blind to every test set, that teach urgency: an emergency happening now
  (`crisis`) against the same words about the past, a fear, a question, a joke or a farewell
  (`look_alikes`, `not_crisis`).

It gives each message `crisis_probability`; the safety net decides what that means (a crisis reply
above one threshold, the help line after the answer above a lower one, a look-alike veto overruling
it). Its own n-grams, not the featurizers of the intent classifier, so that it fails in other places
than the decider does. A pretrained sentence encoder (all-MiniLM-L6-v2) in its place was measured
side by side and not kept (docs/evaluation.md, "The second crisis detector").

Hashing keeps no vocabulary in memory: the model is two IDF vectors and one weight vector (about
12 MB at 2^20 features, float32), and a message costs well under a millisecond.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression

from content import files_digest, read_yaml

logger = logging.getLogger(__name__)

PROBABILITY_KEY = "crisis_probability"
WEIGHTS_FILE = "crisis_detector.npz"
POSITIVE_KEYS = ("crisis",)
NEGATIVE_KEYS = ("look_alikes", "not_crisis")
ROOT = Path(__file__).resolve().parent.parent


def example_paths(config_value: str | list[str]) -> list[Path]:
    values = [config_value] if isinstance(config_value, str) else list(config_value)
    paths: list[Path] = []
    for value in values:
        path = Path(value) if Path(value).is_absolute() else ROOT / value
        paths.extend(sorted(path.glob("*.yml")) if path.is_dir() else [path])
    return paths


def read_examples(paths: list[Path]) -> tuple[list[str], list[str]]:
    """(crisis messages, other messages) of the detector's own example files."""
    positives: list[str] = []
    negatives: list[str] = []
    for path in paths:
        data = read_yaml(path) or {}
        unknown = set(data) - set(POSITIVE_KEYS) - set(NEGATIVE_KEYS)
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        for key in POSITIVE_KEYS:
            positives.extend(str(text) for text in data.get(key) or [])
        for key in NEGATIVE_KEYS:
            negatives.extend(str(text) for text in data.get(key) or [])
    return positives, negatives


class NgramFeatures:
    """Hashed word and character n-grams, each block TF-IDF weighted (sublinear tf) and unit length."""

    def __init__(self, n_features: int, idf: list[np.ndarray] | None = None) -> None:
        common = {"n_features": n_features, "alternate_sign": False, "norm": None, "lowercase": True}
        self.vectorizers = [
            HashingVectorizer(analyzer="word", ngram_range=(1, 2), **common),
            HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), **common),
        ]
        self.idf = idf

    def fit(self, texts: list[str]) -> NgramFeatures:
        self.idf = []
        for vectorizer in self.vectorizers:
            counts = vectorizer.transform(texts)
            document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
            self.idf.append((np.log((1 + len(texts)) / (1 + document_frequency)) + 1).astype(np.float32))
        return self

    def transform(self, texts: list[str]) -> csr_matrix:
        assert self.idf is not None, "fit first"
        blocks = []
        for vectorizer, idf in zip(self.vectorizers, self.idf, strict=True):
            counts = vectorizer.transform(texts).astype(np.float32)
            counts.data = 1 + np.log(counts.data)
            weighted = csr_matrix(counts.multiply(idf[np.newaxis, :]))
            norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1))).ravel()
            norms[norms == 0] = 1
            blocks.append(csr_matrix(weighted.multiply(1 / norms[:, np.newaxis])))
        return hstack(blocks).tocsr()


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class CrisisDetector(GraphComponent):
    """Sets each message's `crisis_probability`; components/safety_net.py acts on it."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # The detector's own examples: files or folders of YAML with `crisis`, `look_alikes`
            # and `not_crisis` lists.
            "examples": ["content/crisis_examples.yml", "content/crisis_examples_es.yml"],
            # The intent of the NLU data whose examples are crises; every other intent's are not.
            "crisis_intent": "crisis",
            "n_features": 2**20,
            # Inverse regularisation and class weights of the logistic regression
            # (docs/evaluation.md, "The second crisis detector").
            "C": 16.0,
            "class_weight": "balanced",
        }

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        # Its example files are outside the NLU data: retrain when one changes.
        return files_digest(example_paths(config.get("examples", cls.get_default_config()["examples"])))

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        features: NgramFeatures | None = None,
        weights: np.ndarray | None = None,
        bias: float = 0.0,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._features = features
        self._weights = weights
        self._bias = bias

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CrisisDetector:
        return cls(config, model_storage, resource)

    def training_examples(self, training_data: TrainingData) -> tuple[list[str], np.ndarray]:
        crisis_intent = self._config["crisis_intent"]
        texts, labels = [], []
        for message in training_data.intent_examples:
            texts.append(message.get(TEXT))
            labels.append(int(message.get(INTENT) == crisis_intent))
        positives, negatives = read_examples(example_paths(self._config["examples"]))
        texts += positives + negatives
        labels += [1] * len(positives) + [0] * len(negatives)
        return texts, np.array(labels)

    def train(self, training_data: TrainingData) -> Resource:
        texts, labels = self.training_examples(training_data)
        if labels.sum() == 0 or labels.sum() == len(labels):
            raise ValueError("CrisisDetector needs crisis examples and other examples to train on")
        self._features = NgramFeatures(self._config["n_features"]).fit(texts)
        regression = LogisticRegression(
            C=self._config["C"], class_weight=self._config["class_weight"], max_iter=5000
        ).fit(self._features.transform(texts), labels)
        self._weights = regression.coef_.ravel().astype(np.float32)
        self._bias = float(regression.intercept_[0])
        positives = int(labels.sum())
        logger.info("Crisis detector: %d crisis and %d other messages.", positives, len(labels) - positives)
        with self._model_storage.write_to(self._resource) as directory:
            assert self._features.idf is not None
            np.savez_compressed(
                directory / WEIGHTS_FILE,
                word_idf=self._features.idf[0],
                char_idf=self._features.idf[1],
                weights=self._weights,
                bias=np.array([self._bias]),
            )
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> CrisisDetector:
        merged = {**cls.get_default_config(), **config}
        with model_storage.read_from(resource) as directory:
            stored = np.load(directory / WEIGHTS_FILE)
            features = NgramFeatures(merged["n_features"], [stored["word_idf"], stored["char_idf"]])
            return cls(config, model_storage, resource, features, stored["weights"], float(stored["bias"][0]))

    def probabilities(self, texts: list[str]) -> np.ndarray:
        if self._features is None or self._weights is None:
            return np.zeros(len(texts))
        scores = self._features.transform(texts) @ self._weights + self._bias
        return 1 / (1 + np.exp(-np.asarray(scores, dtype=np.float64)))

    def process(self, messages: list[Message]) -> list[Message]:
        texts = [message.get(TEXT) or "" for message in messages]
        for message, probability in zip(messages, self.probabilities(texts), strict=True):
            message.set(PROBABILITY_KEY, round(float(probability), 4), add_to_output=True)
        return messages
