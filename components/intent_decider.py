"""IntentDecider: the one component that decides a message's intent.

Why it exists: the intent used to be set by five pipeline stages one after another (a DIET, two
more DIETs each averaging itself into the ranking it found, a logistic regression doing the same,
Rasa's FallbackClassifier), each with its own copy of the intents the blends must not touch. Here
one component trains the classifiers config.yml lists, blends their confidences once, and applies
the fallback; the protected intents are declared once, in its `protected_intents`. The safety net
after it (components/safety_net.py) only adds what its patterns find.

What it trains, each saved in a folder of its own inside this component's resource:
- `diet_seeds`: one FastDIETClassifier per seed, all with the `diet` settings (components/
  fast_diet.py). DIETs trained with different seeds are confidently wrong on different messages:
  averaged, the top confidence drops where they disagree (docs/evaluation.md, "Three DIETs or
  one"). No seeds: no DIET (the quick model of serving/quick_model.py).
- `linear`: a logistic regression on the same sparse features (SecondOpinionClassifier), wrong on
  other messages than DIET; `linear_weight` is its share of the blend.

With `train_in_processes` (the default) and more than one DIET on a machine with more than one
core, each DIET trains in a process of its own, all at once, with the cores shared out among
their TensorFlow thread pools, while this process trains the linear model: one DIET's TensorFlow
keeps about 1.3 of two cores busy, so one after another the three took 18 minutes here
(docs/performance.md, "Training and the test run"). Each is then loaded from what it saved, as a
server loads it.

How it decides, per message:
1. The first classifier's prediction of a protected intent (crisis, dosing) stands as it made it:
   a blend neither removes one nor makes one (the linear model alone flagged look-alikes such as
   "should I carry narcan"). Protected labels stay in the blended ranking, after the others.
2. Otherwise every DIET weighs the same in their mean (each DIET's ranking as DIET reports it, its
   top ten; a label missing from one counts as zero), and the mean and the linear model's
   probabilities are blended by `linear_weight`.
3. Rasa's FallbackClassifier with `fallback_threshold` / `fallback_ambiguity_threshold` then turns a
   low or ambiguous top confidence into `nlu_fallback` ("did you mean" with the likely questions).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import re
from collections.abc import Generator, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent, GraphSchema
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelMetadata, ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.fast_diet import FastDIETClassifier
from components.rankings import Ranking, blend, by_confidence, kept_last, mean, ranking_dict, set_ranking
from components.safety_net import FALLBACK_INTENT, put_first
from components.second_opinion import SecondOpinionClassifier

logger = logging.getLogger(__name__)


# A message that opens with a greeting and that no classifier could read otherwise is a greeting
# ("hello to whoever reads these", "morning. first time using one of these chat things", "yo"): the
# greeting's reply (what the assistant can do, and the help lines) serves it better than "did you
# mean" with questions it did not ask. Only in place of the fallback, and not for a question: a
# message with "?" beyond its first words, or longer than GREETING_MAX_WORDS, keeps "did you mean".
# The safety net comes after this component: an emergency after "hey" still gets the crisis reply.
GREET_INTENT = "greet"
GREETING_OPENER = re.compile(
    r"^\W*(hello|hi|hey|heya|hiya|howdy|yo|greetings|(good )?(morning|afternoon|evening)|"
    r"hola|buenas|buenos d[ií]as|buen d[ií]a|saludos|qu[eé] tal|qu[eé] onda)\b",
    re.IGNORECASE,
)
GREETING_MAX_WORDS = 14


def greeting_instead_of_fallback(message: Message) -> bool:
    if (message.get(INTENT) or {}).get(INTENT_NAME_KEY) != FALLBACK_INTENT:
        return False
    text = message.get(TEXT) or ""
    opener = GREETING_OPENER.match(text)
    if not opener:
        return False
    rest = text[opener.end() :]
    # "hello??" is still a greeting; a question after it is not
    asks = "?" in rest.lstrip("?! ,.")
    return not asks and len(text.split()) <= GREETING_MAX_WORDS


def decide(
    first_intent: str | None,
    diet_rankings: list[dict[str, float]],
    linear: dict[str, float] | None,
    linear_weight: float,
    protected: Iterable[str],
) -> Ranking | None:
    """The blended ranking of one message; None when the first DIET's prediction stands.

    `first_intent` is the first DIET's top intent; `diet_rankings` the DIETs' rankings (empty ones
    left out); `linear` the linear model's probabilities (None: it could not read the message).
    """
    if first_intent in set(protected):
        return None
    if not diet_rankings:  # no DIET could read the message: the linear model's alone, if any
        return by_confidence(linear) if linear else None
    diets = mean(diet_rankings)
    ranked = blend(diets, linear, 1 - linear_weight) if linear else by_confidence(diets)
    return kept_last(ranked, protected)


class NestedModelStorage(ModelStorage):
    """A folder per classifier inside the decider's own resource: Rasa's training cache stores and
    restores a component's resource as one folder, so what the decider trains comes back with it.

    Only what components use (`write_to`, `read_from`) is provided; models are packed and unpacked
    by the real storage around it.
    """

    def __init__(self, parent: ModelStorage, resource: Resource) -> None:
        self._parent = parent
        self._resource = resource

    @classmethod
    def create(cls, storage_path: Path) -> ModelStorage:
        raise NotImplementedError("a nested storage lives inside another storage's resource")

    @classmethod
    def from_model_archive(cls, storage_path: Path, model_archive_path: Path | str) -> Any:
        raise NotImplementedError("a nested storage is packed by the storage it lives in")

    @classmethod
    def metadata_from_archive(cls, model_archive_path: Path | str) -> ModelMetadata:
        raise NotImplementedError("a nested storage is packed by the storage it lives in")

    @contextlib.contextmanager
    def write_to(self, resource: Resource) -> Generator[Path, None, None]:
        with self._parent.write_to(self._resource) as directory:
            folder = Path(directory) / resource.name
            folder.mkdir(exist_ok=True)
            yield folder

    @contextlib.contextmanager
    def read_from(self, resource: Resource) -> Generator[Path, None, None]:
        with self._parent.read_from(self._resource) as directory:
            folder = Path(directory) / resource.name
            if not folder.is_dir():
                raise ValueError(f"Resource '{resource.name}' does not exist in '{self._resource.name}'.")
            yield folder

    def create_model_package(self, *args: Any, **kwargs: Any) -> ModelMetadata:
        raise NotImplementedError("a nested storage is packed by the storage it lives in")


def train_diet(
    config: dict[str, Any],
    storage: ModelStorage,
    decider_resource: Resource,
    resource: Resource,
    execution_context: ExecutionContext,
    training_data: bytes,
    threads: int,
) -> None:
    """Trains one DIET of the decider into its folder, in a process started for it (spawned, so
    TensorFlow has not run here yet and its thread pools take `threads`). `training_data` is the
    pickled TrainingData."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already ran in this process: its pools stay as they are
        logger.warning(f"IntentDecider: TensorFlow's threads already set; training {resource.name} as is.")
    nested = NestedModelStorage(storage, decider_resource)
    FastDIETClassifier.create(config, nested, resource, execution_context).train(pickle.loads(training_data))


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class IntentDecider(GraphComponent, IntentClassifier):
    """Trains the configured classifiers, blends their confidences once, applies the fallback."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Featurizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # Intents a blend never makes nor removes: the first classifier's call (or the safety
            # net's).
            "protected_intents": ["crisis", "ask_dosing"],
            # DIET settings shared by every DIET (FastDIETClassifier's defaults otherwise).
            "diet": {},
            # One DIET per seed, each weighing the same; none: the linear model alone.
            "diet_seeds": [42],
            # Settings of the linear model (SecondOpinionClassifier's defaults otherwise).
            "linear": {},
            # The linear model's share of the blend with the DIETs' mean.
            "linear_weight": 0.5,
            # Rasa's FallbackClassifier settings.
            "fallback_threshold": 0.3,
            "fallback_ambiguity_threshold": 0.1,
            # Several DIETs train at once, each in a process of its own (module docstring).
            "train_in_processes": True,
        }

    def __init__(
        self,
        config: dict[str, Any],
        diets: list[FastDIETClassifier],
        linear: SecondOpinionClassifier,
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext | None = None,
    ) -> None:
        self._config = config
        self.diets = diets
        self.linear = linear
        self.protected = list(config["protected_intents"])
        self.fallback = FallbackClassifier(
            {
                **FallbackClassifier.get_default_config(),
                "threshold": config["fallback_threshold"],
                "ambiguity_threshold": config["fallback_ambiguity_threshold"],
            }
        )
        self._model_storage = model_storage
        self._resource = resource
        self._execution_context = execution_context or ExecutionContext(GraphSchema({}))

    # ------------------------------------------------------------------ the classifiers it holds
    @staticmethod
    def diet_config(config: dict[str, Any], seed: int) -> dict[str, Any]:
        return {**FastDIETClassifier.get_default_config(), **config["diet"], "random_seed": seed}

    @staticmethod
    def linear_config(config: dict[str, Any]) -> dict[str, Any]:
        return {**SecondOpinionClassifier.get_default_config(), **config["linear"]}

    @staticmethod
    def diet_resource(index: int, seed: int) -> Resource:
        return Resource(f"diet_{index}_seed_{seed}")

    LINEAR_RESOURCE = Resource("linear")

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> IntentDecider:
        return cls._assemble(config, model_storage, resource, execution_context, trained=False)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> IntentDecider:
        return cls._assemble(config, model_storage, resource, execution_context, trained=True)

    @classmethod
    def _diets(
        cls, config: dict[str, Any], nested: ModelStorage, execution_context: ExecutionContext, trained: bool
    ) -> list[FastDIETClassifier]:
        """One DIET per seed, created (to train) or loaded from its folder (`trained`)."""
        make_diet = FastDIETClassifier.load if trained else FastDIETClassifier.create
        return [
            make_diet(cls.diet_config(config, seed), nested, cls.diet_resource(i, seed), execution_context)
            for i, seed in enumerate(config["diet_seeds"])
        ]

    @classmethod
    def _assemble(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        trained: bool,
    ) -> IntentDecider:
        """The decider with its classifiers created (to train) or loaded (`trained`), each from its
        folder of the decider's resource."""
        nested = NestedModelStorage(model_storage, resource)
        diets = cls._diets(config, nested, execution_context, trained)
        linear_config = cls.linear_config(config)
        linear = None
        if trained:
            try:
                linear = SecondOpinionClassifier.load(
                    linear_config, nested, cls.LINEAR_RESOURCE, execution_context
                )
            except ValueError:  # never trained (no training data): predicts nothing, as Rasa's
                logger.warning(f"{cls.__name__}: no trained linear model in '{resource.name}'.")
        if linear is None:
            linear = SecondOpinionClassifier.create(
                linear_config, nested, cls.LINEAR_RESOURCE, execution_context
            )
        return cls(config, diets, linear, model_storage, resource, execution_context)

    def train(self, training_data: TrainingData) -> Resource:
        with self._model_storage.write_to(self._resource):
            pass  # the resource exists even if no classifier had anything to train on
        cores = len(os.sched_getaffinity(0))
        if self._config["train_in_processes"] and len(self.diets) > 1 and cores > 1:
            self._train_diets_in_processes(training_data, threads=max(1, cores // len(self.diets)))
        else:
            for diet in self.diets:
                diet.train(training_data)
            self.linear.train(training_data)
        return self._resource

    def _train_diets_in_processes(self, training_data: TrainingData, threads: int) -> None:
        """Every DIET in a process of its own, the linear model here meanwhile; then each DIET is
        loaded from its folder. A failure in any process is raised here, as it would be alone."""
        seeds = self._config["diet_seeds"]
        nested = NestedModelStorage(self._model_storage, self._resource)
        logger.info(
            f"{self.__class__.__name__}: training {len(seeds)} DIETs at once, each in a process of "
            f"its own with {threads} TensorFlow thread(s)."
        )
        # Pickled here, before the linear model trains: the pool pickles in a thread of its own,
        # and training reads into the messages (lazily computed attributes) while it would.
        data = pickle.dumps(training_data, protocol=pickle.HIGHEST_PROTOCOL)
        with ProcessPoolExecutor(len(seeds), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [
                pool.submit(
                    train_diet,
                    self.diet_config(self._config, seed),
                    self._model_storage,
                    self._resource,
                    self.diet_resource(i, seed),
                    self._execution_context,
                    data,
                    threads,
                )
                for i, seed in enumerate(seeds)
            ]
            self.linear.train(training_data)
            for future in futures:
                future.result()
        self.diets = self._diets(self._config, nested, self._execution_context, trained=True)

    # ------------------------------------------------------------------ prediction
    def process(self, messages: list[Message]) -> list[Message]:
        FastDIETClassifier.predict_together(self.diets)
        diet_rankings: list[list[dict[str, float]]] = [[] for _ in messages]
        first: list[tuple[Any, Any]] = [(None, None)] * len(messages)
        for index, diet in enumerate(self.diets):
            diet.process(messages)
            for i, message in enumerate(messages):
                ranking = message.get(INTENT_RANKING_KEY)
                if index == 0:
                    first[i] = (message.get(INTENT), ranking)
                own = ranking_dict(ranking)
                if own:  # nothing predicted (no features): left out of the mean
                    diet_rankings[i].append(own)
        for i, message in enumerate(messages):
            linear = self.linear.intent_probabilities(message)
            first_intent, first_ranking = first[i]
            if self.diets:
                decided = decide(
                    (first_intent or {}).get(INTENT_NAME_KEY),
                    diet_rankings[i],
                    linear,
                    float(self._config["linear_weight"]),
                    self.protected,
                )
            else:  # the linear model is the first classifier: its prediction, protected or not
                decided = by_confidence(linear) if linear else None
            if decided:
                set_ranking(message, decided)
            elif first_intent is not None and self.diets:
                # The first DIET's protected prediction stands as it made it.
                message.set(INTENT, first_intent, add_to_output=True)
                message.set(INTENT_RANKING_KEY, first_ranking or [], add_to_output=True)
            else:  # nothing could read the message
                message.set(
                    INTENT, {INTENT_NAME_KEY: None, PREDICTED_CONFIDENCE_KEY: 0.0}, add_to_output=True
                )
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
        messages = self.fallback.process(messages)
        for message in messages:
            if greeting_instead_of_fallback(message):
                put_first(message, GREET_INTENT, 1.0, dropping=FALLBACK_INTENT)
        return messages
