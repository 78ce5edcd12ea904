"""IntentDecider (components/intent_decider.py): the one component that decides the intent.

The DIETs' own predictions are tested in tests/test_fast_diet.py and the linear model's in
tests/test_components.py; here: the one blend, the protected intents, the fallback, how the
classifiers are saved inside the decider's resource, and that config.yml and the trained model
hold what the decider promises.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.fast_diet import FastDIETClassifier
from components.intent_decider import IntentDecider, NestedModelStorage, decide
from components.rankings import blend, ranking_dict
from tests.test_components import featurized, trained_opinion, with_ranking

ROOT = Path(__file__).resolve().parent.parent
DECIDER = "components.intent_decider.IntentDecider"
PROTECTED = ["crisis", "ask_dosing"]
CONTEXT = ExecutionContext(GraphSchema({}), "test")


# ------------------------------------------------------------------ the one blend
def test_blend_is_the_weighted_mean_ranked():
    ranked = blend({"a": 0.7, "b": 0.3}, {"b": 0.6, "c": 0.4}, 0.5)
    assert [label for label, _ in ranked] == ["b", "a", "c"]
    assert [score for _, score in ranked] == pytest.approx([0.45, 0.35, 0.2])
    assert blend({"a": 1.0}, {"b": 1.0}, 0.75)[0] == ("a", 0.75)


def test_every_diet_weighs_the_same_and_the_linear_model_its_share():
    diets = [{"a": 0.9, "b": 0.1}, {"a": 0.3, "b": 0.7}, {"a": 0.6, "b": 0.4}]
    ranked = dict(decide("a", diets, None, 0.5, PROTECTED))
    assert ranked["a"] == pytest.approx((0.9 + 0.3 + 0.6) / 3)
    assert ranked["b"] == pytest.approx((0.1 + 0.7 + 0.4) / 3)
    ranked = dict(decide("a", diets, {"a": 0.0, "b": 1.0}, 0.5, PROTECTED))
    assert ranked["a"] == pytest.approx(0.5 * 0.6)
    assert ranked["b"] == pytest.approx(0.5 * 0.4 + 0.5)


def test_a_label_missing_from_one_ranking_counts_as_zero():
    ranked = decide("a", [{"a": 0.8, "b": 0.2}, {"c": 1.0}], None, 0.5, [])
    assert ranked == [("c", 0.5), ("a", 0.4), ("b", 0.1)]


def test_the_first_diets_protected_prediction_stands_and_a_blend_never_makes_one():
    assert (
        decide("crisis", [{"crisis": 0.5, "greet": 0.4}, {"greet": 0.99}], {"greet": 1.0}, 0.5, PROTECTED)
        is None
    )
    assert decide("ask_dosing", [{"ask_dosing": 0.9}], {"greet": 1.0}, 0.5, PROTECTED) is None
    made = decide(
        "greet",
        [{"greet": 0.6, "crisis": 0.4}, {"crisis": 0.9, "greet": 0.1}],
        {"crisis": 1.0},
        0.5,
        PROTECTED,
    )
    assert made is not None and made[0][0] == "greet" and made[-1][0] == "crisis"


def test_without_a_diets_reading_the_linear_model_decides_alone():
    assert decide("greet", [], {"greet": 0.2, "thank": 0.8}, 0.5, PROTECTED) == [
        ("thank", 0.8),
        ("greet", 0.2),
    ]
    assert decide(None, [], None, 0.5, PROTECTED) is None


# ------------------------------------------------------------------ the component, its classifiers stubbed
class StubDIET:
    """A DIET whose ranking of a text is whatever `rankings` says (DIET is tested elsewhere)."""

    uses_numpy_path = False  # so the decider does not try to stack it with the others
    _group = None

    def __init__(self, rankings: dict[str, list[tuple[str, float]]]) -> None:
        self.rankings = rankings

    def _diet_group(self) -> None:
        return None

    def _featurizers(self) -> tuple[str, ...]:
        return ()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            ranking = self.rankings.get(message.get(TEXT))
            if ranking is None:  # no features: DIET sets an empty prediction
                message.set(INTENT, {"name": None, "confidence": 0.0}, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
            else:
                with_ranking(message, ranking)
        return messages


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    """The toy linear model of tests/test_components.py (feature 0: greet, 1: ask_med_helps, 2: crisis)."""
    examples = [
        featurized(f"{intent} {i}", [float(k == j) + 0.1 * i for k in range(3)], intent)
        for j, intent in enumerate(["greet", "ask_med_helps", "crisis"])
        for i in range(4)
    ]
    return trained_opinion(tmp_path_factory.mktemp("linear"), examples)


def decider(diets: list[Any], linear: Any, **config: Any) -> IntentDecider:
    config = {
        **IntentDecider.get_default_config(),
        "fallback_threshold": 0.3,
        "fallback_ambiguity_threshold": 0.0,
        **config,
    }
    return IntentDecider(config, diets, linear, LocalModelStorage(Path("/nonexistent")), Resource("d"))


def test_a_disagreeing_linear_model_lowers_the_top_confidence(linear):
    diets = [
        StubDIET({"x": [("ask_med_helps", 0.8), ("greet", 0.2)]}),
        StubDIET({"x": [("ask_med_helps", 0.6), ("greet", 0.4)]}),
    ]
    [msg] = decider(diets, linear).process([featurized("x", [1.0, 0.0, 0.0])])
    ranking = msg.get(INTENT_RANKING_KEY)
    assert msg.get(INTENT) == ranking[0]
    assert ranking[0]["confidence"] < 0.7
    assert {r["name"] for r in ranking} == {"greet", "ask_med_helps", "crisis"}
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0)


def test_the_first_diets_crisis_stands_whatever_the_others_say(linear):
    first = [("crisis", 0.5), ("ask_med_helps", 0.4)]
    diets = [StubDIET({"x": first}), StubDIET({"x": [("ask_med_helps", 0.99)]})]
    [msg] = decider(diets, linear).process([featurized("x", [0.0, 1.0, 0.0])])
    assert msg.get(INTENT) == {"name": "crisis", "confidence": 0.5}
    assert [(r["name"], r["confidence"]) for r in msg.get(INTENT_RANKING_KEY)] == first


def test_the_others_never_make_a_crisis(linear):
    diets = [StubDIET({"x": [("greet", 0.5), ("crisis", 0.45)]}), StubDIET({"x": [("crisis", 0.99)]})]
    [msg] = decider(diets, linear).process([featurized("x", [0.0, 0.0, 1.0])])
    names = [r["name"] for r in msg.get(INTENT_RANKING_KEY)]
    assert msg.get(INTENT)["name"] != "crisis" and names[-1] == "crisis"


def test_low_or_ambiguous_confidence_falls_back_as_configured(linear):
    diets = [StubDIET({"x": [("greet", 0.52), ("ask_med_helps", 0.48)]})]
    blended = decider(diets, linear, fallback_threshold=0.0, fallback_ambiguity_threshold=0.0)
    [msg] = blended.process([featurized("x", [0.0, 0.0, 0.0])])
    assert msg.get(INTENT)["name"] != "nlu_fallback"
    strict = decider(diets, linear, fallback_threshold=0.0, fallback_ambiguity_threshold=0.5)
    [msg] = strict.process([featurized("x", [0.0, 0.0, 0.0])])
    assert msg.get(INTENT) == {"name": "nlu_fallback", "confidence": 0.0}
    assert msg.get(INTENT_RANKING_KEY)[1]["name"] in ("greet", "ask_med_helps")


def test_a_message_nothing_can_read_falls_back(linear):
    [msg] = decider([StubDIET({})], linear).process([Message(data={TEXT: ""})])
    assert msg.get(INTENT)["name"] == "nlu_fallback"
    [msg] = decider([], linear).process([Message(data={TEXT: ""})])
    assert msg.get(INTENT)["name"] == "nlu_fallback"


def test_a_greeting_nothing_else_could_read_is_a_greeting_not_did_you_mean(linear):
    texts = [
        "hello to whoever reads these",
        "yo",
        "good evening. first time here",
        "hello?? anyone",
        "hola, a quien lea esto",
    ]
    questions = ["hi, is klonopin like valium?", "hiking while dopesick", "hey " + "word " * 20]
    diets = [StubDIET({t: [("ask_med_helps", 0.5), ("thank", 0.5)] for t in texts + questions})]
    strict = decider(diets, linear, fallback_threshold=0.0, fallback_ambiguity_threshold=0.5)
    messages = strict.process([featurized(t, [0.0, 0.0, 0.0]) for t in texts + questions])
    intents = {m.get(TEXT): m.get(INTENT)["name"] for m in messages}
    assert intents == {**{t: "greet" for t in texts}, **{t: "nlu_fallback" for t in questions}}
    greeting = messages[0].get(INTENT_RANKING_KEY)
    assert greeting[0] == {"name": "greet", "confidence": 1.0}
    assert "nlu_fallback" not in [r["name"] for r in greeting]


def test_a_greeting_the_classifiers_read_as_something_else_keeps_their_reading(linear):
    diets = [StubDIET({"hey thanks a lot": [("thank", 0.9), ("greet", 0.1)]})]
    [msg] = decider(diets, linear).process([featurized("hey thanks a lot", [0.0, 0.0, 0.0])])
    assert msg.get(INTENT)["name"] != "greet"


def test_without_diets_the_linear_model_decides_crisis_included(linear):
    """The quick model (serving/quick_model.py): the linear model is the first classifier."""
    [msg] = decider([], linear).process([featurized("x", [0.0, 0.0, 1.0])])
    assert msg.get(INTENT)["name"] == "crisis"


# ------------------------------------------------------------------ trained for real, saved, loaded
def toy_data(folder: Path) -> tuple[TrainingData, WhitespaceTokenizer, CountVectorsFeaturizer]:
    texts = {
        "greet": ["hello there", "hi", "hey friend", "good morning", "hello", "hi there"],
        "thank": ["thanks a lot", "thank you", "many thanks", "thanks", "thank you so much", "cheers thanks"],
        "crisis": [
            "he is not breathing",
            "not breathing help",
            "she stopped breathing",
            "blue lips not breathing",
            "help not breathing",
            "my friend is not breathing",
        ],
    }
    data = TrainingData([Message(data={TEXT: t, INTENT: i}) for i, ts in texts.items() for t in ts])
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    tokenizer.process_training_data(data)
    storage = LocalModelStorage(folder)
    featurizer = CountVectorsFeaturizer.create(
        CountVectorsFeaturizer.get_default_config(), storage, Resource("cvf"), CONTEXT
    )
    featurizer.train(data)
    featurizer.process_training_data(data)
    return data, tokenizer, featurizer


TINY = {
    "diet": {
        "epochs": 40,
        "number_of_transformer_layers": 1,
        "transformer_size": 16,
        "entity_recognition": False,
        "constrain_similarities": True,
    },
    "diet_seeds": [1, 2],
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("decider")
    data, tokenizer, featurizer = toy_data(tmp_path_factory.mktemp("featurizer"))
    config = {**IntentDecider.get_default_config(), **TINY}
    component = IntentDecider.create(config, LocalModelStorage(folder), Resource("decider"), CONTEXT)
    assert component.train(data) == Resource("decider")

    def featurize(text: str) -> Message:
        message = Message(data={TEXT: text})
        tokenizer.process([message])
        featurizer.process([message])
        return message

    return folder, config, featurize, component


def outcome(component: IntentDecider, featurize: Any, texts: list[str]) -> list[Any]:
    return [
        (m.get(INTENT), m.get(INTENT_RANKING_KEY)) for m in component.process([featurize(t) for t in texts])
    ]


TEXTS = ["hello there", "thanks", "he is not breathing", "bananas"]


def test_each_classifier_is_saved_in_a_folder_of_the_deciders_resource(trained):
    folder, config, featurize, _ = trained
    assert sorted(p.name for p in (folder / "decider").iterdir()) == [
        "diet_0_seed_1",
        "diet_1_seed_2",
        "linear",
    ]
    loaded = IntentDecider.load(config, LocalModelStorage(folder), Resource("decider"), CONTEXT)
    assert len(loaded.diets) == 2 and all(d.uses_numpy_path and d.model is None for d in loaded.diets)
    assert hasattr(loaded.linear.clf, "classes_")
    assert not np.allclose(
        loaded.diets[0]._numpy_diet.label_embeddings, loaded.diets[1]._numpy_diet.label_embeddings
    )
    results = outcome(loaded, featurize, TEXTS)
    assert [intent["name"] for intent, _ in results[:3]] == ["greet", "thank", "crisis"]


def test_loaded_from_a_moved_resource_it_decides_the_same(trained, tmp_path):
    """Rasa's training cache restores a component's resource as one folder, under its node name."""
    folder, config, featurize, _ = trained
    shutil.copytree(folder / "decider", tmp_path / "IntentDecider7")
    before = outcome(
        IntentDecider.load(config, LocalModelStorage(folder), Resource("decider"), CONTEXT), featurize, TEXTS
    )
    after = outcome(
        IntentDecider.load(config, LocalModelStorage(tmp_path), Resource("IntentDecider7"), CONTEXT),
        featurize,
        TEXTS,
    )
    assert after == before


def test_the_decision_is_the_one_blend_of_its_classifiers(trained):
    """What `process` sets is `decide` over each DIET's own ranking and the linear model's
    probabilities, followed by the fallback (parity with the classifiers run one by one)."""
    folder, config, featurize, _ = trained
    loaded = IntentDecider.load(config, LocalModelStorage(folder), Resource("decider"), CONTEXT)
    for text in TEXTS:
        own = [
            ranking_dict(diet.process([featurize(text)])[0].get(INTENT_RANKING_KEY)) for diet in loaded.diets
        ]
        first = loaded.diets[0].process([featurize(text)])[0].get(INTENT)["name"]
        expected = decide(first, own, loaded.linear.intent_probabilities(featurize(text)), 0.5, PROTECTED)
        intent, ranking = outcome(loaded, featurize, [text])[0]
        if intent["name"] == "nlu_fallback":
            ranking = ranking[1:]
        if expected is None:
            expected = [
                (r["name"], r["confidence"])
                for r in loaded.diets[0].process([featurize(text)])[0].get(INTENT_RANKING_KEY)
            ]
        assert [(r["name"], r["confidence"]) for r in ranking] == [
            (n, pytest.approx(c)) for n, c in expected[:10]
        ]


def test_the_diets_trained_in_processes_are_the_ones_serving(trained):
    """The `trained` decider's DIETs trained in processes of their own (the default): afterwards
    it holds each as loaded from its folder, and decides as a decider loaded from the resource."""
    folder, config, featurize, component = trained
    assert config["train_in_processes"] and len(config["diet_seeds"]) > 1
    assert all(d.uses_numpy_path and d.model is None for d in component.diets)
    loaded = IntentDecider.load(config, LocalModelStorage(folder), Resource("decider"), CONTEXT)
    assert outcome(component, featurize, TEXTS) == outcome(loaded, featurize, TEXTS)


def test_without_processes_the_diets_train_here_one_after_another(tmp_path):
    (tmp_path / "featurizer").mkdir()
    data, _, _ = toy_data(tmp_path / "featurizer")
    config = {**IntentDecider.get_default_config(), **TINY, "train_in_processes": False}
    config["diet"] = {**TINY["diet"], "epochs": 20}
    component = IntentDecider.create(config, LocalModelStorage(tmp_path), Resource("decider"), CONTEXT)
    component.train(data)
    assert all(d.model is not None for d in component.diets)  # the TF models trained here
    assert sorted(p.name for p in (tmp_path / "decider").iterdir()) == [
        "diet_0_seed_1",
        "diet_1_seed_2",
        "linear",
    ]


def test_an_untrained_linear_model_is_loaded_as_untrained(trained, tmp_path):
    folder, config, featurize, _ = trained
    shutil.copytree(folder / "decider", tmp_path / "decider")
    shutil.rmtree(tmp_path / "decider" / "linear")
    loaded = IntentDecider.load(config, LocalModelStorage(tmp_path), Resource("decider"), CONTEXT)
    assert loaded.linear.intent_probabilities(featurize("hello")) is None
    assert outcome(loaded, featurize, ["hello there"])[0][0]["name"] == "greet"


def test_the_nested_storage_reads_only_what_was_written(tmp_path):
    nested = NestedModelStorage(LocalModelStorage(tmp_path), Resource("parent"))
    with nested.write_to(Resource("child")) as folder:
        (folder / "f").write_text("x")
    with nested.read_from(Resource("child")) as folder:
        assert (folder / "f").read_text() == "x"
    with pytest.raises(ValueError), nested.read_from(Resource("other")):
        pass


# ------------------------------------------------------------------ config.yml and the trained model
def pipeline() -> list[dict[str, Any]]:
    return yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))["pipeline"]


def test_one_component_decides_the_intent_and_declares_the_protected_intents():
    steps = [s["name"] for s in pipeline()]
    assert steps.count(DECIDER) == 1
    deciders = ("DIET", "FallbackClassifier", "SecondOpinion", "LogisticRegression", "DIETEnsemble")
    assert not [s for s in steps if any(d in s for d in deciders)], "every classifier is inside the decider"
    [config] = [s for s in pipeline() if s["name"] == DECIDER]
    assert config["protected_intents"] == PROTECTED
    assert not [s for s in pipeline() if "keep_intents" in s], "declared once"
    seeds = config["diet_seeds"]
    assert len(set(seeds)) == len(seeds), "the same seed twice would be the same DIET twice"


@pytest.mark.model
def test_the_trained_model_serves_every_diet_without_tensorflow(model, tmp_path):
    """Each DIET is loaded from its saved NumPy weights (no TF model, ~160 MB per DIET per worker
    otherwise: docs/performance.md), and they are different DIETs."""
    from tests.test_fast_diet import load_served_diets

    diets = load_served_diets(model, tmp_path)
    [config] = [s for s in pipeline() if s["name"] == DECIDER]
    assert len(diets) == len(config["diet_seeds"])
    assert all(type(d) is FastDIETClassifier and d.model is None and d.uses_numpy_path for d in diets)
    first = diets[0]._numpy_diet.label_embeddings
    for other in diets[1:]:
        assert other._numpy_diet.label_embeddings.shape == first.shape
        assert not np.allclose(other._numpy_diet.label_embeddings, first)
