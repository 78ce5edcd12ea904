"""FastDIETClassifier: Rasa's DIETClassifier with the intent forward pass done in NumPy.

Why it exists: profiling the server put ~28 % of the CPU per message in `DIETClassifier.process`,
most of it TensorFlow's per-call overhead around a tiny graph run for one message; the same maths in
NumPy on the loaded weights gives the same confidences for a fraction of the CPU
(docs/performance.md, section 6).

Training is DIETClassifier's, and so are Rasa's persisted files; beside them `persist` saves the
NumPy weights (one `.npz`, read back without TensorFlow or pickle), so that a server process loads
the classifier without ever building the TensorFlow model (about 160 MB per worker that
predictions never used: docs/performance.md). The weights are read out of Rasa's private layer
attributes by overrides/numpy_diet.py (see overrides/README.md). Whenever they cannot be read or
saved for any reason (a part the NumPy pass does not implement, a layer laid out differently, a
model trained before the file existed, an error of any kind), or the override is switched off
(RASA_OVERRIDES_DISABLE=numpy_diet), the component loads and predicts exactly as DIETClassifier
does, with TensorFlow, after a logged warning. Parity with the
TF path is tested in tests/test_fast_diet.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils import train_utils
from rasa.utils.tensorflow.constants import FEATURIZERS, SENTENCE, SEQUENCE
from rasa.utils.tensorflow.models import RasaModel

import overrides
from overrides.numpy_diet import NumpyDIET, NumpyDIETStack, UnsupportedDIETModel
from overrides.rasa_components import (
    DIETPredictSeam,
    component_storage,
    diet_labels_and_sizes,
    sharing_model,
)

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(
    # As DIETClassifier registers itself, so that the recipe places and validates it identically.
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR],
    is_trainable=True,
)
class FastDIETClassifier(DIETPredictSeam):
    """DIETClassifier whose intent confidences are computed in NumPy at prediction time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._numpy_diet: NumpyDIET | None = None
        # The TF model the NumPy weights (or the decision to fall back) were taken from.
        self._prepared_for: RasaModel | None = None
        # The DIETs of the same model that predict together with this one (see _DIETGroup), or
        # the weights of the DIETs found last time that could not be stacked (not tried again).
        self._group: _DIETGroup | None = None
        self._not_stackable: tuple[int, ...] | None = None

    # Whether a component loaded for predictions keeps its TensorFlow model once the NumPy weights
    # are extracted (tests comparing both paths keep it).
    KEEP_TENSORFLOW_MODEL = False

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> FastDIETClassifier:
        """Loads the NumPy weights saved at training, without building the TensorFlow model.

        Building DIET's TensorFlow model (and running it once, as Rasa does to restore its
        weights) leaves about 160 MB per worker that predictions never use again
        (docs/performance.md). A model trained by this component carries the NumPy weights
        beside Rasa's files (`persist`), so a server process never touches TensorFlow. Loaded
        as DIETClassifier loads (and the weights then extracted from the TF model, which is let
        go) when fine-tuning, when the TF model is asked for (`KEEP_TENSORFLOW_MODEL`), when
        numpy_diet is switched off, or when the file is missing or unreadable (a model trained
        before it existed).
        """
        if not (
            execution_context.is_finetuning
            or cls.KEEP_TENSORFLOW_MODEL
            or not overrides.enabled("numpy_diet")
        ):
            component = cls._load_without_tensorflow(config, model_storage, resource, execution_context)
            if component is not None:
                return component
        component = super().load(config, model_storage, resource, execution_context, **kwargs)
        if component.prepare_numpy_forward() and not (
            execution_context.is_finetuning or cls.KEEP_TENSORFLOW_MODEL
        ):
            component.release_tensorflow_model()
        return component

    @classmethod
    def weights_file(cls, model_path: Path) -> Path:
        return model_path / f"{cls.__name__}.numpy_weights.npz"

    @classmethod
    def _load_without_tensorflow(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> FastDIETClassifier | None:
        """As DIETClassifier._load, with the saved NumPy weights in place of the TF model; None
        when there are none to read (the caller then loads the TF model)."""
        try:
            NumpyDIET.check_config(config)
        except UnsupportedDIETModel:
            return None  # the TF model is loaded, and the reason logged when it is examined
        try:
            with model_storage.read_from(resource) as model_path:
                weights = cls.weights_file(model_path)
                if not weights.exists():
                    logger.info(f"{cls.__name__}: no saved NumPy weights; loading the TensorFlow model.")
                    return None
                numpy_diet = NumpyDIET.load(weights)
                # Rasa's own reader of the labels and feature sizes (the data example and label
                # data it also returns only build the TF model).
                index_label_id_mapping, entity_tag_specs, sparse_feature_sizes = diet_labels_and_sizes(
                    cls, model_path
                )
        except Exception as reason:  # anything unreadable: the TensorFlow model, as DIET loads
            logger.warning(
                f"{cls.__name__}: saved NumPy weights not read ({type(reason).__name__}: {reason}); "
                f"loading the TensorFlow model instead."
            )
            return None
        config = train_utils.update_similarity_type(train_utils.update_confidence_type(config))
        component = cls(
            config=config,
            model_storage=model_storage,
            resource=resource,
            execution_context=execution_context,
            index_label_id_mapping=index_label_id_mapping,
            entity_tag_specs=entity_tag_specs,
            model=None,
            sparse_feature_sizes=sparse_feature_sizes,
        )
        component._numpy_diet = numpy_diet
        return component

    def persist(self) -> None:
        """Rasa's files, and the NumPy weights beside them for servers to load without TensorFlow."""
        super().persist()
        if self.model is None:
            return
        try:
            numpy_diet = NumpyDIET.from_model(self.model, self.component_config)
        except Exception as reason:  # a model the NumPy pass does not read: served by TensorFlow
            logger.info(f"{self.__class__.__name__}: no NumPy weights saved ({reason}).")
            return
        model_storage, resource = component_storage(self)
        with model_storage.write_to(resource) as model_path:
            numpy_diet.save(self.weights_file(model_path))

    def release_tensorflow_model(self) -> None:
        """Drops the TF model (the NumPy weights are all predictions need) and returns the memory."""
        self.model = None
        self._prepared_for = None
        gc.collect()
        return_freed_memory()

    @classmethod
    def from_diet_classifier(cls, diet: DIETClassifier) -> FastDIETClassifier:
        """Wraps an already trained or loaded DIETClassifier, sharing its TF model."""
        component = sharing_model(cls, diet)
        component.prepare_numpy_forward()
        return component

    def train(self, training_data: TrainingData) -> Resource:
        resource = super().train(training_data)
        # (Fine-)tuning changes the weights in place: extract them again on the next prediction.
        self._numpy_diet, self._prepared_for = None, None
        return resource

    @property
    def uses_numpy_path(self) -> bool:
        """Whether predictions go through NumPy (extracting the weights first if needed)."""
        return self.prepare_numpy_forward()

    def prepare_numpy_forward(self) -> bool:
        """Extracts the NumPy weights from the current TF model; False means the TF path is used."""
        if self.model is None:
            return self._numpy_diet is not None  # extracted, then the TF model was let go
        if self._prepared_for is not self.model:
            self._prepared_for = self.model
            self._numpy_diet = None
            if not overrides.enabled("numpy_diet"):
                logger.info(
                    f"{self.__class__.__name__}: numpy_diet switched off; predicting with TensorFlow."
                )
                return False
            try:
                self._numpy_diet = NumpyDIET.from_model(self.model, self.component_config)
            except Exception as reason:  # any structure the NumPy pass does not read: TensorFlow
                logger.warning(
                    f"{self.__class__.__name__}: {type(reason).__name__}: {reason}; predicting with "
                    f"TensorFlow (as DIETClassifier) instead of the NumPy forward pass."
                )
        return self._numpy_diet is not None

    def predict_message(self, message: Message) -> dict[str, Any] | None:
        if not self.prepare_numpy_forward():
            return self.tensorflow_predict(message)
        assert self._numpy_diet is not None
        # As DIETClassifier._predict, with NumPy in place of `self.model.run_inference`, reading the
        # message's features as `_create_model_data` would combine them (`prediction_features`).
        group = self._diet_group()
        if group is not None:
            result = group.take(self, message)
            if result is not None:
                return result
        features = self._prediction_features(message)
        if features is None:
            return None
        if group is None:
            return self._numpy_diet.run_features(*features)
        return group.predict(self, message, features)

    def _diet_group(self) -> _DIETGroup | None:
        """The DIETs this one predicts together with (`predict_together`), while all are current."""
        group = self._group
        if group is not None and group.is_current():
            return group
        return None

    @classmethod
    def predict_together(cls, diets: list[FastDIETClassifier]) -> bool:
        """Lets DIETs that predict the same messages one after another (the ensemble of
        components/intent_decider.py) compute all their results in one NumPy pass: the first to
        see a message computes them all, each of the others takes its own. Whether they do.

        A no-op while they already do; built again when any has new weights. DIETs that read
        other featurizers, predict with TensorFlow, or cannot be stacked (the reason is logged;
        not tried again for the same weights) predict one by one, exactly as alone.
        """
        if len(diets) < 2:
            return False
        first = diets[0]
        group = first._diet_group()
        if group is not None and all(d._group is group for d in diets) and len(group.members) == len(diets):
            return True
        for diet in diets:
            diet._group = None
        if len({d._featurizers() for d in diets}) != 1 or not all(d.uses_numpy_path for d in diets):
            return False
        numpy_diets = [d._numpy_diet for d in diets]  # none is None: each uses the NumPy path
        weights = tuple(map(id, numpy_diets))
        if weights == first._not_stackable:
            return False
        try:
            stack = NumpyDIETStack(numpy_diets)  # type: ignore[arg-type]
        except UnsupportedDIETModel as reason:
            logger.info(f"{cls.__name__}: DIETs predicted one by one ({reason}).")
            first._not_stackable = weights
            return False
        group = _DIETGroup(tuple(weakref.ref(d) for d in diets), stack)
        for diet, member in zip(diets, stack.members, strict=True):
            # The same weights, now views into the stack's arrays: nothing is held twice.
            diet._numpy_diet = member
            diet._group = group
        # The weights the stack copied are free now, but glibc keeps freed blocks of this size in
        # the heap: without this a worker holds ~28 MB more (measured: RSS after 50 parses).
        return_freed_memory()
        return True

    # The features of the last message predicted: the DIETs of an ensemble (components/
    # intent_decider.py) read the same message one after another. (message, key, features).
    _last_features: tuple[Message, tuple[Any, ...], TextFeatures | None] | None = None

    def _prediction_features(self, message: Message) -> TextFeatures | None:
        """`prediction_features(message, featurizers)`, reused for the same message.

        It depends only on the message's features and the featurizers this DIET reads: the key
        holds those, and the message itself is compared by identity (held, so that its id cannot
        be reused while cached).
        """
        key = self._features_key(message)
        last = FastDIETClassifier._last_features
        if last is not None and last[0] is message and last[1] == key:
            return last[2]
        features = prediction_features(message, self._featurizers())
        FastDIETClassifier._last_features = (message, key, features)
        return features

    def _featurizers(self) -> tuple[str, ...]:
        """The featurizers whose features this DIET reads (all of them when empty)."""
        return tuple(self.component_config.get(FEATURIZERS) or ())

    def _features_key(self, message: Message) -> tuple[Any, ...]:
        """What this DIET's features of `message` depend on, beside the message itself."""
        return (self._featurizers(), len(message.features))


def return_freed_memory() -> None:
    """Hands memory freed by Python back to the operating system (glibc only; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@dataclass
class _DIETGroup:
    """DIETs of one model that run on the same messages one after another (an ensemble): the first
    of them to predict a message computes all of their results in one NumpyDIETStack pass, and each
    of the others takes its own when it comes to the message.

    A message's results wait in `pending` until taken. On the server a message passes all the
    DIETs before the next one is parsed, so at most one waits; a batch (`rasa test`, the
    evaluation) runs each DIET over all its messages in turn, so up to the whole batch waits, with
    at most `MAX_PENDING` kept (the oldest dropped: its DIETs then compute it again).
    """

    members: tuple[weakref.ref[FastDIETClassifier], ...]
    stack: NumpyDIETStack
    # id(message) -> (message, features key, {member index: its result not yet taken})
    pending: dict[int, tuple[Message, tuple[Any, ...], dict[int, dict[str, Any]]]] = field(
        default_factory=dict
    )

    MAX_PENDING = 1024

    def is_current(self) -> bool:
        """Every member is alive and still predicts with the weights the stack was built from."""
        components = [ref() for ref in self.members]
        return all(
            c is not None and c.prepare_numpy_forward() and c._group is self and c._numpy_diet is m
            for c, m in zip(components, self.stack.members, strict=True)
        )

    def _index(self, component: FastDIETClassifier) -> int:
        return next(i for i, ref in enumerate(self.members) if ref() is component)

    def take(self, component: FastDIETClassifier, message: Message) -> dict[str, Any] | None:
        """The result computed for `component` when another member predicted `message`, if any."""
        entry = self.pending.get(id(message))
        if entry is None or entry[0] is not message or entry[1] != component._features_key(message):
            return None
        result = entry[2].pop(self._index(component), None)
        if not entry[2]:
            del self.pending[id(message)]
        return result

    def predict(self, component: FastDIETClassifier, message: Message, features: Any) -> dict[str, Any]:
        """All members' results for `message`; returns `component`'s and keeps the others'."""
        results = dict(enumerate(self.stack.run_features(*features)))
        own = results.pop(self._index(component))
        self.pending.pop(id(message), None)  # a stale entry goes to the end
        self.pending[id(message)] = (message, component._features_key(message), results)
        while len(self.pending) > self.MAX_PENDING:
            del self.pending[next(iter(self.pending))]
        return own


# Per feature type (sequence, sentence): the combined sparse features, then the combined dense
# features, each only if present: the order of `RasaModelData`'s feature lists at prediction.
TextFeatures = tuple[list[Any], list[Any]]


def prediction_features(message: Message, featurizers: tuple[str, ...] = ()) -> TextFeatures | None:
    """The text features of one message as DIET's model data holds them at prediction, or None
    when the message has none (DIETClassifier then predicts nothing).

    `DIETClassifier._create_model_data([message], training=False)` collects the same features:
    `Message.get_all_features` combines, per feature type, the sparse features of all featurizers
    (in the order they were added, filtered by `featurizers` unless empty) side by side, then the
    dense ones; Rasa's model data then wraps each in its own structures. Rasa deep-copies the first
    featurizer's features and stacks the rest with `scipy.sparse.hstack`, 15 % of a parse's CPU
    (docs/performance.md): here the non-zero entries are concatenated, each featurizer's columns
    shifted by the widths before it, which is the same matrix. Parity: tests/test_fast_diet.py.
    """
    sequence: list[Any] = []
    sentence: list[Any] = []
    for is_sparse in (True, False):
        for feature_type, combined in ((SEQUENCE, sequence), (SENTENCE, sentence)):
            parts = [
                f.features
                for f in message.features
                if f.attribute == TEXT
                and f.type == feature_type
                and f.is_sparse() == is_sparse
                and (not featurizers or f.origin in featurizers)
            ]
            if parts:
                combined.append(_side_by_side(parts, is_sparse))
    if not (sequence or sentence):
        return None
    return sequence, sentence


def _side_by_side(parts: list[Any], is_sparse: bool) -> Any:
    """Feature matrices of the same rows side by side, as `Features.combine_with_features` puts them."""
    rows = parts[0].shape[0]
    if any(part.shape[0] != rows for part in parts):
        shapes = [p.shape for p in parts]
        raise ValueError(f"Cannot combine features as sequence dimensions do not match: {shapes}")
    if not is_sparse:
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
    coos = [part if isinstance(part, scipy.sparse.coo_matrix) else part.tocoo() for part in parts]
    if len(coos) == 1:
        return coos[0]
    offsets = np.cumsum([0] + [c.shape[1] for c in coos])
    data = np.concatenate([c.data for c in coos])
    row = np.concatenate([c.row for c in coos])
    col = np.concatenate([c.col + offset for c, offset in zip(coos, offsets, strict=False)])
    return scipy.sparse.coo_matrix((data, (row, col)), shape=(rows, int(offsets[-1])))
