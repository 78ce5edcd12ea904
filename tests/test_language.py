"""components/language.py: the language of a message, and a request for a language."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rasa.nlu.constants import SPACY_DOCS
from rasa.nlu.utils.spacy_utils import SpacyModel
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from components.language import LanguageDetector, other_script

ROOT = Path(__file__).resolve().parent.parent
SAFETY_ES = yaml.safe_load((ROOT / "tests" / "safety_phrases_es.yml").read_text(encoding="utf-8"))


OTHER_LANGUAGES = yaml.safe_load((ROOT / "tests" / "other_languages.yml").read_text(encoding="utf-8"))
OTHER_LANGUAGES_SECOND = yaml.safe_load(
    (ROOT / "tests" / "other_languages_second.yml").read_text(encoding="utf-8")
)


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    """The detector as trained: its vocabulary is the words of the NLU training data."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(ROOT / "data" / "nlu"))
    texts = [m.get(TEXT) or "" for m in data.training_examples]
    return LanguageDetector({}, LanguageDetector.vocabulary_of(texts))


def test_the_vocabulary_is_kept_with_the_model(tmp_path):
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.training_data import TrainingData

    storage, resource = LocalModelStorage(tmp_path), Resource("language")
    trained = LanguageDetector.create({}, storage, resource, None)  # type: ignore[arg-type]
    trained.train(TrainingData([Message(data={TEXT: "¿El Valium ayuda?", INTENT: "x"})]))
    loaded = LanguageDetector.load({}, storage, resource, None)  # type: ignore[arg-type]
    assert {"el", "valium", "ayuda"} <= loaded._vocabulary
    assert "the" in loaded._vocabulary and "para" in loaded._vocabulary  # the stop words too


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


def messages_of(node: object) -> list[str]:
    """Every message of a test file: list items, and each line of an `examples` block (not the
    labels: a conversation's name, an intent, a medication)."""
    if isinstance(node, dict):
        out: list[str] = []
        for key, value in node.items():
            if key in {"name", "intent", "medication", "footer"}:
                continue
            if key == "examples" and isinstance(value, str):
                out += [line.strip()[2:] for line in value.splitlines() if line.strip().startswith("- ")]
            else:
                out += messages_of(value)
        return out
    if isinstance(node, list):
        return [m for v in node for m in messages_of(v)]
    return [node] if isinstance(node, str) and " " in node.strip() else []


def read_as(text: str, model: SpacyModel, detector: LanguageDetector) -> str | None:
    msg = Message(data={TEXT: text})
    msg.set(SPACY_DOCS[TEXT], model.model(text.lower()))
    return detector.detect(detector.without_medication_names(msg))[0]


@pytest.mark.parametrize(
    ("messages", "floor"),
    # The thresholds were chosen on the first file (71/84); the second measures them (74/84).
    [(OTHER_LANGUAGES["messages"], 70), (OTHER_LANGUAGES_SECOND["messages"], 72)],
    ids=["first", "second"],
)
def test_other_latin_script_languages_are_told_apart(spacy_model, detector, messages, floor):
    read = {lang: [read_as(t, spacy_model, detector) for t in texts] for lang, texts in messages.items()}
    caught = sum(r.count("other") for r in read.values())
    assert caught >= floor, {lang: r.count("other") for lang, r in read.items()}


def test_no_english_or_spanish_message_of_the_tests_is_read_as_another_language(spacy_model, detector):
    # The unscored final sets are left out: a failure would show their messages before their one
    # measurement, and a fix would tune on them (their language shares are measured with them).
    from scripts.evaluate import UNSCORED

    texts = sorted(
        {
            text
            for path in (ROOT / "tests").glob("*.yml")
            if not path.name.startswith("other_languages") and path not in UNSCORED
            for text in messages_of(yaml.safe_load(path.read_text(encoding="utf-8")))
        }
        | {text for texts in OTHER_LANGUAGES_SECOND["english_or_spanish"].values() for text in texts}
    )
    assert len(texts) > 5000
    taken = [t for t in texts if not other_script(t) and read_as(t, spacy_model, detector) == "other"]
    assert taken == []


@pytest.mark.parametrize("intent", ["crisis", "ask_dosing"])
def test_another_latin_language_keeps_a_safety_reply(spacy_model, detector, intent):
    text = "je veux mourir j'ai avalé toute la boite de xanax"
    assert parsed(text, spacy_model, detector, intent=intent) == (intent, ["other"])


def test_another_latin_language_gets_the_bilingual_fallback(spacy_model, detector):
    text = "Kann man Klonopin und Methadon zusammen nehmen?"
    assert parsed(text, spacy_model, detector) == ("nlu_fallback", ["other"])
