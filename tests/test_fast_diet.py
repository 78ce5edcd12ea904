"""FastDIETClassifier (components/fast_diet.py) predicts what DIETClassifier predicts, for less CPU.

The core check runs on the trained project model (models/assistant.tar.gz, read from a copy): its
DIETClassifier and a FastDIETClassifier sharing the same TF model process the same featurized
messages (held-out set and a sample of the training data), and the intent, ranking and
confidences must agree to within 1e-5. Small models trained here for a few epochs cover the
training/loading path and the configurations the NumPy path implements beyond config.yml's, or
refuses (entity recognition, relative attention: served by TensorFlow, with a warning).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import random
import shutil
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse
import yaml
from rasa.core.channels.channel import UserMessage
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.shared.constants import DIAGNOSTIC_DATA
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils.tensorflow.constants import LABEL

from components.fast_diet import FastDIETClassifier, prediction_features
from components.intent_decider import IntentDecider
from overrides.numpy_diet import (
    STRUCTURE_KEY,
    WEIGHTS_FORMAT,
    NumpyDIET,
    NumpyDIETStack,
    UnsupportedDIETModel,
    _decode,
    _encode,
)
from overrides.rasa_components import sharing_model

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "assistant.tar.gz"
TOLERANCE = 1e-5
FAST_NAME = "components.fast_diet.FastDIETClassifier"
DECIDER_NAME = "components.intent_decider.IntentDecider"
# The DIET settings of the intent decider in config.yml, with its first seed.
DIET_OPTIONS = next(
    {**step["diet"], "random_seed": step["diet_seeds"][0]}
    for step in yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))["pipeline"]
    if step["name"] == DECIDER_NAME
)

Featurize = Callable[[list[str]], list[Message]]


def holdout_texts() -> list[str]:
    return [m.get(TEXT) for m in load_data(str(ROOT / "tests" / "nlu_holdout.yml")).intent_examples]


def training_examples() -> list[Message]:
    return load_data(str(ROOT / "data" / "nlu")).intent_examples


@pytest.fixture(scope="session")
def project(model, tmp_path_factory) -> Iterator[tuple[Any, DIETClassifier, Featurize]]:
    """The trained project model: its graph runner, its DIETClassifier and its featurizers."""
    from scripts.evaluate import load_agent

    model_copy = tmp_path_factory.mktemp("fast_diet") / "assistant.tar.gz"
    shutil.copy(model, model_copy)  # `make train` may rewrite the original meanwhile
    # The TensorFlow model is the reference here: keep it (a server lets it go after loading).
    FastDIETClassifier.KEEP_TENSORFLOW_MODEL = True
    try:
        runner = load_agent(model_copy).processor.graph_runner
    finally:
        FastDIETClassifier.KEEP_TENSORFLOW_MODEL = False
    schema = runner._graph_schema
    # The first DIET of the intent decider (components/intent_decider.py).
    [decider_node] = [n for n, s in schema.nodes.items() if s.uses is IntentDecider and s.fn == "process"]
    featurizer_node = schema.nodes[decider_node].needs["messages"]
    # The TensorFlow reference: a plain DIETClassifier on the loaded model.
    diet = as_plain_diet(runner._instantiated_nodes[decider_node]._component.diets[0])

    def featurize(texts: list[str]) -> list[Message]:
        """Everything the pipeline does to a message before the classifier."""
        inputs = {"__message__": [UserMessage(t) for t in texts]}
        return runner.run(inputs=inputs, targets=[featurizer_node])[featurizer_node]

    yield runner, diet, featurize


def as_plain_diet(component: DIETClassifier) -> DIETClassifier:
    """A DIETClassifier (TensorFlow predictions) sharing the component's loaded model."""
    return sharing_model(DIETClassifier, component)


@pytest.fixture(scope="session")
def project_fast(project) -> FastDIETClassifier:
    return FastDIETClassifier.from_diet_classifier(project[1])


def compare(
    tf_component: DIETClassifier, fast: FastDIETClassifier, messages: list[Message]
) -> tuple[float, int]:
    """Runs both `process` methods on every message; returns the largest confidence difference."""
    assert fast.uses_numpy_path
    largest = 0.0
    for message in messages:
        tf_out = tf_component._predict(message)
        np_out = fast._predict(message)
        assert tf_out is not None and np_out is not None, message.get(TEXT)
        tf_scores, np_scores = tf_out["i_scores"], np_out["i_scores"]
        assert np_scores.shape == tf_scores.shape
        largest = max(largest, float(np.abs(tf_scores - np_scores).max()))
        transformed = np_out[DIAGNOSTIC_DATA]["text_transformed"]
        assert transformed.shape == tf_out[DIAGNOSTIC_DATA]["text_transformed"].shape
        np.testing.assert_allclose(transformed, tf_out[DIAGNOSTIC_DATA]["text_transformed"], atol=1e-4)

        # What each writes to the message, through Rasa's own ranking code.
        tf_component.process([message])
        tf_intent, tf_ranking = message.get(INTENT), message.get(INTENT_RANKING_KEY)
        fast.process([message])
        np_intent, np_ranking = message.get(INTENT), message.get(INTENT_RANKING_KEY)
        assert np_intent["name"] == tf_intent["name"], message.get(TEXT)
        assert abs(np_intent["confidence"] - tf_intent["confidence"]) <= TOLERANCE
        assert [r["name"] for r in np_ranking] == [r["name"] for r in tf_ranking], message.get(TEXT)
        for np_rank, tf_rank in zip(np_ranking, tf_ranking, strict=True):
            assert abs(np_rank["confidence"] - tf_rank["confidence"]) <= TOLERANCE
            assert isinstance(np_rank["confidence"], float)
    assert largest <= TOLERANCE
    return largest, len(messages)


# ------------------------------------------------------ registration, the project model


def test_registered_as_diet_is() -> None:
    registered = DefaultV1Recipe._registered_components
    fast, diet = registered[FastDIETClassifier.__name__], registered[DIETClassifier.__name__]
    assert fast.clazz is FastDIETClassifier
    assert fast.types == diet.types
    assert fast.is_trainable and fast.model_from is None


def test_config_swap_gives_the_same_graph() -> None:
    """In config.yml's pipeline (a DIET in place of the decider), swapping DIETClassifier's name
    for FastDIETClassifier's changes nothing in the train and predict graphs but the class."""
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    swapped = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    for plain, fast_step in zip(config["pipeline"], swapped["pipeline"], strict=True):
        if plain["name"] == DECIDER_NAME:
            plain.clear()
            plain.update({"name": "DIETClassifier", **DIET_OPTIONS})
            fast_step.clear()
            fast_step.update({"name": FAST_NAME, **DIET_OPTIONS})

    def schemas(cfg: dict[str, Any]) -> list[dict[str, Any]]:
        graphs = DefaultV1Recipe().graph_config_for_recipe(cfg, {})
        return [graphs.train_schema.as_dict(), graphs.predict_schema.as_dict()]

    def renamed(value: Any) -> Any:
        """The graph with FastDIETClassifier's class path and node names made DIETClassifier's."""
        if isinstance(value, dict):  # (output fingerprints are random per recipe run)
            return {renamed(k): renamed(v) for k, v in value.items() if k != "output_fingerprint"}
        if isinstance(value, list):
            return [renamed(v) for v in value]
        if value == "components.fast_diet.FastDIETClassifier":
            return "rasa.nlu.classifiers.diet_classifier.DIETClassifier"
        if isinstance(value, str):
            return value.replace("components.fast_diet.FastDIETClassifier", "DIETClassifier")
        return value

    original, fast = schemas(config), schemas(swapped)
    assert fast != original
    assert renamed(fast) == renamed(original)


@pytest.mark.model
def test_numpy_matches_tensorflow_on_the_project_model(project, project_fast) -> None:
    _, diet, featurize = project
    sample = random.Random(0).sample([m.get(TEXT) for m in training_examples()], 200)
    texts = holdout_texts() + sample
    largest, count = compare(diet, project_fast, featurize(texts))
    print(f"\nproject model: {count} texts, largest |confidence difference| {largest:.2e}")
    assert count == len(texts) >= 450


@pytest.mark.model
def test_a_loaded_model_lets_tensorflow_go_and_predicts_the_same(project, tmp_path) -> None:
    """As a server loads it: no TF model kept, and the same intents and confidences as TF gives."""
    from scripts.evaluate import load_agent

    shutil.copy(MODEL, tmp_path / "assistant.tar.gz")
    runner = load_agent(tmp_path / "assistant.tar.gz").processor.graph_runner
    [decider] = [
        n._component for n in runner._instantiated_nodes.values() if type(n._component) is IntentDecider
    ]
    served = decider.diets[0]
    assert served.model is None and served.uses_numpy_path
    _, diet, featurize = project
    texts = holdout_texts()[:60]
    for theirs, ours in zip(featurize(texts), featurize(texts), strict=True):
        diet.process([theirs])
        served.process([ours])
        assert ours.get(INTENT)["name"] == theirs.get(INTENT)["name"], ours.get(TEXT)
        assert abs(ours.get(INTENT)["confidence"] - theirs.get(INTENT)["confidence"]) <= TOLERANCE


@pytest.mark.model
def test_process_does_not_call_tensorflow(project, project_fast, monkeypatch) -> None:
    featurize = project[2]

    def no_tf(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("TensorFlow called")

    messages = featurize(["hi there", "does valium help with withdrawal", "goodbye"])
    monkeypatch.setattr(project_fast.model, "run_inference", no_tf)
    monkeypatch.setattr(project_fast.model, "_rasa_predict", no_tf)
    project_fast.process(messages)  # a batch, as Rasa passes it
    assert messages[0].get(INTENT)["name"] == "greet"
    assert all(len(m.get(INTENT_RANKING_KEY)) == 10 for m in messages)


@pytest.mark.model
def test_empty_text_predicts_nothing_as_diet_does(project, project_fast) -> None:
    _, diet, featurize = project
    for component in (diet, project_fast):
        [message] = featurize([""])
        component.process([message])
        assert message.get(INTENT) == {"name": None, "confidence": 0.0}
        assert message.get(INTENT_RANKING_KEY) == []


# ------------------------------------------------- small models trained here (a few epochs)


def labelled(featurize: Featurize, examples: list[Message]) -> list[Message]:
    """Training examples featurized by the project pipeline, with their intents and entities."""
    messages = featurize([e.get(TEXT) for e in examples])
    for message, example in zip(messages, examples, strict=True):
        message.set(INTENT, example.get(INTENT))
        message.set(ENTITIES, example.get(ENTITIES, []))
    return messages


@pytest.fixture(scope="session")
def training_messages(project) -> list[Message]:
    return labelled(project[2], training_examples()[::3])


def with_dense_features(messages: list[Message], sequence_units: int, sentence_units: int) -> None:
    """Adds made-up dense features (deterministic per text), as a dense featurizer would."""
    for message in messages:
        rng = np.random.default_rng(zlib.crc32(message.get(TEXT).encode()))
        tokens = message.get_sparse_features(TEXT)[0].features.shape[0]
        for feature_type, rows, units in (
            ("sequence", tokens, sequence_units),
            ("sentence", 1, sentence_units),
        ):
            dense = rng.standard_normal((rows, units)).astype(np.float32)
            message.add_features(Features(dense, feature_type, TEXT, "made_up_dense"))


def train(tmp_path: Path, messages: list[Message], **options: Any) -> tuple[FastDIETClassifier, Callable]:
    """Trains a FastDIETClassifier as the graph would; returns it and a loader of its resource."""
    config = {**FastDIETClassifier.get_default_config(), **DIET_OPTIONS, "epochs": 3, **options}
    storage = LocalModelStorage(tmp_path)
    resource = Resource("fast_diet")
    context = ExecutionContext(GraphSchema({}), "test")
    # Separate copies, as the train and predict graphs have: DIET edits its config while training.
    component = FastDIETClassifier.create(copy.deepcopy(config), storage, resource, context)
    component.train(TrainingData(training_examples=messages))

    def load(keep_tensorflow: bool = True) -> FastDIETClassifier:
        """Loaded from the resource; keeping the TF model (the reference) unless told otherwise."""
        FastDIETClassifier.KEEP_TENSORFLOW_MODEL = keep_tensorflow
        try:
            return FastDIETClassifier.load(copy.deepcopy(config), storage, resource, context)
        finally:
            FastDIETClassifier.KEEP_TENSORFLOW_MODEL = False

    return component, load


@pytest.mark.model
def test_trained_and_loaded_fast_diet_matches_tensorflow(tmp_path, training_messages, project) -> None:
    """config.yml's options: the component right after training, then loaded from its resource."""
    trained, load = train(tmp_path, training_messages)
    messages = project[2](holdout_texts()[::3])
    compare(as_plain_diet(trained), trained, messages)  # weights extracted lazily, after training

    loaded = load()
    assert loaded._numpy_diet is not None  # extracted once, at load
    largest, count = compare(as_plain_diet(loaded), loaded, messages)
    print(f"\nmodel trained here, loaded: {count} texts, largest difference {largest:.2e}")

    # As a server loads it: the weights saved at training, no TensorFlow model built at all.
    assert weights_file(tmp_path).exists()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FastDIETClassifier, "_load_model", refuse("the TensorFlow model was built"))
        served = load(keep_tensorflow=False)
    assert served.model is None and served.uses_numpy_path
    assert_same_weights(served._numpy_diet, loaded._numpy_diet)
    assert served.index_label_id_mapping == loaded.index_label_id_mapping
    assert served._sparse_feature_sizes == loaded._sparse_feature_sizes
    assert served.component_config == loaded.component_config
    compare(as_plain_diet(loaded), served, messages)


def weights_file(storage: Path) -> Path:
    """Where `train` below stores the NumPy weights (its resource is named "fast_diet")."""
    return FastDIETClassifier.weights_file(storage / "fast_diet")


def refuse(what: str) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(what)

    return refused


def assert_same_weights(ours: Any, theirs: Any, where: str = "NumpyDIET") -> None:
    """Two NumpyDIETs hold the same layout and bit-identical arrays."""
    assert type(ours) is type(theirs), where
    if dataclasses.is_dataclass(ours):
        for field in dataclasses.fields(ours):
            name = f"{where}.{field.name}"
            assert_same_weights(getattr(ours, field.name), getattr(theirs, field.name), name)
    elif isinstance(ours, np.ndarray):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, where
        assert np.array_equal(ours, theirs), where
    elif isinstance(ours, tuple):
        assert len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same_weights(a, b, f"{where}[{i}]")
    else:
        assert ours == theirs, where


@pytest.mark.model
def test_a_model_without_saved_weights_loads_through_tensorflow(tmp_path, training_messages, project) -> None:
    """A model trained before the weights were saved (no file): TF model built, weights extracted,
    TF let go; the same predictions."""
    trained, load = train(tmp_path, training_messages[::2], epochs=1)
    weights_file(tmp_path).unlink()
    served = load(keep_tensorflow=False)
    assert served.model is None and served.uses_numpy_path  # extracted from TF, then let go
    compare(as_plain_diet(trained), served, project[2](holdout_texts()[::5]))


@pytest.mark.model
@pytest.mark.parametrize("damage", ["not a zip", "another format", "unknown layer", "truncated"])
def test_unreadable_saved_weights_fall_back_to_tensorflow(
    tmp_path, training_messages, project, caplog, damage
) -> None:
    trained, load = train(tmp_path, training_messages[::2], epochs=1)
    path = weights_file(tmp_path)
    if damage == "not a zip":
        path.write_bytes(b"not weights")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:2000])
    else:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        structure = json.loads(str(arrays.pop(STRUCTURE_KEY)))
        if damage == "another format":
            structure["format"] = WEIGHTS_FORMAT + 1
        else:
            structure["model"]["class"] = "os.system"
        with path.open("wb") as file:
            np.savez(file, **{STRUCTURE_KEY: np.array(json.dumps(structure))}, **arrays)
    with caplog.at_level(logging.WARNING, logger="components.fast_diet"):
        served = load(keep_tensorflow=False)
    assert any("TensorFlow model instead" in r.getMessage() for r in caplog.records)
    assert served.model is None and served.uses_numpy_path  # extracted from TF, then let go
    compare(as_plain_diet(trained), served, project[2](holdout_texts()[::7]))


@pytest.mark.model
def test_switched_off_loads_the_tensorflow_model(tmp_path, training_messages, monkeypatch) -> None:
    _, load = train(tmp_path, training_messages[::2], epochs=1)
    assert weights_file(tmp_path).exists()
    monkeypatch.setenv("RASA_OVERRIDES_DISABLE", "numpy_diet")
    served = load(keep_tensorflow=False)
    assert served.model is not None and not served.uses_numpy_path


@pytest.mark.model
def test_other_supported_configurations_match_tensorflow(tmp_path, project) -> None:
    """Two layers, two heads, unidirectional, a text hidden layer, dense features of different
    sizes (so the unify-dims layers exist), margin loss (cosine similarity, raw confidences)."""
    messages = labelled(project[2], training_examples()[::6])
    with_dense_features(messages, sequence_units=8, sentence_units=5)
    fast, load = train(
        tmp_path,
        messages,
        epochs=2,
        number_of_transformer_layers=2,
        number_of_attention_heads=2,
        unidirectional_encoder=True,
        hidden_layers_sizes={"text": [64], "label": []},
        loss_type="margin",
        constrain_similarities=False,
    )
    layers = fast.model._tf_layers["sequence_layer.text"]._tf_layers["feature_combining"]._tf_layers
    assert "unify_dims_before_seq_sent_concat.sentence" in layers
    assert fast._prepared_for is None  # after training, the weights are extracted at first use
    assert fast.uses_numpy_path
    numpy_diet = fast._numpy_diet
    assert numpy_diet is not None and numpy_diet.encoder is not None
    assert numpy_diet.encoder.unidirectional and len(numpy_diet.encoder.layers) == 2
    assert numpy_diet.similarity_type == "cosine" and not numpy_diet.softmax_confidence
    test_messages = project[2](holdout_texts()[::6])
    with_dense_features(test_messages, sequence_units=8, sentence_units=5)
    compare(as_plain_diet(fast), fast, test_messages)
    # What a server loads: the saved weights, bit for bit the ones read from the TF model.
    served = load(keep_tensorflow=False)
    assert served.model is None
    assert_same_weights(served._numpy_diet, numpy_diet)
    compare(as_plain_diet(fast), served, test_messages)
    assert_stack_matches_each_alone(numpy_diet, test_messages)


@pytest.mark.model
def test_no_transformer_matches_tensorflow(tmp_path, project) -> None:
    """number_of_transformer_layers 0: features -> hidden layer -> embedding, no GELU after."""
    messages = labelled(project[2], training_examples()[::6])
    fast, _ = train(
        tmp_path,
        messages,
        epochs=2,
        number_of_transformer_layers=0,
        hidden_layers_sizes={"text": [32], "label": []},
    )
    assert fast.uses_numpy_path
    assert fast._numpy_diet is not None and fast._numpy_diet.encoder is None
    test_messages = project[2](holdout_texts()[::6])
    compare(as_plain_diet(fast), fast, test_messages)
    assert_stack_matches_each_alone(fast._numpy_diet, test_messages)


@pytest.mark.model
@pytest.mark.parametrize(
    ("options", "reason"),
    [
        # (Trained without entity annotations: a CRF takes a minute to train here, and the
        # refusal is decided on the configuration.)
        ({"entity_recognition": True}, "entity_recognition"),
        ({"use_key_relative_attention": True}, "relative attention"),
    ],
)
def test_unsupported_configuration_falls_back_to_tensorflow(
    tmp_path, training_messages, project, caplog, options, reason
) -> None:
    messages = training_messages[::2]
    for message in messages:
        message.set(ENTITIES, [])
    _, load = train(tmp_path, messages, epochs=1, **options)
    if "relative" in reason:  # refused at training: no weights saved
        assert not weights_file(tmp_path).exists()
    with caplog.at_level(logging.WARNING, logger="components.fast_diet"):
        loaded = load(keep_tensorflow=False)
    assert not loaded.uses_numpy_path
    assert any(reason in r.getMessage() and "TensorFlow" in r.getMessage() for r in caplog.records)

    def outputs(component: DIETClassifier, text: str) -> tuple[Any, ...]:
        [message] = project[2]([text])
        component.process([message])
        entities = [{**e, "extractor": "-"} for e in message.get(ENTITIES, [])]
        return message.get(INTENT), message.get(INTENT_RANKING_KEY), entities

    for text in ("is valium a benzo", "hello"):
        assert outputs(loaded, text) == outputs(as_plain_diet(loaded), text)


@pytest.mark.model
@pytest.mark.parametrize("breakage", ["layer attribute missing", "layer missing"])
def test_any_structural_mismatch_falls_back_to_tensorflow(project, caplog, monkeypatch, breakage) -> None:
    """A TF model laid out otherwise than Rasa 3.6.21 lays it out (what another Rasa version could do)
    is served by TensorFlow with a warning, whatever error reading it raises."""
    diet = project[1]
    layers = diet.model._tf_layers
    if breakage == "layer attribute missing":
        monkeypatch.delattr(layers[f"embed.{TEXT}"], "_dense")
    else:
        monkeypatch.delitem(layers, f"loss.{LABEL}")
    fast = sharing_model(FastDIETClassifier, diet)
    with caplog.at_level(logging.WARNING, logger="components.fast_diet"):
        assert not fast.uses_numpy_path
    assert any("TensorFlow" in r.getMessage() for r in caplog.records)
    monkeypatch.undo()  # the shared model as it was, for the TensorFlow reference
    [message] = project[2](["is valium a benzo"])
    [reference] = project[2](["is valium a benzo"])
    fast.process([message])
    as_plain_diet(diet).process([reference])
    assert message.get(INTENT) == reference.get(INTENT)
    assert message.get(INTENT_RANKING_KEY) == reference.get(INTENT_RANKING_KEY)


@pytest.mark.model
def test_switched_off_by_name_predicts_with_tensorflow(project, monkeypatch) -> None:
    monkeypatch.setenv("RASA_OVERRIDES_DISABLE", "numpy_diet")
    fast = sharing_model(FastDIETClassifier, project[1])
    assert not fast.uses_numpy_path


@pytest.mark.model
def test_a_messages_features_are_collected_once_for_all_the_diets_reading_it(
    project, project_fast, monkeypatch
) -> None:
    """The DIETs of an ensemble read one message one after another: its features are collected
    once, and the prediction is the same as when collected afresh."""
    import components.fast_diet as fast_diet

    featurize = project[2]
    collected: list[int] = []
    collect = fast_diet.prediction_features

    def counting(*args: Any, **kwargs: Any) -> Any:
        collected.append(1)
        return collect(*args, **kwargs)

    monkeypatch.setattr(fast_diet, "prediction_features", counting)
    [message] = featurize(["is valium any good for kicking"])
    first = project_fast._predict(message)
    again = project_fast._predict(message)
    assert len(collected) == 1
    FastDIETClassifier._last_features = None
    afresh = project_fast._predict(message)
    assert len(collected) == 2
    for out in (again, afresh):
        np.testing.assert_array_equal(out["i_scores"], first["i_scores"])
    # Another message object, even with the same text, collects its own.
    [other] = featurize(["is valium any good for kicking"])
    project_fast._predict(other)
    assert len(collected) == 3


def feature_arrays(model_data: Any) -> tuple[list[Any], list[Any]]:
    text = model_data.data[TEXT]
    return [f[0] for f in text.get("sequence", [])], [f[0] for f in text.get("sentence", [])]


def assert_same_matrices(ours: list[Any], rasas: list[Any]) -> None:
    assert len(ours) == len(rasas)
    for mine, theirs in zip(ours, rasas, strict=True):
        assert scipy.sparse.issparse(mine) == scipy.sparse.issparse(theirs)
        assert mine.shape == theirs.shape
        if scipy.sparse.issparse(mine):
            np.testing.assert_array_equal(mine.toarray(), theirs.toarray())
        else:  # Rasa's is a FeatureArray (an ndarray subclass that numpy's testing cannot compare)
            np.testing.assert_array_equal(mine, np.array(theirs.tolist(), dtype=theirs.dtype))


@pytest.mark.model
@pytest.mark.parametrize("dense", [False, True])
def test_prediction_features_are_rasas_model_data(project, project_fast, dense) -> None:
    """`prediction_features` collects, matrix for matrix, what `_create_model_data` builds at
    prediction (two sparse featurizers, with and without a dense one beside them), and DIET's
    confidences from either are identical."""
    messages = project[2](holdout_texts()[::4])
    if dense:
        with_dense_features(messages, sequence_units=8, sentence_units=5)
    for message in messages:
        ours = prediction_features(message)
        model_data = project_fast._create_model_data([message], training=False)
        assert ours is not None
        sequence, sentence = feature_arrays(model_data)
        assert_same_matrices(ours[0], sequence)
        assert_same_matrices(ours[1], sentence)
        assert len(ours[0]) == (2 if dense else 1)
        if not dense:  # the project model was trained on the sparse features only
            np.testing.assert_array_equal(
                project_fast._numpy_diet.run_features(*ours)["i_scores"],
                project_fast._numpy_diet.run_inference(model_data)["i_scores"],
            )


def test_prediction_features_filter_by_featurizer_and_refuse_mismatched_rows() -> None:
    message = Message({TEXT: "a b"})
    first = scipy.sparse.coo_matrix(np.array([[1, 0], [0, 2]]))
    second = scipy.sparse.coo_matrix(np.array([[0, 3, 0], [4, 0, 5]]))
    message.add_features(Features(first, "sequence", TEXT, "one"))
    message.add_features(Features(second, "sequence", TEXT, "two"))
    message.add_features(Features(scipy.sparse.coo_matrix(np.ones((1, 2))), "sentence", TEXT, "one"))
    sequence, sentence = prediction_features(message)
    np.testing.assert_array_equal(sequence[0].toarray(), [[1, 0, 0, 3, 0], [0, 2, 4, 0, 5]])
    assert sentence[0].shape == (1, 2)
    only_two = prediction_features(message, ("two",))
    assert only_two is not None
    np.testing.assert_array_equal(only_two[0][0].toarray(), second.toarray())
    assert only_two[1] == []
    assert prediction_features(Message({TEXT: "x"})) is None
    message.add_features(Features(scipy.sparse.coo_matrix(np.ones((3, 2))), "sequence", TEXT, "three"))
    with pytest.raises(ValueError, match="do not match"):
        prediction_features(message)


# ------------------------------------------------------ several DIETs in one pass (NumpyDIETStack)


def other_weights(numpy_diet: NumpyDIET, seed: int) -> NumpyDIET:
    """A DIET of the same layout with other weights (as another training seed gives)."""
    arrays: dict[str, Any] = {}
    structure = _encode(numpy_diet, arrays, "w")
    generator = np.random.default_rng(seed)
    changed = {
        key: (array * generator.uniform(0.5, 1.5, array.shape)).astype(array.dtype)
        for key, array in arrays.items()
    }
    return _decode(structure, changed)


def assert_stack_matches_each_alone(numpy_diet: NumpyDIET, messages: list[Message]) -> None:
    """Stacked with two DIETs of other weights, each member's result is bit for bit its own
    `run_features`, and the members' weights are views into the stack's (held once)."""
    alone = [numpy_diet, other_weights(numpy_diet, 1), other_weights(numpy_diet, 2)]
    stack = NumpyDIETStack(alone)
    assert len(stack) == 3
    for member, original in zip(stack.members, alone, strict=True):
        assert_same_weights(member, original)
        assert np.shares_memory(member.embed_text.kernel, stack._stacked.embed_text.kernel)
    for message in messages:
        features = prediction_features(message)
        assert features is not None
        for stacked, original in zip(stack.run_features(*features), alone, strict=True):
            own = original.run_features(*features)
            np.testing.assert_array_equal(stacked["i_scores"], own["i_scores"])
            for name in ("text_transformed", "attention_weights"):
                ours, theirs = stacked[DIAGNOSTIC_DATA][name], own[DIAGNOSTIC_DATA][name]
                if theirs is None:
                    assert ours is None
                else:
                    assert ours.shape == theirs.shape
                    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.model
def test_a_stack_of_the_project_diet_gives_each_member_its_own_result(project, project_fast) -> None:
    assert project_fast._numpy_diet is not None
    assert_stack_matches_each_alone(project_fast._numpy_diet, project[2](holdout_texts()[::4]))


@pytest.mark.model
def test_a_stack_refuses_diets_of_different_layouts(project_fast) -> None:
    numpy_diet = project_fast._numpy_diet
    assert numpy_diet is not None
    with pytest.raises(UnsupportedDIETModel):
        NumpyDIETStack([numpy_diet])
    narrower = dataclasses.replace(numpy_diet, label_embeddings=numpy_diet.label_embeddings[:-1])
    with pytest.raises(UnsupportedDIETModel):
        NumpyDIETStack([numpy_diet, narrower])
    cosine = dataclasses.replace(numpy_diet, similarity_type="cosine")
    with pytest.raises(UnsupportedDIETModel):
        NumpyDIETStack([numpy_diet, cosine])


def load_served_diets(model: Path, tmp_path: Path) -> list[FastDIETClassifier]:
    """The DIETs of the project model as a server loads them (no TF model), in pipeline order."""
    from scripts.evaluate import load_agent

    copy = tmp_path / "assistant.tar.gz"
    shutil.copy(model, copy)
    runner = load_agent(copy).processor.graph_runner
    [decider] = [
        runner._instantiated_nodes[name]._component
        for name, node in runner._graph_schema.nodes.items()
        if node.uses is IntentDecider and node.fn == "process"
    ]
    return decider.diets


@pytest.fixture
def served_diets(model, tmp_path) -> list[FastDIETClassifier]:
    diets = load_served_diets(model, tmp_path)
    assert len(diets) == 3
    return diets


def rankings(diets: list[FastDIETClassifier], messages: list[Message]) -> list[Any]:
    """Each DIET's `process` over all the messages in turn (as the graph runs them), then what the
    last one wrote."""
    for diet in diets:
        diet.process(messages)
    return [(m.get(INTENT), m.get(INTENT_RANKING_KEY)) for m in messages]


@pytest.mark.model
def test_the_ensembles_diets_compute_each_message_once_together(project, served_diets, monkeypatch) -> None:
    """The three DIETs of config.yml predict together: the first to see a message computes all
    three results in one stacked pass and the others take theirs; what is written to the messages
    is exactly what the DIETs write one by one. In a batch at most MAX_PENDING results wait."""
    import components.fast_diet as fast_diet

    passes: list[int] = []
    run_stack = NumpyDIETStack.run_features

    def counting(self: NumpyDIETStack, *args: Any) -> Any:
        passes.append(1)
        return run_stack(self, *args)

    monkeypatch.setattr(NumpyDIETStack, "run_features", counting)
    # The weights the stack copied are handed back to the system once it is built.
    trimmed: list[int] = []
    monkeypatch.setattr(fast_diet, "return_freed_memory", lambda: trimmed.append(1))
    texts = holdout_texts()[::10]

    # Grouped once (the decider asks before each batch: a no-op while they are current).
    assert FastDIETClassifier.predict_together(served_diets)
    assert FastDIETClassifier.predict_together(served_diets)
    # One message at a time, as a server parses: one pass per message, nothing left waiting.
    together = []
    for text in texts:
        together += rankings(served_diets, project[2]([text]))
    group = served_diets[0]._diet_group()
    assert group is not None and all(d._group is group for d in served_diets)
    assert len(trimmed) == 1
    assert len(passes) == len(texts) and not group.pending

    # A batch: still one pass per message, and every result taken.
    passes.clear()
    assert rankings(served_diets, project[2](texts)) == together
    assert len(passes) == len(texts) and not group.pending

    # Fewer places than messages: the oldest results are dropped and computed again.
    monkeypatch.setattr(fast_diet._DIETGroup, "MAX_PENDING", 3)
    passes.clear()
    assert rankings(served_diets, project[2](texts)) == together
    assert len(passes) > len(texts) and len(group.pending) <= 3

    # And all of it is what the three DIETs write predicting one by one.
    monkeypatch.setattr(fast_diet.FastDIETClassifier, "_diet_group", lambda self: None)
    alone = []
    for text in texts:
        alone += rankings(served_diets, project[2]([text]))
    assert alone == together


@pytest.mark.model
def test_diets_that_cannot_be_stacked_predict_one_by_one_without_trying_again(
    project, served_diets, monkeypatch
) -> None:
    """A DIET of another layout beside the others (here: cosine similarity): each predicts alone,
    exactly as without a group, and the stack is tried once, not for every message."""
    first = served_diets[0]
    assert first._numpy_diet is not None
    first._numpy_diet = dataclasses.replace(first._numpy_diet, similarity_type="cosine")
    tries: list[int] = []
    build = NumpyDIETStack.__init__

    def counting(self: NumpyDIETStack, *args: Any) -> None:
        tries.append(1)
        build(self, *args)

    monkeypatch.setattr(NumpyDIETStack, "__init__", counting)
    for text in holdout_texts()[::40]:
        [message] = project[2]([text])
        assert not FastDIETClassifier.predict_together(served_diets)
        for diet in served_diets:
            assert diet._diet_group() is None
            out = diet._predict(message)
            assert out is not None and diet._numpy_diet is not None
            alone = diet._numpy_diet.run_features(*prediction_features(message))
            np.testing.assert_array_equal(out["i_scores"], alone["i_scores"])
    assert len(tries) == 1  # tried once, not for every message
