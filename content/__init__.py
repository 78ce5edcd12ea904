"""Loads and checks the content files beside this module (content/*.yml): what the actions answer, the
channels say and the insights name. Read by every layer above; imports nothing of the project."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

QUESTIONS = ("helps", "risks", "stop_suddenly", "what_is", "how_works")
# The intent that asks each of them about a medication (medication_answers.yml).
INTENT_QUESTIONS = {
    "ask_med_helps": "helps",
    "ask_med_risks": "risks",
    "ask_med_stop_suddenly": "stop_suddenly",
    "ask_med_what_is": "what_is",
    "ask_med_how_works": "how_works",
}
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def content_dir() -> Path:
    return Path(os.environ.get("FAQ_CONTENT_DIR", Path(__file__).resolve().parent))


@dataclass(frozen=True)
class Medication:
    key: str
    name: str
    column: str


@dataclass(frozen=True)
class Content:
    medications: dict[str, Medication]
    answers: dict[str, dict[str, dict[str, Any]]]
    which_medication: dict[str, Any]
    question_titles: dict[str, str]
    suggestion_texts: dict[str, str]

    def answer(self, question: str, medication: Medication) -> dict[str, Any]:
        return self.answers[question][medication.column]


def _read(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _check(content: Content) -> None:
    columns = {med.column for med in content.medications.values()}
    missing = [f"{q}.{c}" for q in QUESTIONS for c in sorted(columns) if c not in content.answers.get(q, {})]
    if missing:
        raise ValueError(f"content/medication_answers.yml lacks answers for: {', '.join(missing)}")
    unknown = [k for k in content.which_medication["choices"] if k not in content.medications]
    if unknown:
        raise ValueError(f"which_medication.choices names unknown medications: {unknown}")


@functools.cache
def load_content(directory: Path | None = None) -> Content:
    """Reads the content once per process; raises ValueError naming what is missing."""
    directory = directory or content_dir()
    catalogue = _read(directory / "medications.yml")
    answers = _read(directory / "medication_answers.yml")
    titles = _read(directory / "question_titles.yml")
    content = Content(
        medications={
            m["key"]: Medication(key=m["key"], name=m["name"], column=m["answers"])
            for m in catalogue["medications"]
        },
        answers=answers["answers"],
        which_medication=answers["which_medication"],
        question_titles=titles["titles"],
        suggestion_texts={"prompt": titles["prompt"], "none": titles["none_of_these"]},
    )
    _check(content)
    return content


def fill(text: str, values: Mapping[str, Any]) -> str:
    """Replaces {name} placeholders that have a value; leaves any other braces alone."""
    return PLACEHOLDER.sub(
        lambda m: str(values[m.group(1)]) if values.get(m.group(1)) is not None else m.group(0),
        text,
    )


def payload(intent: str, medication: str | None = None) -> str:
    return f'/{intent}{{"medication":"{medication}"}}' if medication else f"/{intent}"


def buttons(raw: list[dict[str, str]] | None) -> list[dict[str, str]]:
    return [{"title": b["title"], "payload": b["payload"]} for b in raw or []]
