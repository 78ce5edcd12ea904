"""components/language.py: the language of a message, and a request for a language."""

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


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector({})


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


@pytest.mark.parametrize(
    "intent", ["ask_withdrawal_symptoms", "ask_med_helps", "ask_treatment_options", "crisis", "ask_dosing"]
)
def test_a_spanish_message_keeps_its_intent(spacy_model, detector, intent):
    # Every reply has its Spanish text: the classifier's intent stands.
    assert parsed("por favor necesito que me ayuden ahora", spacy_model, detector, intent) == (intent, ["es"])


@pytest.mark.parametrize("text", SAFETY_ES["crisis"])
def test_a_spanish_crisis_keeps_its_intent(spacy_model, detector, text):
    # Whatever language lingua reads ("my mom no respira" is mixed), crisis stays crisis.
    assert parsed(text, spacy_model, detector, intent="crisis")[0] == "crisis"


@pytest.mark.parametrize(
    ("text", "language", "intent"),
    [
        ("español", "es", "help_menu"),
        ("En español por favor", "es", "help_menu"),
        ("spanish", "es", "help_menu"),
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
    msg = Message(data={TEXT: "en español por favor"})
    msg.set(SPACY_DOCS[TEXT], spacy_model.model("en español por favor"))
    msg.set(INTENT, {"name": "ask_withdrawal_symptoms", "confidence": 0.8})
    msg.set(INTENT_RANKING_KEY, [{"name": "ask_withdrawal_symptoms", "confidence": 0.8}])
    detector.process([msg], spacy_model)
    assert [r["name"] for r in msg.get(INTENT_RANKING_KEY)] == ["help_menu", "ask_withdrawal_symptoms"]


@pytest.mark.parametrize(
    "text", ["我想戒掉海洛因", "помогите мне пожалуйста", "أريد المساعدة", "도와주세요 제발"]
)
def test_a_message_in_another_script_is_another_language_and_gets_the_fallback(spacy_model, detector, text):
    assert parsed(text, spacy_model, detector, intent="ask_withdrawal_symptoms") == (
        "nlu_fallback",
        ["other"],
    )


@pytest.mark.parametrize("text", ["does valium help", "el valium sirve?", "ok 👍", "is it ok 安"])
def test_latin_letters_or_too_few_others_are_not_another_language(spacy_model, detector, text):
    assert "other" not in parsed(text, spacy_model, detector)[1]
