"""Loads and checks the content files beside this module (content/*.yml): what the actions answer, the
channels say and the insights name. Read by every layer above; imports nothing of the project."""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
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


# The languages the content is written in, and each one's files (English is the reference; every other
# language has every answer, title and choice the English has, which `_check` enforces).
LANGUAGES = ("en", "es")
# People often name the opioid they use as context ("I'm on oxy, does valium help?", "my husband
# takes clonidine to stop heroin"): medicines answered from these columns are what someone uses,
# and the medicine being asked about is then the other one (actions/medication.py,
# components/medication_extractor.py).
CONTEXT_COLUMNS = frozenset({"opioid", "heroin"})
FILES = {
    "en": ("medication_answers.yml", "question_titles.yml"),
    "es": ("medication_answers_es.yml", "question_titles_es.yml"),
}


def content_dir() -> Path:
    return Path(os.environ.get("FAQ_CONTENT_DIR", Path(__file__).resolve().parent))


@dataclass(frozen=True)
class Medication:
    key: str
    name: str
    column: str
    # How the replies in other languages name it ("es": "metadona"); English uses `name`.
    names: Mapping[str, str] = field(default_factory=dict)

    def display(self, language: str | None = None) -> str:
        return self.names.get(language or "en", self.name)


@dataclass(frozen=True)
class Texts:
    """What the assistant says in one language: the medication answers and the "did you mean" texts."""

    answers: dict[str, dict[str, dict[str, Any]]]
    which_medication: dict[str, Any]
    question_titles: dict[str, str]
    suggestion_texts: dict[str, str]

    def answer(self, question: str, medication: Medication) -> dict[str, Any]:
        return self.answers[question][medication.column]


@dataclass(frozen=True)
class Content:
    medications: dict[str, Medication]
    texts: dict[str, Texts]

    def language(self, language: str | None) -> Texts:
        """The texts of a language, English for a language without them (or none)."""
        return self.texts.get(language or "en", self.texts["en"])

    # English, the reference the other languages follow.
    @property
    def answers(self) -> dict[str, dict[str, dict[str, Any]]]:
        return self.texts["en"].answers

    @property
    def which_medication(self) -> dict[str, Any]:
        return self.texts["en"].which_medication

    @property
    def question_titles(self) -> dict[str, str]:
        return self.texts["en"].question_titles

    @property
    def suggestion_texts(self) -> dict[str, str]:
        return self.texts["en"].suggestion_texts


def variation_language(variation: Mapping[str, Any]) -> str | None:
    """The language a domain.yml response variation (or a bot message made from one) is conditioned
    on (`condition: [{type: slot, name: language, value: es}]`); None for the unconditioned one."""
    for condition in variation.get("condition") or []:
        if isinstance(condition, Mapping) and condition.get("name") == "language":
            return str(condition.get("value"))
    return None


# libyaml's safe loader where PyYAML was built with it: the same data as yaml.SafeLoader (checked in
# tests/test_components.py) at a tenth of the time.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """A YAML file's data, as yaml.safe_load reads it."""
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=YAML_LOADER)


def files_digest(paths: list[Path]) -> str:
    """One SHA-256 of the files' bytes in order (a missing file counts as empty): a component's
    fingerprint for files it reads beside the training data, so that Rasa retrains it when one
    changes."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


def _check(content: Content) -> None:
    columns = {med.column for med in content.medications.values()}
    for language, texts in content.texts.items():
        answers_file = FILES[language][0]
        missing = [
            f"{q}.{c}" for q in QUESTIONS for c in sorted(columns) if c not in texts.answers.get(q, {})
        ]
        if missing:
            raise ValueError(f"content/{answers_file} lacks answers for: {', '.join(missing)}")
        unknown = [k for k in texts.which_medication["choices"] if k not in content.medications]
        if unknown:
            raise ValueError(
                f"which_medication.choices in content/{answers_file} names unknown medications: {unknown}"
            )
        untitled = sorted(set(content.question_titles) - set(texts.question_titles))
        if untitled:
            raise ValueError(f"content/{FILES[language][1]} lacks titles for: {', '.join(untitled)}")
        unnamed = sorted(
            m.key for m in content.medications.values() if language != "en" and language not in m.names
        )
        if unnamed:
            raise ValueError(f"content/medications.yml lacks name_{language} for: {', '.join(unnamed)}")


def _texts(directory: Path, language: str) -> Texts:
    answers_file, titles_file = FILES[language]
    answers = read_yaml(directory / answers_file)
    titles = read_yaml(directory / titles_file)
    return Texts(
        answers=answers["answers"],
        which_medication=answers["which_medication"],
        question_titles=titles["titles"],
        suggestion_texts={
            "prompt": titles["prompt"],
            "none": titles["none_of_these"],
            "any_medication": titles["any_medication"],
        },
    )


@functools.cache
def load_content(directory: Path | None = None) -> Content:
    """Reads the content once per process; raises ValueError naming what is missing."""
    directory = directory or content_dir()
    catalogue = read_yaml(directory / "medications.yml")
    content = Content(
        medications={
            m["key"]: Medication(
                key=m["key"],
                name=m["name"],
                column=m["answers"],
                names={lang: m[f"name_{lang}"] for lang in LANGUAGES if f"name_{lang}" in m},
            )
            for m in catalogue["medications"]
        },
        texts={language: _texts(directory, language) for language in LANGUAGES},
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
