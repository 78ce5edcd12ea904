"""Writes the widget's "Get help now" content, in each language, from domain.yml's resource slots."""

from __future__ import annotations

import argparse
import json
import re
import string
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = ROOT / "domain.yml"
PANEL = ROOT / "widget" / "help_panel.yml"
OUT = ROOT / "widget" / "build" / "help.json"

# A standalone three-digit number in a help resource is a short dialling code (988, 911): the widget
# turns exactly these into tel: links, so no code is hard-coded in JavaScript.
SHORT_CODE = re.compile(r"(?<![\w-])\d{3}(?![\w-])")


def resource_values(domain: dict[str, Any]) -> dict[str, str]:
    """The help resources and source titles: the slots that have an initial value."""
    slots = domain["slots"].items()
    return {name: str(spec["initial_value"]) for name, spec in slots if "initial_value" in spec}


def placeholders(template: str) -> list[str]:
    return [field for _, field, _, _ in string.Formatter().parse(template) if field]


def panel_in(
    values: dict[str, str], panel: dict[str, Any], language: str
) -> tuple[dict[str, Any], list[str]]:
    """One language's button, title and filled-in lines, and the slots they use."""
    used: list[str] = []
    lines = []
    for template in panel["lines"]:
        names = placeholders(template)
        missing = [name for name in names if name not in values]
        if missing:
            raise KeyError(f"{PANEL.name}: {missing} are not resource slots of {DOMAIN.name}")
        # A service with a route of its own in this language must be shown with it.
        english = [name for name in names if language != "en" and f"{name}_{language}" in values]
        if english:
            wanted = [f"{name}_{language}" for name in english]
            raise ValueError(f"{PANEL.name} ({language}): write {wanted} instead of {english}")
        used += names
        lines.append(template.format(**values))
    return {"button": panel["button"], "title": panel["title"], "lines": lines}, used


def help_content(domain: dict[str, Any], panel: dict[str, Any]) -> dict[str, Any]:
    """English at the top (button, title, lines, shortCodes), as before there were other languages;
    each other language of the panel under its code ("es": {button, title, lines})."""
    values = resource_values(domain)
    content, used = panel_in(values, panel, "en")
    translations: dict[str, Any] = {}
    for language in sorted(key for key, value in panel.items() if isinstance(value, dict)):
        translations[language], in_language = panel_in(values, panel[language], language)
        used += in_language
    short_codes = sorted({code for name in used for code in SHORT_CODE.findall(values[name])})
    return {**content, "shortCodes": short_codes, **translations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    domain = yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))
    content = help_content(domain, yaml.safe_load(PANEL.read_text(encoding="utf-8")))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(content, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
