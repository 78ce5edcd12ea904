"""components/language.py: the language of a message, and Spanish kept from English-only answers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rasa.nlu.constants import SPACY_DOCS
from rasa.nlu.utils.spacy_utils import SpacyModel
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from components.language import LanguageDetector

ROOT = Path(__file__).resolve().parent.parent
SAFETY_ES = yaml.safe_load((ROOT / "tests" / "safety_phrases_es.yml").read_text(encoding="utf-8"))
ANSWERED = {"es": ["ask_find_help", "greet", "goodbye", "thank"]}


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector({"answered": ANSWERED})


def parsed(text: str, model: SpacyModel, detector: LanguageDetector, intent: str = "ask_withdrawal_symptoms"):
    msg = Message(data={TEXT: text})
    msg.set(SPACY_DOCS[TEXT], model.model(text.lower()))
    msg.set(INTENT, {"name": intent, "confidence": 0.8})
    msg.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": 0.8}, {"name": "greet", "confidence": 0.1}])
    detector.process([msg], model)
    languages = [e["value"] for e in msg.get(ENTITIES, []) if e["entity"] == "language"]
    return msg.get(INTENT)["name"], languages


@pytest.mark.parametrize(
    "text",
    [
        "cuáles son los síntomas de la abstinencia",
        "necesito ayuda para dejar la heroina",
        "mi hijo quiere dejar las pastillas, que hago",
        "el valium sirve para la malilla?",
        "hola",
        "gracias",
    ],
)
def test_spanish_is_recognised(spacy_model, detector, text):
    assert parsed(text, spacy_model, detector)[1] == ["es"]


@pytest.mark.parametrize(
    "text",
    [
        "does valium help with opioid withdrawal",
        "what are the risks of klonopin",
        "im so dopesick rn what do i do",
    ],
)
def test_english_is_recognised(spacy_model, detector, text):
    assert parsed(text, spacy_model, detector)[1] == ["en"]


@pytest.mark.parametrize("text", ["is ativan a benzo", "and ativan?", "bad side of benzos"])
def test_medicine_names_do_not_make_a_message_spanish(spacy_model, detector, text):
    # lingua reads these as Spanish; without the medicine names it is not sure of anything.
    assert "es" not in parsed(text, spacy_model, detector)[1]


@pytest.mark.parametrize("text", ["ok", "valium", "hiiii", "asdfjkl", "¿y el rivotril?", "7"])
def test_a_message_that_does_not_tell_leaves_the_language_as_it_was(spacy_model, detector, text):
    assert parsed(text, spacy_model, detector) == ("ask_withdrawal_symptoms", [])


def test_a_spanish_message_without_a_spanish_answer_gets_the_spanish_fallback(spacy_model, detector):
    intent, languages = parsed("cuales son los sintomas de la abstinencia", spacy_model, detector)
    assert (intent, languages) == ("nlu_fallback", ["es"])


@pytest.mark.parametrize("intent", ["crisis", "ask_dosing", "out_of_scope"])
def test_the_safety_nets_intents_are_kept_even_when_no_answer_is_listed(spacy_model, intent):
    # A deployer who empties `answered` must not turn a Spanish emergency into the fallback.
    bare = LanguageDetector({"answered": {}})
    assert parsed("por favor necesito que me ayuden ahora", spacy_model, bare, intent) == (intent, ["es"])


@pytest.mark.parametrize("intent", ANSWERED["es"])
def test_intents_with_a_spanish_answer_are_kept(spacy_model, detector, intent):
    assert parsed("por favor necesito que me ayuden ahora", spacy_model, detector, intent) == (intent, ["es"])


@pytest.mark.parametrize("text", SAFETY_ES["crisis"])
def test_a_spanish_crisis_keeps_its_intent(spacy_model, detector, text):
    # Whatever language lingua reads ("my mom no respira" is mixed), crisis stays crisis.
    assert parsed(text, spacy_model, detector, intent="crisis")[0] == "crisis"


@pytest.mark.parametrize(
    ("text", "language", "intent"),
    [
        ("español", "es", "nlu_fallback"),
        ("En español por favor", "es", "nlu_fallback"),
        ("spanish", "es", "nlu_fallback"),
        ("English", "en", "help_menu"),
        ("in english please", "en", "help_menu"),
        ("inglés", "en", "help_menu"),
    ],
)
def test_asking_for_a_language_sets_it(spacy_model, detector, text, language, intent):
    assert parsed(text, spacy_model, detector) == (intent, [language])


def test_an_english_message_keeps_its_intent(spacy_model, detector):
    assert parsed("what are the symptoms of withdrawal", spacy_model, detector) == (
        "ask_withdrawal_symptoms",
        ["en"],
    )


def test_the_ranking_puts_the_new_intent_first_and_keeps_the_rest(spacy_model, detector):
    msg = Message(data={TEXT: "qué síntomas da la abstinencia de heroína"})
    msg.set(SPACY_DOCS[TEXT], spacy_model.model("qué síntomas da la abstinencia de heroína"))
    msg.set(INTENT, {"name": "ask_withdrawal_symptoms", "confidence": 0.8})
    msg.set(INTENT_RANKING_KEY, [{"name": "ask_withdrawal_symptoms", "confidence": 0.8}])
    detector.process([msg], spacy_model)
    assert [r["name"] for r in msg.get(INTENT_RANKING_KEY)] == ["nlu_fallback", "ask_withdrawal_symptoms"]
