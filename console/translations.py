"""Every answer's English text beside its translation, as CSV, for a translation review by a clinician.

One row per text: each response of domain.yml (its English variation and its `language = <code>`
variation), each medication answer of content/medication_answers.yml and its translation file, and,
in a row of their own, the button titles that come with a text. Placeholders of domain.yml's slots
(`{helpline}`, `{helpline_es}`, `{source_valium_es}`, ...) are filled with the slots' initial values,
so the reviewer reads the text as a person gets it; `{medication}` stays as it is, since the
medication answers that have it are sent for several medicines.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from content import FILES, QUESTIONS, Content, fill, variation_language

# The CSV starts with a byte order mark so that spreadsheet programs read it as UTF-8 (accents intact).
BOM = "\ufeff"
DOMAIN_SOURCE = "domain.yml"


def titles(variation: dict[str, Any] | None) -> str:
    return "\n".join(str(b.get("title", "")) for b in (variation or {}).get("buttons") or [])


def slot_values(domain: dict[str, Any]) -> dict[str, Any]:
    """The slots' initial values: what every {placeholder} of a reply is filled with."""
    slots = domain.get("slots") or {}
    return {name: spec.get("initial_value") for name, spec in slots.items() if isinstance(spec, dict)}


def domain_rows(domain: dict[str, Any], language: str) -> Iterator[tuple[str, str, str, str]]:
    values = slot_values(domain)
    for name, variations in (domain.get("responses") or {}).items():
        english = [v for v in variations if variation_language(v) is None]
        translated = [v for v in variations if variation_language(v) == language]
        # Rasa picks one variation at random when a response has several: each gets its row.
        for position in range(max(len(english), len(translated))):
            en = english[position] if position < len(english) else None
            other = translated[position] if position < len(translated) else None
            label = name if position == 0 else f"{name} (variation {position + 1})"
            yield (
                label,
                fill(str((en or {}).get("text") or ""), values),
                fill(str((other or {}).get("text") or ""), values),
                DOMAIN_SOURCE,
            )
            if titles(en) or titles(other):
                yield f"{label} (buttons)", titles(en), titles(other), DOMAIN_SOURCE


def content_rows(
    content: Content, domain: dict[str, Any], language: str
) -> Iterator[tuple[str, str, str, str]]:
    values = slot_values(domain)
    source = f"content/{FILES['en'][0]}; content/{FILES[language][0]}"
    english, translated = content.language("en"), content.language(language)
    for question in QUESTIONS:
        for column, answer in english.answers.get(question, {}).items():
            other = translated.answers.get(question, {}).get(column) or {}
            name = f"{question}.{column}"
            yield name, fill(answer.get("text", ""), values), fill(other.get("text", ""), values), source
            if titles(answer) or titles(other):
                yield f"{name} (buttons)", titles(answer), titles(other), source
    yield (
        "which_medication",
        english.which_medication.get("text", ""),
        translated.which_medication.get("text", ""),
        source,
    )


def export(domain_path: Path, content: Content, language: str, language_name: str) -> str:
    """The CSV: answer, English text, <language> text, source."""
    domain = yaml.safe_load(domain_path.read_text(encoding="utf-8")) or {}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["answer", "English text", f"{language_name} text", "source"])
    writer.writerows(domain_rows(domain, language))
    writer.writerows(content_rows(content, domain, language))
    return BOM + out.getvalue()
