"""The sources' own wording, kept where a line-by-line check against them restored it (issue 25):
their words for a symptom or a range, their hedges, which article says what, and no brand name
neither of them gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def response(name: str) -> str:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    return domain["responses"][name][0]["text"]


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
    files = [ROOT / "domain.yml", *(ROOT / "content").glob("*.yml"), ROOT / "widget" / "help_panel.yml"]
    lines = [line for path in files for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if "988" in line]
    assert len(lines) == 1, lines
    assert "initial_value" in lines[0]


def test_the_dangerous_answer_gives_the_valium_articles_range():
    # V: "These symptoms can range from mild discomfort to severe medical crises".
    text = response("utter_withdrawal_dangerous")
    assert "mild discomfort" in text
    assert "severe medical crises" in text


def test_detox_calls_cold_turkey_one_of_the_worst_options():
    # K: "This is one of the worst options both because it is highly uncomfortable and because the
    # majority of people who do this will relapse."
    assert "one of the worst options" in response("utter_detox_options")
