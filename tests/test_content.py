"""Data invariants: no dose anywhere, every curated answer names its source, every intent has a rule
and tests, every button leads somewhere real, every placeholder is filled; corrections from checking
the answers against the sources stay made."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from actions.medication import PLACEHOLDER_SLOTS
from content import LANGUAGES, PLACEHOLDER, fill, load_content, variation_language

ROOT = Path(__file__).resolve().parent.parent
CONTENT = load_content()
# Replies that run the conversation or route to help; every other response in domain.yml is a
# curated answer and must name its source.
ROUTING_RESPONSES = {
    "utter_greet_disclaimer",
    "utter_greet",
    "utter_goodbye",
    "utter_thank",
    "utter_bot_challenge",
    "utter_help_menu",
    "utter_default",
    "utter_crisis",
    "utter_crisis_footer",
    "utter_disclaimer",
    "utter_dosing",
    "utter_find_help",
    "utter_out_of_scope",
    "utter_feedback_yes",
    "utter_feedback_no",
}
DOSE = re.compile(
    r"\d+(\.\d+)?\s*(mg|mcg|µg|milligram|microgram|ml|cc|pills?|tablets?|tabs?|doses?|times|x)\b"
    r"|\b(once|twice|thrice|\w+ times) (a|per|each) (day|night|week|hour)"
    r"|\bevery \d+ (hours?|days?)|\b\d+\s*(/|per) ?day\b|\bdose of \d"
    # the same in Spanish
    r"|\d+(\.\d+)?\s*(miligramos?|microgramos?|pastillas?|p[ií]ldoras?|tabletas?|dosis|veces)\b"
    r"|\b(una|dos|tres|\w+) veces (al|por|cada) (d[ií]a|noche|semana|hora)"
    r"|\bcada \d+ (horas?|d[ií]as?)|\bdosis de \d",
    re.IGNORECASE,
)
PAYLOAD = re.compile(r"^/(?P<intent>\w+)(?P<entities>\{.*\})?$")


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def domain_responses() -> dict[str, list[dict[str, Any]]]:
    return read_yaml(ROOT / "domain.yml")["responses"]


def medication_answers(languages: tuple[str, ...] = ("en",)) -> dict[str, dict[str, Any]]:
    """The medication answers by name ("helps.valium"; "es:helps.valium" for another language)."""
    return {
        f"{'' if language == 'en' else language + ':'}{q}.{c}": a
        for language in languages
        for q, columns in CONTENT.language(language).answers.items()
        for c, a in columns.items()
    }


def language_of(variation: dict[str, Any]) -> str:
    """The language a domain.yml response variation is written in (its `language` slot condition)."""
    return variation_language(variation) or "en"


def all_texts(domain: dict[str, Any]) -> list[tuple[str, str]]:
    """Every piece of text a user can be shown, with the slot values filled in."""
    from rasa.core.nlg.interpolator import interpolate

    values = {name: spec.get("initial_value") for name, spec in domain["slots"].items()}
    texts = []
    for name, variations in domain_responses().items():
        for variation in interpolate(copy.deepcopy(variations), values):
            texts.append((name, variation.get("text", "")))
            texts += [(name, b["title"]) for b in variation.get("buttons", [])]
    for key, answer in medication_answers(LANGUAGES).items():
        texts.append((key, answer["text"]))
        texts += [(key, b["title"]) for b in answer.get("buttons", [])]
    for language in LANGUAGES:
        texts += [(intent, title) for intent, title in CONTENT.language(language).question_titles.items()]
        texts.append(("which_medication", CONTENT.language(language).which_medication["text"]))
    return texts


def test_no_reply_states_a_dose_or_schedule(domain):
    offenders = [(name, text) for name, text in all_texts(domain) if DOSE.search(text)]
    assert offenders == []


def test_the_dose_check_catches_doses():
    for text in ["take 10mg", "2 pills twice a day", "0.5 mg every 8 hours", "three times a day"]:
        assert DOSE.search(text), text


def curated_answers() -> list[tuple[str, str]]:
    answers = [
        (name, variation["text"])
        for name, variations in domain_responses().items()
        if name not in ROUTING_RESPONSES
        for variation in variations
    ]
    return answers + [(key, a["text"]) for key, a in medication_answers(LANGUAGES).items()]


def test_routing_responses_exist():
    assert ROUTING_RESPONSES - set(domain_responses()) == set()


@pytest.mark.parametrize(("name", "text"), curated_answers())
def test_every_curated_answer_names_its_source(name, text):
    last = text.strip().splitlines()[-1]
    english = r"Sources?: \{source_(valium|klonopin)\}(; \{source_(valium|klonopin)\})?"
    # in Spanish, with a note that the articles are in English (their titles carry a Spanish gloss)
    spanish = (
        r"Fuente \(artículo en inglés\): \{source_(valium|klonopin)_es\}"
        r"|Fuentes \(artículos en inglés\): \{source_(valium|klonopin)_es\}; \{source_(valium|klonopin)_es\}"
    )
    assert re.fullmatch(english, last) or re.fullmatch(spanish, last), last


@pytest.mark.parametrize(("name", "text"), curated_answers())
def test_curated_answers_are_short_and_contain_no_numbers_but_timing(name, text):
    body = text.strip().rsplit("\n", 1)[0]
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", body.strip()) if s]
    assert 2 <= len(sentences) <= 5, sentences
    assert re.findall(r"\d+", body.replace("12 hours", "").replace("12 horas", "")) == []


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def test_no_reply_calls_recovery_clean(domain):
    # "Clean" (and so "dirty") stigmatises people who use drugs (NIDA, "Words Matter"): say "in recovery".
    assert [(name, text) for name, text in all_texts(domain) if re.search(r"\bclean\b", text, re.I)] == []


@pytest.mark.parametrize("question", sorted(CONTENT.answers))
def test_answers_for_a_medicine_neither_source_covers_say_so(question):
    # Lofexidine (Lucemyra) is in neither article: its answers say so and point to a clinician,
    # never claim what it does.
    text = CONTENT.answers[question]["not_covered"]["text"]
    assert re.search(r"(don't cover|isn't covered by)", text)
    assert "doctor or pharmacist" in text or "pharmacist or doctor" in text


@pytest.mark.parametrize("question", sorted(CONTENT.answers))
def test_other_benzo_answers_say_the_sources_do_not_cover_it(question):
    text = CONTENT.answers[question]["other_benzo"]["text"]
    assert "don't cover {medication}" in text
    # The seizure warning is the Valium article's, about Valium: never "the articles warn" of a benzo.
    for sentence in sentences(text):
        if "seizure" in sentence.lower():
            assert "Valium" in sentence, sentence
            assert not re.search(r"\b(the articles|they)\b", sentence, re.I), sentence


def test_naltrexone_is_only_said_to_help_prevent_relapse(domain):
    # The sources say naltrexone helps prevent relapse (K); it does not ease withdrawal.
    helps = CONTENT.answers["helps"]["naltrexone"]["text"]
    assert "relapse" in helps
    assert "withdrawal" not in helps.lower()
    for name, text in all_texts(domain):
        for sentence in sentences(text):
            if "naltrexone" in sentence.lower():
                assert "withdrawal" not in sentence.lower(), (name, sentence)


@pytest.mark.parametrize("column", ["opioid", "heroin"])
def test_opioids_taken_for_withdrawal_are_called_self_medicating(column):
    text = CONTENT.answers["helps"][column]["text"]
    assert "self-medicating" in text
    assert "relapse or death" in text
    # Methadone, an opioid maintenance medicine (K), treats withdrawal: an opioid can be a treatment.
    assert "not a treatment" not in text


def test_the_mixing_answer_says_what_the_sources_say_about_alcohol():
    text = next(v["text"] for v in domain_responses()["utter_benzo_opioid_mix"] if language_of(v) == "en")
    assert "other depressants" in text
    assert "don't cover alcohol" in text


HELPLINE = "1-800-662-HELP (4357)"
TTY = "TTY 1-800-487-4889"


def shown_texts(domain: dict[str, Any]) -> list[tuple[str, str]]:
    """all_texts with the medication answers filled in too, plus the channels' own notices and the
    widget's "Get help now" panel: everything a user can read."""
    from channels.inbound import notices
    from scripts.build_widget_help import help_content

    values = {name: spec.get("initial_value") for name, spec in domain["slots"].items()}
    texts = all_texts(domain)
    texts += [
        (key, fill(a["text"], {**values, "medication": "Xanax"})) for key, a in medication_answers().items()
    ]
    texts += [(f"notice {key}", text) for key, text in notices().items()]
    panel = help_content(read_yaml(ROOT / "domain.yml"), read_yaml(ROOT / "widget" / "help_panel.yml"))
    return texts + [("widget help panel", line) for line in panel["lines"]]


def test_the_tty_line_is_shown_wherever_the_helpline_is(domain):
    with_helpline = [(name, text) for name, text in shown_texts(domain) if HELPLINE in text]
    names = {name for name, _ in with_helpline}
    assert {"utter_find_help", "helps.opioid", "notice no_reply", "widget help panel"} <= names
    assert [(name, text) for name, text in with_helpline if TTY not in text] == []


def test_help_numbers_are_written_only_in_the_resource_slots():
    """Once per language: the English resource slot and its Spanish twin (`<name>_es`), both in
    domain.yml, and nowhere else a deployer would have to find them."""
    files = [ROOT / "domain.yml", *(ROOT / "content").glob("*.yml"), ROOT / "widget" / "help_panel.yml"]
    slots = read_yaml(ROOT / "domain.yml")["slots"]
    for number in ["662-HELP", "487-4889", "222-1222"]:
        in_slots = [name for name, spec in slots.items() if number in str(spec.get("initial_value"))]
        assert len(in_slots) == 2 and {f"{in_slots[0]}_es", in_slots[0]} == set(in_slots), number
        assert sum(path.read_text(encoding="utf-8").count(number) for path in files) == 2, number


def test_each_spanish_resource_gives_the_same_numbers_as_the_english_one():
    # A deployer who changes a number in one language must change it in the other.
    slots = read_yaml(ROOT / "domain.yml")["slots"]
    spanish = [name for name in slots if name.endswith("_es")]
    assert {"helpline_es", "crisis_line_es", "poison_control_es"} <= set(spanish)
    for name in spanish:
        english = name.removesuffix("_es")
        numbers = re.compile(r"\b\d{3}\b|\d+(?:-[\dA-Z]+)+")
        assert set(numbers.findall(slots[name]["initial_value"])) == set(
            numbers.findall(slots[english]["initial_value"])
        ), name


def test_every_placeholder_has_a_value(domain):
    slots = set(domain["slots"])
    for name, variations in domain_responses().items():
        for variation in variations:
            assert set(PLACEHOLDER.findall(variation["text"])) <= slots, name
    allowed = {*PLACEHOLDER_SLOTS, "medication"}
    for key, answer in medication_answers(LANGUAGES).items():
        assert set(PLACEHOLDER.findall(answer["text"])) <= allowed, key
    assert set(PLACEHOLDER_SLOTS) <= slots


def check_payload(payload: str, intents: set[str]) -> None:
    match = PAYLOAD.match(payload)
    assert match, payload
    assert match["intent"] in intents, payload
    if match["entities"]:
        entities = json.loads(match["entities"])
        assert set(entities) in ({"medication"}, {"language"}), payload
        assert entities.get("medication", "valium") in CONTENT.medications, payload
        assert entities.get("language", "en") in {"en", "es"}, payload


def test_every_button_leads_to_a_known_intent_and_medication(domain):
    from rasa.core.nlg.interpolator import interpolate

    intents = set(domain["intents"])
    values = {name: spec.get("initial_value") for name, spec in domain["slots"].items()}
    for variations in domain_responses().values():
        for variation in interpolate(copy.deepcopy(variations), values):
            for button in variation.get("buttons", []):
                check_payload(button["payload"], intents)
    for answer in medication_answers(LANGUAGES).values():
        for button in answer.get("buttons", []):
            check_payload(button["payload"], intents)
    assert set(CONTENT.question_titles) <= intents


def test_every_response_is_written_in_every_language():
    for name, variations in domain_responses().items():
        languages = [language_of(v) for v in variations]
        # the fallback also has a bilingual variation for a message in another language
        expected = [*LANGUAGES, "other"] if name == "utter_default" else LANGUAGES
        assert sorted(languages) == sorted(expected), name


def test_a_message_in_another_language_gets_emergency_numbers_first_in_both_languages():
    [other] = [v for v in domain_responses()["utter_default"] if language_of(v) == "other"]
    first = other["text"].splitlines()[0]
    assert "{emergency_number}" in first and "emergency" in first and "emergencia" in first
    assert {"{helpline}", "{crisis_line}", "{poison_control}"} <= set(re.findall(r"\{\w+\}", other["text"]))


def test_a_spanish_reply_uses_the_spanish_routes_and_titles():
    # {helpline} is the English wording of the line; a Spanish reply names {helpline_es}, and so on.
    english_only = {"helpline", "crisis_line", "poison_control", "source_valium", "source_klonopin"}
    spanish = [(n, v["text"]) for n, vs in domain_responses().items() for v in vs if language_of(v) == "es"]
    spanish += [(k, a["text"]) for k, a in medication_answers(("es",)).items()]
    for name, text in spanish:
        if name in {"utter_crisis"}:  # ends with the English routes, for a reader of English
            text = text.rsplit("\n", 1)[0]
        assert set(PLACEHOLDER.findall(text)) & english_only == set(), name


def test_each_translation_offers_the_same_buttons_as_the_english():
    for name, variations in domain_responses().items():
        by_language = {language_of(v): [b["payload"] for b in v.get("buttons", [])] for v in variations}
        english = [p for p in by_language["en"] if "language" not in p]
        assert [p for p in by_language["es"] if "language" not in p] == english, name
    english, spanish = medication_answers(), medication_answers(("es",))
    for key, answer in english.items():
        assert [b["payload"] for b in spanish[f"es:{key}"].get("buttons", [])] == [
            b["payload"] for b in answer.get("buttons", [])
        ], key


def rule_intents() -> set[str]:
    intents = set()
    for path in (ROOT / "data" / "rules").glob("*.yml"):
        for rule in read_yaml(path)["rules"]:
            intents |= {step["intent"] for step in rule["steps"] if "intent" in step}
    return intents


def story_intents(path: Path) -> set[str]:
    intents = set()
    for story in read_yaml(path)["stories"]:
        intents |= {step["intent"] for step in story["steps"] if "intent" in step}
    return intents


def test_every_intent_has_a_rule(domain):
    assert set(domain["intents"]) - rule_intents() == set()


def test_every_intent_has_a_conversation_test_and_held_out_examples(domain):
    from rasa.shared.nlu.training_data.loading import load_data

    intents = set(domain["intents"]) - {"nlu_fallback"}
    assert intents - story_intents(ROOT / "tests" / "test_stories.yml") == set()
    holdout = count_by_intent(load_data(str(ROOT / "tests" / "nlu_holdout.yml")).intent_examples)
    assert {i for i in intents if holdout[i] < 5} == set()


def count_by_intent(examples: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for example in examples:
        counts[example.get("intent")] = counts.get(example.get("intent"), 0) + 1
    return counts


def held_out_files() -> tuple[list[Path], list[Path], list[Path]]:
    """Every held-out set the evaluator scores (scripts/evaluate.py): NLU, safety, conversations."""
    from scripts.evaluate import DOSING_SETS, LANGUAGE_SETS, MESSAGE_SETS, SAFETY_SETS, UNSCORED

    nlu = list(dict.fromkeys([path for _, path, _ in MESSAGE_SETS] + [path for _, path, _ in LANGUAGE_SETS]))
    nlu += [path for path in UNSCORED if path.name.endswith("_nlu.yml")]
    conversations = [path for _, _, path in MESSAGE_SETS if path is not None]
    conversations += [path for path in UNSCORED if path.name.endswith("_conversations.yml")]
    safety = list(
        dict.fromkeys([path for _, path, _, _ in SAFETY_SETS] + [path for _, path, _, _ in DOSING_SETS])
    )
    safety += [path for path in UNSCORED if path.name.endswith("_safety.yml")]
    return nlu, safety, conversations


def test_every_held_out_file_in_tests_is_scored():
    """A set written for a measurement but left out of the evaluator would also escape the overlap
    check below."""
    from scripts.evaluate import OTHER_LANGUAGES

    nlu, safety, conversations = held_out_files()
    scored = {p.name for p in nlu + safety + conversations} | {p.name for p in OTHER_LANGUAGES}
    candidates = {p.name for p in (ROOT / "tests").glob("*.yml") if p.name != "test_stories.yml"}
    assert candidates == scored


def test_held_out_phrasings_are_not_in_the_training_data():
    from rasa.shared.nlu.training_data.loading import load_data

    from scripts.evaluate import OTHER_LANGUAGES, other_language_messages, safety_sets

    def norm(text: str) -> str:
        return re.sub(r"\W+", " ", text.lower()).strip()

    training = {norm(m.get("text")) for m in load_data(str(ROOT / "data" / "nlu")).intent_examples}
    nlu, safety, conversations = held_out_files()
    held_out = {norm(m.get("text")) for path in nlu for m in load_data(str(path)).intent_examples}
    held_out |= {norm(text) for path in safety for texts in safety_sets(path).values() for text in texts}
    held_out |= {
        norm(t["text"])
        for path in conversations
        for c in yaml.safe_load(path.read_text(encoding="utf-8"))["conversations"]
        for t in c["turns"]
    }
    held_out |= {
        norm(text)
        for path in OTHER_LANGUAGES
        for key in ("messages", "english_or_spanish")
        for texts in other_language_messages(path, key).values()
        for text in texts
    }
    assert held_out & training == set()


def test_a_test_sets_medicine_annotated_with_a_space_is_still_its_catalogue_key(tmp_path):
    """Rasa reads `[rivotril](medication: klonopin)` as the value " klonopin": the evaluator strips it,
    or the expected answer would be "which medicine?" and every such turn scored wrong."""
    from scripts.evaluate import message_turns

    path = tmp_path / "nlu.yml"
    path.write_text(
        'version: "3.1"\nnlu:\n- intent: ask_med_helps\n  examples: |\n'
        "    - sirve el [rivotril](medication: klonopin) para la malilla?\n"
        "    - does [valium](medication) help\n",
        encoding="utf-8",
    )
    assert [t.medication for t in message_turns(path)] == ["klonopin", "valium"]
