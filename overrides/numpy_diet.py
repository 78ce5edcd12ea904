"""DIET's intent forward pass in NumPy, on weights read out of the loaded TensorFlow model.

Used by components/fast_diet.py (FastDIETClassifier). It lives among the overrides because it
reads private attributes of Rasa's TensorFlow layers (`_tf_layers`, `_enc_layers`, `_mha`, ...),
which only Rasa 3.6.21 is known to lay out this way.

Why it exists: profiling the server put ~28 % of the CPU per message in `DIETClassifier.process`,
most of it TensorFlow's per-call overhead (tf.function signature canonicalisation, eager tensor
conversion) around a tiny graph run for one message. The network itself is small (config.yml: one
128-wide transformer layer), so the same maths in NumPy on the loaded weights gives the same
confidences for a fraction of the CPU.

Only the tensor maths is replaced. Training, persistence and loading are DIETClassifier's
(unchanged, so swapping `name: DIETClassifier` for `name: components.fast_diet.FastDIETClassifier`
with the same options trains the same network); ranking, confidence normalisation and what is
written to the message are Rasa's `_predict_label` / `process`. What changes is the single call
`self.model.run_inference(model_data)`: `NumpyDIET.run_inference` (on Rasa's model data) and
`NumpyDIET.run_features` (on the same matrices, collected from the message by
components/fast_diet.py's `prediction_features` without building the model data) return the same
`{"i_scores": ..., "diagnostic_data": {...}}` from a NumPy implementation of DIET's inference pass
(no dropout, no sparse dropout, no masking of tokens):

    sparse/dense features -> DenseForSparse (+ concat) per feature type [-> unify-dims Ffnn]
    -> sequence rows followed by the sentence row -> Ffnn (hidden_layers_sizes.text)
    -> transformer encoder (embedding * sqrt(units) + sinusoidal positions; per layer:
       pre-layer-norm multi-head self-attention and pre-layer-norm GELU feed-forward, residuals;
       final layer norm) -> GELU -> the sentence-level position (last row) -> embed.text
    -> similarity (inner or cosine) with the label embeddings -> softmax (model_confidence)

Every RandomlyConnectedDense kernel is multiplied by its connection-density mask, as the layer
does at call time. The label embeddings are a per-model constant: they are taken once from the TF
model (`all_labels_embed`, computed the way `_rasa_predict` computes them).

Supported: any number of transformer layers and heads, unidirectional encoders, text hidden layers,
sparse and dense features, the unify-dims layers, inner and cosine similarity, model_confidence
softmax and auto. Not implemented, and therefore served by the inherited TensorFlow path with a
logged warning: entity recognition (the CRF), relative attention, intent classification turned off,
and any layer structure this module does not recognise. Parity with the TF path is tested in
tests/test_fast_diet.py.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse
import tensorflow as tf
from rasa.shared.constants import DIAGNOSTIC_DATA
from rasa.shared.nlu.constants import TEXT
from rasa.utils.tensorflow import rasa_layers
from rasa.utils.tensorflow.constants import (
    COSINE,
    ENTITY_RECOGNITION,
    INNER,
    INTENT_CLASSIFICATION,
    LABEL,
    SENTENCE,
    SEQUENCE,
    SEQUENCE_LENGTH,
    SOFTMAX,
)
from rasa.utils.tensorflow.feature_array import FeatureArray
from rasa.utils.tensorflow.layers import DenseForSparse, Ffnn, RandomlyConnectedDense
from rasa.utils.tensorflow.model_data import RasaModelData
from rasa.utils.tensorflow.models import RasaModel
from rasa.utils.tensorflow.transformer import TransformerEncoder
from scipy.special import erf
from threadpoolctl import ThreadpoolController

logger = logging.getLogger(__name__)

Array = npt.NDArray[np.float32]

SQRT_2 = np.float32(np.sqrt(2.0))
# What the TF model adds to attention logits at masked positions (transformer.py).
MASK_LOGIT = np.float32(-1e9)


class UnsupportedDIETModel(ValueError):
    """The loaded DIET network has a part the NumPy forward pass does not implement."""


def gelu(x: Array) -> Array:
    """`tf.nn.gelu` with its default `approximate=False`: 0.5 x (1 + erf(x / sqrt 2))."""
    return np.float32(0.5) * x * (np.float32(1.0) + erf(x / SQRT_2))


def softmax(x: Array, axis: int = -1) -> Array:
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def l2_normalize(x: Array) -> Array:
    """`tf.nn.l2_normalize` on the last axis (epsilon 1e-12 on the squared norm)."""
    squared = np.sum(x * x, axis=-1, keepdims=True)
    return x / np.sqrt(np.maximum(squared, np.float32(1e-12)))


def _weight(variable: tf.Variable) -> Array:
    return np.ascontiguousarray(variable.numpy(), dtype=np.float32)


@dataclass(frozen=True)
class Dense:
    """A Keras Dense / RandomlyConnectedDense / DenseForSparse layer in inference mode."""

    kernel: Array  # already multiplied by the connection-density mask
    bias: Array | None
    gelu: bool

    @classmethod
    def from_keras(cls, layer: tf.keras.layers.Dense) -> Dense:
        kernel = _weight(layer.kernel)
        if isinstance(layer, RandomlyConnectedDense) and layer.density < 1.0:
            # RandomlyConnectedDense.call assigns `kernel * kernel_mask` before every use.
            kernel = kernel * _weight(layer.kernel_mask)
        if layer.activation is tf.keras.activations.linear:
            use_gelu = False
        elif layer.activation is tf.nn.gelu:
            use_gelu = True
        else:
            raise UnsupportedDIETModel(f"layer {layer.name}: activation {layer.activation} not implemented")
        bias = _weight(layer.bias) if layer.use_bias else None
        return cls(np.ascontiguousarray(kernel), bias, use_gelu)

    def __call__(self, x: Array) -> Array:
        return self._finish(x @ self.kernel)

    def sparse(self, x: scipy.sparse.spmatrix) -> Array:
        """`x @ kernel` for a sparse `x`, as DenseForSparse computes it.

        Gathers the kernel rows of the non-zero columns and sums them per row: for a message's
        few hundred non-zeros this is several times cheaper than building scipy CSR matrices.
        """
        coo = x if isinstance(x, scipy.sparse.coo_matrix) else x.tocoo()
        rows, cols, values = coo.row, coo.col, coo.data
        if rows.size > 1 and np.any(rows[1:] < rows[:-1]):
            order = np.argsort(rows, kind="stable")
            rows, cols, values = rows[order], cols[order], values[order]
        # A stack's kernel (NumpyDIETStack) has the members first: (members, in, out).
        *members, _, units = self.kernel.shape
        y = np.zeros((*members, coo.shape[0], units), dtype=np.float32)
        if rows.size:
            contributions = self.kernel[..., cols, :] * values.astype(np.float32)[:, np.newaxis]
            present, starts = np.unique(rows, return_index=True)
            y[..., present, :] = np.add.reduceat(contributions, starts, axis=-2)
        return self._finish(y)

    def _finish(self, y: Array) -> Array:
        if self.bias is not None:
            y = y + self.bias
        return gelu(y) if self.gelu else y


def _ffnn(layer: Ffnn) -> list[Dense]:
    """Ffnn = [RandomlyConnectedDense(gelu), Dropout] * n; dropout is the identity at inference."""
    dense_layers = []
    for sub_layer in layer._ffn_layers:
        if isinstance(sub_layer, RandomlyConnectedDense):
            dense_layers.append(Dense.from_keras(sub_layer))
        elif not isinstance(sub_layer, tf.keras.layers.Dropout):
            raise UnsupportedDIETModel(f"{layer.name}: unexpected layer {sub_layer.name}")
    return dense_layers


def _check_keys(where: str, layers: dict[str, Any], known: set[str]) -> None:
    unknown = set(layers) - known
    if unknown:
        raise UnsupportedDIETModel(f"{where}: layers {sorted(unknown)} not implemented")


@dataclass(frozen=True)
class LayerNorm:
    gamma: Array
    beta: Array
    epsilon: float

    @classmethod
    def from_keras(cls, layer: tf.keras.layers.LayerNormalization) -> LayerNorm:
        # Rasa's layer norms normalise over the last (units) axis only.
        if len(layer.axis) != 1 or len(layer.gamma.shape) != 1:
            raise UnsupportedDIETModel(f"{layer.name}: normalisation axes {layer.axis}")
        if not (layer.center and layer.scale):
            raise UnsupportedDIETModel(f"{layer.name}: layer norm without centre/scale")
        return cls(_weight(layer.gamma), _weight(layer.beta), float(layer.epsilon))

    def __call__(self, x: Array) -> Array:
        mean = x.mean(axis=-1, keepdims=True)
        centred = x - mean
        variance = np.mean(centred * centred, axis=-1, keepdims=True)
        return centred / np.sqrt(variance + np.float32(self.epsilon)) * self.gamma + self.beta


@dataclass(frozen=True)
class FeatureTypeCombiner:
    """ConcatenateSparseDenseFeatures for one feature type, plus the optional unify-dims Ffnn."""

    signature: tuple[tuple[bool, int], ...]  # (is_sparse, units) per input feature, in order
    sparse_to_dense: Dense | None
    unify_dims: tuple[Dense, ...]

    def __call__(self, features: Sequence[Any]) -> Array:
        if len(features) != len(self.signature):
            raise ValueError(f"expected {len(self.signature)} features, got {len(features)}")
        parts = []
        for feature, (is_sparse, units) in zip(features, self.signature, strict=True):
            if feature.shape[-1] != units or scipy.sparse.issparse(feature) != is_sparse:
                raise ValueError(f"feature of shape {feature.shape} does not match the model's {units}")
            if is_sparse:
                assert self.sparse_to_dense is not None
                parts.append(self.sparse_to_dense.sparse(feature))
            else:
                parts.append(np.asarray(feature, dtype=np.float32))
        if len(parts) > 1:
            # In a stack the sparse parts have a members axis first; the message's dense ones not.
            members = max(part.shape[:-2] for part in parts)
            parts = [np.broadcast_to(part, (*members, *part.shape[-2:])) for part in parts]
        x = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
        for layer in self.unify_dims:
            x = layer(x)
        return x


@dataclass(frozen=True)
class EncoderLayer:
    """TransformerEncoderLayer: pre-norm self-attention and feed-forward, both residual."""

    attention_norm: LayerNorm
    query_key_value: Array  # the three bias-free projection kernels side by side: (units, 3 units)
    output: Dense
    ffn_norm: LayerNorm
    ffn_hidden: Dense
    ffn_output: Dense
    num_heads: int

    def __call__(self, x: Array, mask_logits: Array | None) -> tuple[Array, Array]:
        *members, length, units = x.shape  # members: (), or (n,) in a NumpyDIETStack
        depth = units // self.num_heads
        # ([members,] length, 3 units) -> (3, [members,] heads, length, depth)
        projected = self.attention_norm(x) @ self.query_key_value
        projected = projected.reshape(*members, length, 3, self.num_heads, depth)
        query, key, value = np.moveaxis(projected, -3, 0).swapaxes(-3, -2)
        logits = (query @ key.swapaxes(-1, -2)) / np.sqrt(np.float32(depth))
        if mask_logits is not None:
            logits = logits + mask_logits
        weights = softmax(logits, axis=-1)  # ([members,] heads, length, length)
        attended = (weights @ value).swapaxes(-3, -2).reshape(*members, length, units)
        x = x + self.output(attended)
        x = x + self.ffn_output(self.ffn_hidden(self.ffn_norm(x)))
        return x, weights


@dataclass(frozen=True)
class Encoder:
    """TransformerEncoder (no relative attention) in inference mode."""

    embedding: Dense
    layers: tuple[EncoderLayer, ...]
    final_norm: LayerNorm
    units: int
    unidirectional: bool
    angles: Array

    @classmethod
    def from_keras(cls, encoder: TransformerEncoder) -> Encoder:
        layers = []
        for layer in encoder._enc_layers:
            mha = layer._mha
            if mha.use_key_relative_position or mha.use_value_relative_position:
                raise UnsupportedDIETModel("relative attention is not implemented")
            norm, hidden, dropout_1, output, dropout_2 = layer._ffn_layers
            if not (
                isinstance(norm, tf.keras.layers.LayerNormalization)
                and isinstance(hidden, RandomlyConnectedDense)
                and isinstance(output, RandomlyConnectedDense)
                and isinstance(dropout_1, tf.keras.layers.Dropout)
                and isinstance(dropout_2, tf.keras.layers.Dropout)
            ):
                raise UnsupportedDIETModel("unexpected transformer feed-forward structure")
            projections = [
                Dense.from_keras(mha._query_dense_layer),
                Dense.from_keras(mha._key_dense_layer),
                Dense.from_keras(mha._value_dense_layer),
            ]
            if any(p.bias is not None or p.gelu for p in projections):
                raise UnsupportedDIETModel("attention projections with bias or activation")
            layers.append(
                EncoderLayer(
                    attention_norm=LayerNorm.from_keras(layer._layer_norm),
                    query_key_value=np.ascontiguousarray(np.hstack([p.kernel for p in projections])),
                    output=Dense.from_keras(mha._output_dense_layer),
                    ffn_norm=LayerNorm.from_keras(norm),
                    ffn_hidden=Dense.from_keras(hidden),
                    ffn_output=Dense.from_keras(output),
                    num_heads=mha.num_heads,
                )
            )
        return cls(
            embedding=Dense.from_keras(encoder._embedding),
            layers=tuple(layers),
            final_norm=LayerNorm.from_keras(encoder._layer_norm),
            units=encoder.units,
            unidirectional=encoder.unidirectional,
            # TF multiplies float32 positions by these angles cast to float32.
            angles=np.asarray(encoder._angles, dtype=np.float32),
        )

    def positional_encoding(self, length: int) -> Array:
        """Sinusoidal encoding: sin on even units, cos on odd units (TransformerEncoder)."""
        angle_rads = np.arange(length, dtype=np.float32)[:, np.newaxis] * self.angles
        encoding = np.empty_like(angle_rads)
        encoding[..., 0::2] = np.sin(angle_rads[..., 0::2])
        encoding[..., 1::2] = np.cos(angle_rads[..., 1::2])
        return encoding

    def __call__(self, x: Array) -> tuple[Array, Array]:
        """([members,] length, input units) -> ([members,] length, units) and attention weights
        ([members,] layers, heads, L, L)."""
        length = x.shape[-2]
        x = self.embedding(x) * np.sqrt(np.float32(self.units))
        x = x + self.positional_encoding(length)
        mask_logits = None
        if self.unidirectional:  # a position attends to itself and earlier positions only
            mask_logits = np.triu(np.ones((length, length), dtype=np.float32), k=1) * MASK_LOGIT
        attention = []
        for layer in self.layers:
            x, weights = layer(x, mask_logits)
            attention.append(weights)
        return self.final_norm(x), np.stack(attention, axis=-4)


_blas_controller: ThreadpoolController | None = None


def _blas() -> ThreadpoolController:
    """The BLAS libraries loaded in this process (found once: scanning them takes milliseconds)."""
    global _blas_controller
    if _blas_controller is None:
        _blas_controller = ThreadpoolController().select(user_api="blas")
    return _blas_controller


@dataclass(frozen=True)
class NumpyDIET:
    """DIET's intent inference (`DIET.batch_predict` with `_training=False`) in NumPy."""

    sequence_combiner: FeatureTypeCombiner
    sentence_combiner: FeatureTypeCombiner | None
    hidden_layers: tuple[Dense, ...]
    encoder: Encoder | None
    embed_text: Dense
    label_embeddings: Array  # (number of intents, embedding dimension)
    similarity_type: str
    softmax_confidence: bool

    @staticmethod
    def check_config(component_config: dict[str, Any]) -> None:
        """Raises UnsupportedDIETModel for a configuration the NumPy pass cannot serve."""
        if not component_config.get(INTENT_CLASSIFICATION):
            raise UnsupportedDIETModel("intent_classification is off: there is no intent to compute")
        if component_config.get(ENTITY_RECOGNITION):
            raise UnsupportedDIETModel("entity_recognition (the CRF) is not implemented")

    @classmethod
    def from_model(cls, model: RasaModel, component_config: dict[str, Any]) -> NumpyDIET:
        """Extracts the weights of a trained or loaded `DIET` model.

        Raises:
            UnsupportedDIETModel: the configuration or the network has a part not implemented here.
        """
        cls.check_config(component_config)
        if model.config.get(ENTITY_RECOGNITION):
            raise UnsupportedDIETModel("entity_recognition (the CRF) is not implemented")

        _check_keys(
            "DIET",
            model._tf_layers,
            {f"sequence_layer.{TEXT}", f"embed.{TEXT}", f"embed.{LABEL}", f"loss.{LABEL}"}
            | {f"feature_combining_layer.{name}" for name in (TEXT, LABEL)}
            | {f"ffnn.{name}" for name in (TEXT, LABEL)}
            # masked language modelling only acts in training
            | {f"embed.{TEXT}_lm_mask", f"embed.{TEXT}_golden_token", f"loss.{TEXT}_mask"},
        )
        sequence_layer = model._tf_layers[f"sequence_layer.{TEXT}"]
        seq_layers = sequence_layer._tf_layers
        _check_keys(
            "RasaSequenceLayer",
            seq_layers,
            {
                sequence_layer.FEATURE_COMBINING,
                sequence_layer.FFNN,
                sequence_layer.TRANSFORMER,
                sequence_layer.MLM_INPUT_MASK,
                sequence_layer.SPARSE_TO_DENSE_FOR_TOKEN_IDS,
            },
        )
        combining = seq_layers[sequence_layer.FEATURE_COMBINING]
        _check_keys(
            "RasaFeatureCombiningLayer",
            combining._tf_layers,
            {f"sparse_dense.{t}" for t in (SEQUENCE, SENTENCE)}
            | {f"unify_dims_before_seq_sent_concat.{t}" for t in (SEQUENCE, SENTENCE)},
        )
        signature = model.predict_data_signature[TEXT]
        if not combining._feature_types_present[SEQUENCE]:
            raise UnsupportedDIETModel("a text sequence layer without sequence features")
        sentence_combiner = None
        if combining._feature_types_present[SENTENCE]:
            sentence_combiner = cls._combiner(combining, SENTENCE, signature[SENTENCE])

        transformer = seq_layers[sequence_layer.TRANSFORMER]
        if sequence_layer._has_transformer:
            if not isinstance(transformer, TransformerEncoder):
                raise UnsupportedDIETModel(f"unexpected transformer {type(transformer)}")
            encoder: Encoder | None = Encoder.from_keras(transformer)
        else:
            encoder = None

        loss = model._tf_layers[f"loss.{LABEL}"]
        if loss.similarity_type not in (INNER, COSINE):
            raise UnsupportedDIETModel(f"similarity type {loss.similarity_type}")

        return cls(
            sequence_combiner=cls._combiner(combining, SEQUENCE, signature[SEQUENCE]),
            sentence_combiner=sentence_combiner,
            hidden_layers=tuple(_ffnn(seq_layers[sequence_layer.FFNN])),
            encoder=encoder,
            embed_text=Dense.from_keras(model._tf_layers[f"embed.{TEXT}"]._dense),
            label_embeddings=cls._label_embeddings(model),
            similarity_type=loss.similarity_type,
            # any other confidence type ("auto", margin loss) returns the similarities as they are
            softmax_confidence=loss.model_confidence == SOFTMAX,
        )

    @staticmethod
    def _combiner(
        combining: rasa_layers.RasaFeatureCombiningLayer, feature_type: str, signature: Sequence[Any]
    ) -> FeatureTypeCombiner:
        concat = combining._tf_layers[f"sparse_dense.{feature_type}"]
        _check_keys(
            "ConcatenateSparseDenseFeatures",
            concat._tf_layers,
            {concat.SPARSE_DROPOUT, concat.SPARSE_TO_DENSE, concat.DENSE_DROPOUT},
        )
        sparse_to_dense = concat._tf_layers.get(concat.SPARSE_TO_DENSE)
        if sparse_to_dense is not None and not isinstance(sparse_to_dense, DenseForSparse):
            raise UnsupportedDIETModel(f"unexpected sparse-to-dense layer {type(sparse_to_dense)}")
        unify = combining._tf_layers.get(f"unify_dims_before_seq_sent_concat.{feature_type}")
        return FeatureTypeCombiner(
            signature=tuple((bool(s.is_sparse), int(s.units)) for s in signature),
            sparse_to_dense=Dense.from_keras(sparse_to_dense) if sparse_to_dense is not None else None,
            unify_dims=tuple(_ffnn(unify)) if unify is not None else (),
        )

    @staticmethod
    def _label_embeddings(model: RasaModel) -> Array:
        """The embeddings of all intents, computed by TF once, as `RasaModel._rasa_predict` does."""
        if not model.prepared_for_prediction or model.all_labels_embed is None:
            model._training = False
            model.prepare_for_predict()
            model.prepared_for_prediction = True
        return np.ascontiguousarray(model.all_labels_embed.numpy(), dtype=np.float32)

    def encode(self, sequence: Sequence[Any], sentence: Sequence[Any]) -> tuple[Array, Array | None]:
        """Features of one message -> transformer output (length, units), attention weights."""
        x = self.sequence_combiner(sequence)
        if self.sentence_combiner is not None:
            # The sentence-level features take the position right after the last token.
            x = np.concatenate([x, self.sentence_combiner(sentence)], axis=-2)
        for layer in self.hidden_layers:
            x = layer(x)
        if self.encoder is None:
            return x, None
        x, attention = self.encoder(x)
        return gelu(x), attention

    def intent_confidences(self, transformed: Array) -> Array:
        """Last position (the sentence features, if any) -> confidences over all intents."""
        text_embed = self.embed_text(transformed[..., -1:, :])  # ([members,] 1, embedding)
        labels = self.label_embeddings
        if self.similarity_type == COSINE:
            text_embed, labels = l2_normalize(text_embed), l2_normalize(labels)
        similarities = (labels @ text_embed.swapaxes(-1, -2))[..., 0]
        return softmax(similarities) if self.softmax_confidence else similarities

    def save(self, path: Path) -> None:
        """Writes the weights and the layout to one `.npz` file (`NumpyDIET.load` reads it back)."""
        arrays: dict[str, Array] = {}
        structure = {"format": WEIGHTS_FORMAT, "model": _encode(self, arrays, "w")}
        with path.open("wb") as file:  # np.savez would append ".npz" to a name without it
            np.savez(file, **{STRUCTURE_KEY: np.array(json.dumps(structure))}, **arrays)

    @classmethod
    def load(cls, path: Path) -> NumpyDIET:
        """Reads what `save` wrote, without TensorFlow and without unpickling anything.

        Raises:
            UnsupportedDIETModel: the file is of another format version or not a saved NumpyDIET.
        """
        with np.load(path, allow_pickle=False) as stored:
            structure = json.loads(str(stored[STRUCTURE_KEY]))
            if structure.get("format") != WEIGHTS_FORMAT:
                raise UnsupportedDIETModel(f"{path.name}: weights format {structure.get('format')!r}")
            arrays = {name: stored[name] for name in stored.files if name != STRUCTURE_KEY}
        model = _decode(structure["model"], arrays)
        if not isinstance(model, cls):
            raise UnsupportedDIETModel(f"{path.name}: holds a {type(model).__name__}, not a NumpyDIET")
        return model

    def run_inference(self, model_data: RasaModelData) -> dict[str, Any]:
        """Stands in for `DIET.run_inference` on the model data of one message."""
        text = model_data.data[TEXT]
        sequence: list[FeatureArray] = text.get(SEQUENCE, [])
        sentence: list[FeatureArray] = text.get(SENTENCE, [])
        number_of_examples = len(sequence[0]) if sequence else 0
        if number_of_examples != 1:
            raise ValueError(f"expected the model data of one message, got {number_of_examples}")
        sequence_features = [f[0] for f in sequence]
        if SEQUENCE_LENGTH in text and int(text[SEQUENCE_LENGTH][0][0]) != sequence_features[0].shape[0]:
            raise ValueError("sequence length does not match the sequence features")
        return self.run_features(sequence_features, [f[0] for f in sentence])

    def run_features(self, sequence: Sequence[Any], sentence: Sequence[Any]) -> dict[str, Any]:
        """`run_inference` on one message's features: per feature type, the combined sparse and
        then the combined dense matrix, as the model data holds them (components/fast_diet.py's
        `prediction_features` collects them from a message)."""
        if not sequence:
            raise ValueError("a message without sequence features")
        # The matrices of one message are tiny: a second OpenBLAS thread costs more CPU than it saves,
        # and on a busy machine it waits for a core (measured: 0.6 ms per message on one thread
        # against 1.0 ms on two with both cores loaded). Limited for this call only.
        with _blas().limit(limits=1):
            transformed, attention = self.encode(sequence, sentence)
            confidences = self.intent_confidences(transformed)
        return {
            DIAGNOSTIC_DATA: {
                # shapes as the TF model returns them: (batch, layers, heads, L, L), (batch, L, units)
                "attention_weights": attention[np.newaxis] if attention is not None else None,
                "text_transformed": transformed[np.newaxis],
            },
            "i_scores": confidences[np.newaxis],
        }


# ------------------------------------------------- several DIETs of the same shape in one pass


class NumpyDIETStack:
    """The forward passes of several DIETs of the same shape on the same message, done as one.

    Why: an ensemble (components/intent_decider.py) runs three DIETs that differ only in their
    weights on the same message. Each pass is some thirty NumPy calls on matrices of about 8 x 128,
    so most of its time is the cost of a call, paid once per DIET. Here every weight is stacked over
    the members along a new first axis (vectors as (members, 1, n), so that they broadcast over the
    rows), and the NumpyDIET classes above, which take an optional leading members axis, run all
    members with each call: the same arithmetic per member in the same order, so that every
    member's result is bit-identical to its own `run_features` (tests/test_fast_diet.py). The
    members are rebuilt with their arrays as views into the stacked ones, so no weight is held twice.
    """

    def __init__(self, members: Sequence[NumpyDIET]) -> None:
        """Raises UnsupportedDIETModel unless there are several members, all of the same layout."""
        if len(members) < 2:
            raise UnsupportedDIETModel("a stack needs at least two DIETs")
        structures, member_arrays = [], []
        for member in members:
            arrays: dict[str, Array] = {}
            structures.append(_encode(member, arrays, "w"))
            member_arrays.append(arrays)
        shapes = [{key: array.shape for key, array in arrays.items()} for arrays in member_arrays]
        if any(structure != structures[0] for structure in structures) or any(s != shapes[0] for s in shapes):
            raise UnsupportedDIETModel("the DIETs differ in layout or sizes")
        stacked = {key: np.stack([arrays[key] for arrays in member_arrays]) for key in member_arrays[0]}
        self.members: tuple[NumpyDIET, ...] = tuple(
            _decode(structures[0], {key: array[i] for key, array in stacked.items()})
            for i in range(len(members))
        )
        self._stacked: NumpyDIET = _decode(
            structures[0],
            {key: array[:, np.newaxis] if array.ndim == 2 else array for key, array in stacked.items()},
        )

    def __len__(self) -> int:
        return len(self.members)

    def run_features(self, sequence: Sequence[Any], sentence: Sequence[Any]) -> list[dict[str, Any]]:
        """`NumpyDIET.run_features` of every member, in the members' order."""
        stacked = self._stacked.run_features(sequence, sentence)
        attention = stacked[DIAGNOSTIC_DATA]["attention_weights"]
        return [
            {
                DIAGNOSTIC_DATA: {
                    "attention_weights": attention[:, i] if attention is not None else None,
                    "text_transformed": stacked[DIAGNOSTIC_DATA]["text_transformed"][:, i],
                },
                "i_scores": stacked["i_scores"][:, i],
            }
            for i in range(len(self.members))
        ]


# ------------------------------------------------- saving the weights beside Rasa's own files

# Bumped whenever the layout of the classes below changes: an older file is then not read (the
# component loads the TensorFlow model instead, as for a model trained before the file existed).
WEIGHTS_FORMAT = 1
STRUCTURE_KEY = "__structure__"
_SAVED_CLASSES: dict[str, type] = {
    c.__name__: c for c in (Dense, LayerNorm, FeatureTypeCombiner, EncoderLayer, Encoder, NumpyDIET)
}


def _encode(value: Any, arrays: dict[str, Array], key: str) -> Any:
    """`value` as JSON, its arrays moved into `arrays` under keys derived from `key`."""
    if dataclasses.is_dataclass(value) and type(value).__name__ in _SAVED_CLASSES:
        return {
            "class": type(value).__name__,
            "fields": {
                f.name: _encode(getattr(value, f.name), arrays, f"{key}.{f.name}")
                for f in dataclasses.fields(value)
            },
        }
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"array": key}
    if isinstance(value, tuple):
        return {"tuple": [_encode(item, arrays, f"{key}.{i}") for i, item in enumerate(value)]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{key}: cannot save a {type(value).__name__}")


def _decode(node: Any, arrays: dict[str, Array]) -> Any:
    if isinstance(node, dict) and "class" in node:
        if node["class"] not in _SAVED_CLASSES:
            raise UnsupportedDIETModel(f"unknown layer {node['class']!r} in the saved weights")
        fields = {name: _decode(value, arrays) for name, value in node["fields"].items()}
        return _SAVED_CLASSES[node["class"]](**fields)
    if isinstance(node, dict) and "array" in node:
        return np.ascontiguousarray(arrays[node["array"]])
    if isinstance(node, dict) and "tuple" in node:
        return tuple(_decode(item, arrays) for item in node["tuple"])
    return node
