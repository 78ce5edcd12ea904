"""Adds training examples to an intent in the data/nlu/<topic>.yml file that holds it, or, for a
message in another language the assistant speaks, in data/nlu/<language>/ (the file there holding the
intent's examples in that language; data/nlu/<language>/console.yml when none does yet).

The file is edited as text, so the change is a small reviewable diff: the new lines go at the end of
the intent's `examples: |` block, in its indentation, and nothing else in the file moves. The result
is parsed again (YAML and Rasa's own NLU reader) before it replaces the file atomically (a temporary
file in the same folder, then os.replace), so a failure leaves the old file as it was.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# A training example longer than this is more likely pasted text than a question.
ENGLISH = "en"
NEW_FILE = "console.yml"  # where an intent with no examples yet in a language gets its first ones
NEW_FILE_HEADER = (
    'version: "3.1"\n\n'
    "# Examples added from the operator console for intents that had none in this language.\n"
    "nlu:\n"
)
LANGUAGE_FOLDER = re.compile(r"^[a-z]{2}$")
MAX_EXAMPLE_CHARS = 300
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
INTENT_LINE = re.compile(r"^(?P<indent>\s*)- intent:\s*(?P<name>\S+)\s*$")
EXAMPLES_LINE = re.compile(r"^(?P<indent>\s*)examples:\s*\|[-+]?\s*$")


class NluError(Exception):
    """The intent is not one of the project's, or its file has a shape this writer does not edit."""


def entity_regex() -> re.Pattern[str]:
    # Rasa's own pattern for `[text](entity)`, `[text]{...}` and `[text][...]` in an example.
    from rasa.shared.nlu.training_data.entities_parser import ENTITY_REGEX

    return ENTITY_REGEX


def key(text: str) -> str:
    """What makes two examples the same for Rasa's validator, a little more strictly (case, spaces)."""
    return " ".join(text.casefold().split())


def clean(text: str) -> str:
    """One line of text as a person typed it: NFC, no control characters, single spaces."""
    return " ".join(CONTROL.sub(" ", unicodedata.normalize("NFC", text)).split())


@dataclass
class AddResult:
    intent: str
    path: Path
    added: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (text, why)


class NluFiles:
    """The intents of data/nlu/*.yml under a project folder, and the one writer of those files."""

    def __init__(self, project: Path) -> None:
        self.project = project.resolve()  # its domain.yml is what the translations export reads
        self.folder = (project / "data" / "nlu").resolve()
        self._lock = threading.Lock()

    def topics(self) -> dict[str, str]:
        """Intent -> topic (the stem of the file holding its examples), read fresh each time."""
        found: dict[str, str] = {}
        for path in sorted(self.folder.glob("*.yml")):
            for block in self._load(path).get("nlu") or []:
                if isinstance(block, dict) and "intent" in block and "examples" in block:
                    found.setdefault(str(block["intent"]), path.stem)
        return found

    def examples(self) -> dict[str, str]:
        """Every example in data/nlu and its subfolders (data/nlu/es: the Spanish examples), entity
        annotations read as their text: key -> its intent. A phrasing there already is not added again
        (Rasa's validator warns about an example in two intents)."""
        pattern = entity_regex()
        seen: dict[str, str] = {}
        for path in sorted(self.folder.rglob("*.yml")):
            for block in self._load(path).get("nlu") or []:
                if isinstance(block, dict) and isinstance(block.get("examples"), str):
                    for line in block["examples"].splitlines():
                        text = line.strip().removeprefix("- ")
                        plain = pattern.sub(lambda match: match.group("entity_text"), text)
                        seen.setdefault(key(plain), str(block.get("intent")))
        return seen

    def path_of(self, intent: str, topic: str | None = None, language: str = ENGLISH) -> Path:
        """The file holding `intent`'s examples in `language`; NluError for any name that is not a
        real one. The intent and its topic are the English ones (data/nlu/<topic>.yml); another
        language's examples live in data/nlu/<language>/, in the file that already holds the intent
        there, else in data/nlu/<language>/console.yml (created on the first write)."""
        topics = self.topics()
        if intent not in topics:
            raise NluError(f"unknown intent {intent!r}")
        if topic is not None and topic != topics[intent]:
            raise NluError(f"intent {intent!r} is not in topic {topic!r}")
        if language == ENGLISH:
            path = (self.folder / f"{topics[intent]}.yml").resolve()
        else:
            folder = self.folder / language
            if not LANGUAGE_FOLDER.match(language) or not folder.is_dir():
                raise NluError(f"no training data in language {language!r}")
            path = next(
                (
                    candidate.resolve()
                    for candidate in sorted(folder.glob("*.yml"))
                    if intent in self._intents(candidate)
                ),
                (folder / NEW_FILE).resolve(),
            )
        if path.parent not in (self.folder, (self.folder / language).resolve()):
            raise NluError("path outside data/nlu")  # cannot happen with a glob's stem; the last guard
        return path

    def add_examples(
        self, intent: str, texts: list[str], topic: str | None = None, language: str = ENGLISH
    ) -> AddResult:
        """Appends the new, acceptable `texts` to `intent` in `language`; reports the others with the
        reason."""
        with self._lock:
            path = self.path_of(intent, topic, language)
            result = AddResult(intent=intent, path=path)
            existing = self.examples()
            pattern = entity_regex()
            lines: list[str] = []
            for raw in texts:
                text = clean(raw)
                if not text:
                    result.skipped.append((raw, "empty"))
                elif len(text) > MAX_EXAMPLE_CHARS:
                    result.skipped.append((text, f"longer than {MAX_EXAMPLE_CHARS} characters"))
                elif text.startswith("/"):
                    # Rasa reads a message starting with '/' as an intent payload, never as words.
                    result.skipped.append((text, "a button's payload, not a wording people type"))
                elif pattern.search(text):
                    result.skipped.append((text, "Rasa would read part of it as an entity annotation"))
                elif key(text) in existing:
                    result.skipped.append((text, f"already an example of {existing[key(text)]}"))
                else:
                    existing[key(text)] = intent
                    lines.append(text)
            if lines:
                self._write(path, intent, lines)
                result.added = lines
            return result

    def _write(self, path: Path, intent: str, new: list[str]) -> None:
        original = path.read_text(encoding="utf-8") if path.exists() else NEW_FILE_HEADER
        before = {b["intent"]: b["examples"] for b in self._parse(original) if "intent" in b}
        if intent in before:
            updated = insert_examples(original, intent, new)
        else:  # the intent's first examples in this file
            updated = append_intent(original, intent, new)
        after = {b["intent"]: b["examples"] for b in self._parse(updated) if "intent" in b}
        wanted = before.get(intent, "").rstrip("\n") + "\n" + "".join(f"- {text}\n" for text in new)
        wanted = wanted.lstrip("\n")
        if after[intent] != wanted or {k: v for k, v in after.items() if k != intent} != {
            k: v for k, v in before.items() if k != intent
        }:
            raise NluError(f"{path.name}: the edit would not read back as intended; file left unchanged")
        check_with_rasa(updated)
        atomic_write(path, updated)

    def _intents(self, path: Path) -> set[str]:
        return {
            str(b["intent"])
            for b in self._load(path).get("nlu") or []
            if isinstance(b, dict) and "intent" in b
        }

    @staticmethod
    def _parse(text: str) -> list[dict]:
        return [block for block in (yaml.safe_load(text) or {}).get("nlu") or [] if isinstance(block, dict)]

    @staticmethod
    def _load(path: Path) -> dict:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def insert_examples(text: str, intent: str, new: list[str]) -> str:
    """`text` (a data/nlu file) with `new` appended to the `examples: |` block of `intent`."""
    lines = text.splitlines(keepends=True)
    start = next(
        (i for i, line in enumerate(lines) if (m := INTENT_LINE.match(line)) and m["name"] == intent), None
    )
    if start is None:
        raise NluError(f"no '- intent: {intent}' line")
    block = next(
        (i for i in range(start + 1, len(lines)) if EXAMPLES_LINE.match(lines[i])),
        None,
    )
    if block is None or any(INTENT_LINE.match(line) for line in lines[start + 1 : block]):
        raise NluError(f"intent {intent} has no 'examples: |' block")
    key_indent = len(EXAMPLES_LINE.match(lines[block])["indent"])  # type: ignore[index]
    last = block  # the block's last non-blank line
    item_indent = None
    for i in range(block + 1, len(lines)):
        stripped = lines[i].strip()
        if not stripped:
            continue
        indent = len(lines[i]) - len(lines[i].lstrip(" "))
        if indent <= key_indent:
            break
        item_indent = item_indent if item_indent is not None else indent
        last = i
    prefix = " " * (item_indent if item_indent is not None else key_indent + 2)
    if not lines[last].endswith("\n"):
        lines[last] += "\n"
    added = [f"{prefix}- {example}\n" for example in new]
    return "".join(lines[: last + 1] + added + lines[last + 1 :])


def append_intent(text: str, intent: str, new: list[str]) -> str:
    """`text` (a data/nlu file whose `nlu:` list is its last key) with a new block for `intent`."""
    if not text.endswith("\n"):
        text += "\n"
    return text + f"- intent: {intent}\n  examples: |\n" + "".join(f"    - {example}\n" for example in new)


def check_with_rasa(text: str) -> None:
    """Rasa's reader accepts the file (its schema, and every example as an example)."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    try:
        RasaYAMLReader().reads(text)
    except Exception as error:
        raise NluError(f"Rasa would not read the result: {error}") from error


def atomic_write(path: Path, text: str) -> None:
    """Replaces `path` with `text` in one step: a reader sees the old file or the new, never half."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
