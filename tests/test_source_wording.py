"""The sources' own wording, kept where a line-by-line check against them restored it (issue 25):
their words for a symptom or a range, their hedges, which article says what, and no brand name
neither of them gives."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from content import load_content

ROOT = Path(__file__).resolve().parent.parent
CONTENT = load_content()


def response(name: str) -> str:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    # the English text (the Spanish variation, conditioned on the language, comes first)
    return next(v["text"] for v in domain["responses"][name] if "condition" not in v)


def answer(key: str) -> str:
    question, column = key.split(".")
    return CONTENT.answers[question][column]["text"]


def curated_texts() -> list[tuple[str, str]]:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    texts = [(name, v["text"]) for name, variations in domain["responses"].items() for v in variations]
    return texts + [
        (f"{q}.{c}", a["text"]) for q, columns in CONTENT.answers.items() for c, a in columns.items()
    ]


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def shown(text: str, domain: dict[str, Any]) -> str:
    """The text as Rasa sends it, with the resource slots filled in."""
    from rasa.core.nlg.interpolator import interpolate

    values = {name: spec.get("initial_value") for name, spec in domain["slots"].items()}
    return interpolate(text, values)


def test_symptoms_name_depression_as_the_valium_article_does():
    # V: "Depression: Feelings of sadness, hopelessness, and worthlessness can develop."
    text = response("utter_withdrawal_symptoms")
    for word in ["depression", "hopelessness", "worthlessness"]:
        assert word in text, word
    assert "low mood" not in text


def test_symptoms_offer_the_crisis_line_built_from_its_slot(domain):
    # Hopelessness is named, so the crisis line is too; its number comes from the one slot.
    text = response("utter_withdrawal_symptoms")
    assert "{crisis_line}" in text
    assert "988" not in text
    assert "call or text 988" in shown(text, domain)


def test_the_crisis_number_is_written_in_one_place():
    # Once per language: the crisis_line slot and its Spanish twin crisis_line_es. The safety patterns
    # and the crisis detector's examples read what people write ("¿el 988 es solo para suicidio?"):
    # they give no number.
    people = ("safety_patterns", "crisis_examples")
    content = [p for p in (ROOT / "content").glob("*.yml") if not p.name.startswith(people)]
    files = [ROOT / "domain.yml", *content, ROOT / "widget" / "help_panel.yml"]
    lines = [line for path in files for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if "988" in line]
    assert len(lines) == 2, lines
    assert all("initial_value" in line for line in lines)


def test_the_dangerous_answer_gives_the_valium_articles_range():
    # V: "These symptoms can range from mild discomfort to severe medical crises".
    text = response("utter_withdrawal_dangerous")
    assert "mild discomfort" in text
    assert "severe medical crises" in text


def test_detox_calls_cold_turkey_one_of_the_worst_options():
    # K: "This is one of the worst options both because it is highly uncomfortable and because the
    # majority of people who do this will relapse."
    assert "one of the worst options" in response("utter_detox_options")


@pytest.mark.parametrize("key", ["how_works.other_benzo", "how_works.benzodiazepines", "what_is.klonopin"])
def test_what_klonopin_does_to_gaba_is_only_believed(key):
    # K: "This drug is believed to increase the amount of GABA in the brain, which can calm anxiety
    # and stress." (V says plainly that Valium enhances GABA's effects.)
    assert re.search(r"Klonopin[^.]* is believed to [^.]*GABA", answer(key)), answer(key)


def test_no_answer_says_plainly_that_klonopin_acts_on_gaba():
    for name, text in curated_texts():
        for sentence in sentences(text):
            if "Klonopin" in sentence and "GABA" in sentence:
                assert re.search(r"\b(believed|thought)\b", sentence), (name, sentence)


@pytest.mark.parametrize("key", ["how_works.other_benzo", "how_works.benzodiazepines"])
def test_klonopin_helping_sleep_is_only_the_thought(key):
    # K: "The thought is that Klonopin could help promote sleep and reduce the psychological
    # symptoms of withdrawal like anxiety."
    text = answer(key)
    assert "the thought is" in text
    for sentence in sentences(text):
        if "sleep" in sentence and "Klonopin" in sentence:
            assert "the thought is" in sentence, sentence


@pytest.mark.parametrize(
    ("key", "wording"),
    [
        # K: "With tolerance often comes dependence. A person who is dependent on opioids will
        # experience withdrawal symptoms if they try to stop using suddenly."
        ("risks.heroin", [r"dependence often", r"\bstop\w* suddenly"]),
        ("risks.opioid", [r"dependence often", r"\bstop\w* suddenly"]),
        ("how_works.opioid", [r"dependence often"]),
        # V: "Stopping Valium abruptly after prolonged use can cause its own withdrawal symptoms"
        ("risks.valium", [r"\bcan (bring|cause) (on )?its own withdrawal"]),
    ],
)
def test_dependence_sentences_keep_the_sources_hedges(key, wording):
    for pattern in wording:
        assert re.search(pattern, answer(key)), (key, pattern)


@pytest.mark.parametrize("key", ["helps.heroin", "helps.opioid"])
def test_the_relapse_or_death_warning_is_credited_to_the_klonopin_article(key):
    # Only K warns that self-medicating "can lead to a relapse or death" (V: "extremely dangerous
    # and potentially fatal", of Valium).
    text = answer(key)
    warning = [s for s in sentences(text) if "relapse or death" in s]
    assert warning, text
    assert all("the Klonopin article" in s for s in warning), warning
    assert "the articles" not in text


def shown_words() -> list[tuple[str, str]]:
    """Every answer, button title and question title, and the name a reply gives each medicine."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    items = [*domain["responses"].items()]
    items += [(f"{q}.{c}", [a]) for q, columns in CONTENT.answers.items() for c, a in columns.items()]
    texts = [
        (name, text)
        for name, variations in items
        for v in variations
        for text in [v["text"], *(b["title"] for b in v.get("buttons", []))]
    ]
    texts += [(f"title {intent}", title) for intent, title in CONTENT.question_titles.items()]
    return texts + [(f"name {key}", med.name) for key, med in CONTENT.medications.items()]


def test_no_reply_names_vivitrol():
    # A brand name neither source gives. Recognising it is not a claim: it stays a spelling of
    # naltrexone in content/medications.yml.
    assert [(name, text) for name, text in shown_words() if "vivitrol" in text.lower()] == []
    catalogue = yaml.safe_load((ROOT / "content" / "medications.yml").read_text(encoding="utf-8"))
    naltrexone = next(m for m in catalogue["medications"] if m["key"] == "naltrexone")
    assert "vivitrol" in naltrexone["names"]
