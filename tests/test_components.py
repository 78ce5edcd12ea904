"""The spaCy pipeline built from content/, the medication extractor and the safety net."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rasa.nlu.constants import SPACY_DOCS
from rasa.nlu.utils.spacy_utils import SpacyModel
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from components.medication_extractor import MedicationEntityExtractor
from components.safety_net import SafetyNet, load_patterns
from scripts.build_spacy_model import build

ROOT = Path(__file__).resolve().parent.parent
SAFETY = yaml.safe_load((ROOT / "tests" / "safety_phrases.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def spacy_model(tmp_path_factory) -> SpacyModel:
    import spacy

    out = tmp_path_factory.mktemp("spacy") / "model"
    build(ROOT / "content" / "medications.yml", out)
    return SpacyModel(model=spacy.load(out), model_name=str(out))


@pytest.fixture(scope="module")
def safety_net() -> SafetyNet:
    config = {**SafetyNet.get_default_config(), "patterns": str(ROOT / "content" / "safety_patterns.yml")}
    return SafetyNet(config, load_patterns(Path(config["patterns"])), None, None)  # type: ignore[arg-type]


def message(text: str, model: SpacyModel, intent: str = "ask_med_helps") -> Message:
    msg = Message(data={TEXT: text})
    # As SpacyNLP does: the doc is made from the lowercased text.
    msg.set(SPACY_DOCS[TEXT], model.model(text.lower()))
    msg.set(INTENT, {"name": intent, "confidence": 0.9})
    msg.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": 0.9}])
    return msg


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("Does VALIUM help with withdrawals?", ["valium"]),
        ("what about k-pins", ["klonopin"]),
        ("are bars worse than vals", ["xanax", "valium"]),
        ("can i take subs with ms contin", ["buprenorphine", "morphine"]),
        ("Vivitrol shot", ["naltrexone"]),
        ("i'm so dope sick", []),
        ("what is a benzo", ["benzodiazepines"]),
        ("nothing to see here", []),
    ],
)
def test_medication_entities_are_canonical(spacy_model, text, values):
    msg = message(text, spacy_model)
    MedicationEntityExtractor().process([msg], spacy_model)
    entities = msg.get(ENTITIES, [])
    assert [e["value"] for e in entities] == values
    assert all(e["entity"] == "medication" for e in entities)
    for e in entities:
        assert text[e["start"] : e["end"]].lower() in text.lower()


def test_every_catalogue_name_is_recognised(spacy_model):
    catalogue = yaml.safe_load((ROOT / "content" / "medications.yml").read_text(encoding="utf-8"))
    for med in catalogue["medications"]:
        for name in med["names"]:
            msg = message(f"what about {name} ?", spacy_model)
            MedicationEntityExtractor().process([msg], spacy_model)
            assert [e["value"] for e in msg.get(ENTITIES, [])] == [med["key"]], name


@pytest.mark.parametrize("text", SAFETY["crisis"])
def test_crisis_patterns_catch_every_crisis_phrase(spacy_model, safety_net, text):
    msg = message(text, spacy_model, intent="ask_withdrawal_symptoms")
    safety_net.process([msg], spacy_model)
    assert msg.get(INTENT) == {"name": "crisis", "confidence": 1.0}
    assert msg.get(INTENT_RANKING_KEY)[0]["name"] == "crisis"
    assert msg.get(INTENT_RANKING_KEY)[1]["name"] == "ask_withdrawal_symptoms"


@pytest.mark.parametrize("text", SAFETY["not_crisis"])
def test_crisis_patterns_leave_questions_about_risk_alone(spacy_model, safety_net, text):
    assert "CRISIS" not in safety_net.matched_labels(spacy_model.model(text.lower()))


@pytest.mark.parametrize("text", SAFETY["dosing"])
def test_dosing_patterns(spacy_model, safety_net, text):
    labels = safety_net.matched_labels(spacy_model.model(text.lower()))
    assert labels and labels[0] in {"CRISIS", "DOSING"}


@pytest.mark.parametrize("text", SAFETY["not_dosing"])
def test_dosing_patterns_leave_look_alikes_alone(spacy_model, safety_net, text):
    assert safety_net.matched_labels(spacy_model.model(text.lower())) == []


def test_crisis_wins_over_dosing(spacy_model, safety_net):
    msg = message("how many mg of xanax would kill me", spacy_model)
    safety_net.process([msg], spacy_model)
    assert msg.get(INTENT)["name"] == "crisis"


def test_no_match_keeps_the_classifier_result(spacy_model, safety_net):
    msg = message("does valium help with withdrawal", spacy_model)
    safety_net.process([msg], spacy_model)
    assert msg.get(INTENT) == {"name": "ask_med_helps", "confidence": 0.9}


def test_patterns_file_must_have_patterns(tmp_path):
    bad = tmp_path / "p.yml"
    bad.write_text("patterns: {}\n")
    with pytest.raises(ValueError, match="non-empty"):
        load_patterns(bad)


def test_unquoted_yaml_booleans_are_reported(tmp_path):
    bad = tmp_path / "p.yml"
    bad.write_text("patterns:\n  CRISIS:\n    - [{LOWER: {IN: [on]}}, {LOWER: purpose}]\n")
    with pytest.raises(ValueError, match="quote it"):
        load_patterns(bad)
