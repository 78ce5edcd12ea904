"""DIETEnsembleMember (components/diet_ensemble.py): a further DIET averaged into the ranking so far.

Its own predictions are FastDIETClassifier's (tested in tests/test_fast_diet.py); here: how they are
averaged with the ranking it finds, that crisis and dosing stay the first DIET's call, and that
the trained project model really carries the members config.yml lists.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from components.diet_ensemble import DIETEnsembleMember, averaged_ranking
from components.fast_diet import FastDIETClassifier
from tests.test_fast_diet import ROOT, load_served_diets

MEMBER = "components.diet_ensemble.DIETEnsembleMember"


def test_every_diet_of_the_ensemble_weighs_the_same():
    """The k-th DIET takes previous_weight (k - 1) / k: three DIETs -> a third each."""
    first, second, third = {"a": 0.9, "b": 0.1}, {"a": 0.3, "b": 0.7}, {"a": 0.6, "b": 0.4}
    so_far = dict(averaged_ranking(first, "a", second, 1 / 2, set()))
    final = dict(averaged_ranking(so_far, "a", third, 2 / 3, set()))
    assert final["a"] == pytest.approx((0.9 + 0.3 + 0.6) / 3)
    assert final["b"] == pytest.approx((0.1 + 0.7 + 0.4) / 3)


def test_the_average_never_makes_a_crisis_and_never_removes_one():
    keep = {"crisis", "ask_dosing"}
    made = averaged_ranking({"greet": 0.6, "crisis": 0.4}, "greet", {"crisis": 0.9, "greet": 0.1}, 0.5, keep)
    assert made is not None and made[0][0] == "greet" and made[-1][0] == "crisis"
    assert averaged_ranking({"crisis": 0.5, "greet": 0.5}, "crisis", {"greet": 1.0}, 0.5, keep) is None
    assert averaged_ranking({"ask_dosing": 0.9}, "ask_dosing", {"greet": 1.0}, 0.5, keep) is None


def test_a_label_missing_from_one_ranking_counts_as_zero():
    ranked = averaged_ranking({"a": 0.8, "b": 0.2}, "a", {"c": 1.0}, 0.5, set())
    assert ranked == [("c", 0.5), ("a", 0.4), ("b", 0.1)]


@pytest.fixture
def member(tmp_path, monkeypatch) -> DIETEnsembleMember:
    """A member whose own prediction is whatever `own` says (DIET itself is tested elsewhere)."""
    config = {**DIETEnsembleMember.get_default_config(), "previous_weight": 0.5}
    component = DIETEnsembleMember(
        config,
        LocalModelStorage(tmp_path),
        Resource("member"),
        ExecutionContext(GraphSchema({}), "test"),
    )
    component.own: dict[str, list[tuple[str, float]]] = {}

    def predict(self: Any, messages: list[Message]) -> list[Message]:
        for message in messages:
            ranking = component.own.get(message.get(TEXT))
            if ranking is None:  # no features: DIET sets an empty prediction
                message.set(INTENT, {"name": None, "confidence": 0.0}, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
                continue
            set_ranking(message, ranking)
        return messages

    monkeypatch.setattr(FastDIETClassifier, "process", predict)
    return component


def set_ranking(message: Message, ranking: list[tuple[str, float]]) -> Message:
    message.set(INTENT, {"name": ranking[0][0], "confidence": ranking[0][1]}, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [{"name": n, "confidence": c} for n, c in ranking], add_to_output=True)
    return message


def test_a_disagreeing_member_lowers_the_top_confidence(member):
    member.own["x"] = [("ask_self_medicate", 0.8), ("ask_med_helps", 0.2)]
    msg = set_ranking(Message(data={TEXT: "x"}), [("ask_med_helps", 0.7), ("ask_self_medicate", 0.3)])
    member.process([msg])
    assert msg.get(INTENT) == {"name": "ask_self_medicate", "confidence": pytest.approx(0.55)}
    assert [r["name"] for r in msg.get(INTENT_RANKING_KEY)] == ["ask_self_medicate", "ask_med_helps"]


def test_the_first_diets_crisis_stands_whatever_the_member_says(member):
    member.own["x"] = [("ask_withdrawal_symptoms", 0.99)]
    ranking = [("crisis", 0.5), ("ask_withdrawal_symptoms", 0.4)]
    msg = set_ranking(Message(data={TEXT: "x"}), ranking)
    member.process([msg])
    assert msg.get(INTENT) == {"name": "crisis", "confidence": 0.5}
    assert [(r["name"], r["confidence"]) for r in msg.get(INTENT_RANKING_KEY)] == ranking


def test_a_message_the_member_cannot_read_keeps_the_ranking_so_far(member):
    msg = set_ranking(Message(data={TEXT: ""}), [("greet", 0.9), ("thank", 0.1)])
    member.process([msg])
    assert msg.get(INTENT) == {"name": "greet", "confidence": 0.9}
    assert len(msg.get(INTENT_RANKING_KEY)) == 2


def test_first_in_a_pipeline_it_predicts_as_diet(member):
    member.own["x"] = [("greet", 0.6), ("thank", 0.4)]
    msg = Message(data={TEXT: "x"})
    member.process([msg])
    assert msg.get(INTENT) == {"name": "greet", "confidence": 0.6}


def members_in_config() -> list[dict[str, Any]]:
    pipeline = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))["pipeline"]
    return [step for step in pipeline if step["name"] == MEMBER]


def test_config_members_weigh_every_diet_the_same_and_differ_only_in_seed():
    pipeline = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))["pipeline"]
    [first] = [s for s in pipeline if s["name"] == "components.fast_diet.FastDIETClassifier"]
    members = members_in_config()
    assert members, "config.yml lists no ensemble member"
    seeds = {first["random_seed"]}
    for k, member in enumerate(members, start=2):
        assert member["previous_weight"] == pytest.approx((k - 1) / k, abs=1e-3)
        options = {
            key: v for key, v in member.items() if key not in ("name", "random_seed", "previous_weight")
        }
        assert options == {key: v for key, v in first.items() if key not in ("name", "random_seed")}
        seeds.add(member["random_seed"])
    assert len(seeds) == len(members) + 1  # the same seed twice would be the same DIET twice


@pytest.mark.model
def test_the_trained_model_serves_every_member_without_tensorflow(model, tmp_path):
    """Each DIET of the ensemble is loaded from its saved NumPy weights (no TF model, ~160 MB per
    DIET per worker otherwise: docs/performance.md), and the members are different DIETs."""
    import numpy as np

    diets = load_served_diets(model, tmp_path)
    assert [type(d) for d in diets] == [FastDIETClassifier] + [DIETEnsembleMember] * len(members_in_config())
    assert all(d.model is None and d.uses_numpy_path for d in diets)
    first = diets[0]._numpy_diet.label_embeddings
    for member in diets[1:]:
        assert member._numpy_diet.label_embeddings.shape == first.shape
        assert not np.allclose(member._numpy_diet.label_embeddings, first)
