"""Held-out evaluation of the trained model, per test set: answered correctly, did-you-mean, wrong
answers (and, for did-you-mean, whether the right question was among the three offered), crisis
recall and look-alike precision; plus intent accuracy, macro-F1 and confusions of the older set.

Used by `make evaluate` (prints the report) and by tests/test_nlu_quality.py (asserts the targets).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import weakref
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
HOLDOUT = ROOT / "tests" / "nlu_holdout.yml"
SAFETY = ROOT / "tests" / "safety_phrases.yml"
MODEL = ROOT / "models" / "assistant.tar.gz"
# Message sets: (name, NLU file, conversations file or None). Safety sets: (name, file, crisis
# list, look-alike list). All held out: never trained on (tests/test_content.py checks the overlap).
MESSAGE_SETS = [
    ("older held-out", HOLDOUT, None),
    ("realistic", ROOT / "tests" / "realistic_nlu.yml", ROOT / "tests" / "realistic_conversations.yml"),
    ("fresh", ROOT / "tests" / "fresh_nlu.yml", None),
    ("unseen", ROOT / "tests" / "unseen_nlu.yml", None),
    ("typos", ROOT / "tests" / "typos_nlu.yml", None),
    ("traffic", ROOT / "tests" / "traffic_nlu.yml", None),
    ("medicines", ROOT / "tests" / "medicines_nlu.yml", None),
    ("context", ROOT / "tests" / "context_nlu.yml", None),
    (
        "new writers",
        ROOT / "tests" / "newwriters_dev_nlu.yml",
        ROOT / "tests" / "newwriters_dev_conversations.yml",
    ),
    ("spanish", ROOT / "tests" / "spanish_dev_nlu.yml", ROOT / "tests" / "spanish_dev_conversations.yml"),
    (
        "spanish second",
        ROOT / "tests" / "spanish_second_nlu.yml",
        ROOT / "tests" / "spanish_second_conversations.yml",
    ),
    (
        "spanish third",
        ROOT / "tests" / "spanish_third_nlu.yml",
        ROOT / "tests" / "spanish_third_conversations.yml",
    ),
    (
        "spanish fifth",
        ROOT / "tests" / "spanish_fifth_nlu.yml",
        ROOT / "tests" / "spanish_fifth_conversations.yml",
    ),
    (
        "new writers second",
        ROOT / "tests" / "newwriters_second_nlu.yml",
        ROOT / "tests" / "newwriters_second_conversations.yml",
    ),
    (
        "spanish sixth",
        ROOT / "tests" / "spanish_sixth_nlu.yml",
        ROOT / "tests" / "spanish_sixth_conversations.yml",
    ),
    (
        "new writers third",
        ROOT / "tests" / "newwriters_third_nlu.yml",
        ROOT / "tests" / "newwriters_third_conversations.yml",
    ),
    (
        "spanish seventh",
        ROOT / "tests" / "spanish_seventh_nlu.yml",
        ROOT / "tests" / "spanish_seventh_conversations.yml",
    ),
    (
        "new writers fourth",
        ROOT / "tests" / "newwriters_fourth_nlu.yml",
        ROOT / "tests" / "newwriters_fourth_conversations.yml",
    ),
    (
        "spanish eighth",
        ROOT / "tests" / "spanish_eighth_nlu.yml",
        ROOT / "tests" / "spanish_eighth_conversations.yml",
    ),
    (
        "new writers fifth",
        ROOT / "tests" / "newwriters_fifth_nlu.yml",
        ROOT / "tests" / "newwriters_fifth_conversations.yml",
    ),
    (
        "spanish ninth",
        ROOT / "tests" / "spanish_ninth_nlu.yml",
        ROOT / "tests" / "spanish_ninth_conversations.yml",
    ),
    (
        "new writers sixth",
        ROOT / "tests" / "newwriters_sixth_nlu.yml",
        ROOT / "tests" / "newwriters_sixth_conversations.yml",
    ),
    (
        "spanish tenth",
        ROOT / "tests" / "spanish_tenth_nlu.yml",
        ROOT / "tests" / "spanish_tenth_conversations.yml",
    ),
    (
        "new writers seventh",
        ROOT / "tests" / "newwriters_seventh_nlu.yml",
        ROOT / "tests" / "newwriters_seventh_conversations.yml",
    ),
    (
        "spanish eleventh",
        ROOT / "tests" / "spanish_eleventh_nlu.yml",
        ROOT / "tests" / "spanish_eleventh_conversations.yml",
    ),
    (
        "new writers eighth",
        ROOT / "tests" / "newwriters_eighth_nlu.yml",
        ROOT / "tests" / "newwriters_eighth_conversations.yml",
    ),
    (
        "spanish twelfth",
        ROOT / "tests" / "spanish_twelfth_nlu.yml",
        ROOT / "tests" / "spanish_twelfth_conversations.yml",
    ),
    (
        "new writers ninth",
        ROOT / "tests" / "newwriters_ninth_nlu.yml",
        ROOT / "tests" / "newwriters_ninth_conversations.yml",
    ),
    (
        "spanish thirteenth",
        ROOT / "tests" / "spanish_thirteenth_nlu.yml",
        ROOT / "tests" / "spanish_thirteenth_conversations.yml",
    ),
]
# The language each message set is written in (English unless listed).
SET_LANGUAGES = {
    "spanish": "es",
    "spanish second": "es",
    "spanish third": "es",
    "spanish fifth": "es",
    "spanish sixth": "es",
    "spanish seventh": "es",
    "spanish eighth": "es",
    "spanish ninth": "es",
    "spanish tenth": "es",
    "spanish eleventh": "es",
    "spanish twelfth": "es",
    "spanish thirteenth": "es",
}
SAFETY_SETS = [
    ("older safety", SAFETY, "crisis", "not_crisis"),
    ("realistic safety", ROOT / "tests" / "realistic_safety.yml", "overdose_now", "look_alikes"),
    ("fresh safety", ROOT / "tests" / "fresh_safety.yml", "overdose_now", "look_alikes"),
    ("unseen safety", ROOT / "tests" / "unseen_safety.yml", "overdose_now", "look_alikes"),
    ("typos safety", ROOT / "tests" / "typos_safety.yml", "overdose_now", "look_alikes"),
    ("traffic safety", ROOT / "tests" / "traffic_safety.yml", "overdose_now", "look_alikes"),
    ("medicines safety", ROOT / "tests" / "medicines_safety.yml", "overdose_now", "look_alikes"),
    ("context safety", ROOT / "tests" / "context_safety.yml", "overdose_now", "look_alikes"),
    ("spanish safety", ROOT / "tests" / "spanish_dev_safety.yml", "overdose_now", "look_alikes"),
    ("spanish second safety", ROOT / "tests" / "spanish_second_safety.yml", "overdose_now", "look_alikes"),
    ("spanish third safety", ROOT / "tests" / "spanish_third_safety.yml", "overdose_now", "look_alikes"),
    ("spanish fourth safety", ROOT / "tests" / "spanish_fourth_safety.yml", "overdose_now", "look_alikes"),
    ("spanish fifth safety", ROOT / "tests" / "spanish_fifth_safety.yml", "overdose_now", "look_alikes"),
    ("new writers safety", ROOT / "tests" / "newwriters_dev_safety.yml", "overdose_now", "look_alikes"),
    ("spanish sixth safety", ROOT / "tests" / "spanish_sixth_safety.yml", "overdose_now", "look_alikes"),
    (
        "new writers second safety",
        ROOT / "tests" / "newwriters_second_safety.yml",
        "overdose_now",
        "look_alikes",
    ),
    ("crisis dev safety", ROOT / "tests" / "crisis_dev_safety.yml", "overdose_now", "look_alikes"),
    (
        "new writers third safety",
        ROOT / "tests" / "newwriters_third_safety.yml",
        "overdose_now",
        "look_alikes",
    ),
    ("spanish seventh safety", ROOT / "tests" / "spanish_seventh_safety.yml", "overdose_now", "look_alikes"),
    (
        "spanish crisis dev safety",
        ROOT / "tests" / "spanish_crisis_dev_safety.yml",
        "overdose_now",
        "look_alikes",
    ),
    ("crisis dev second safety", ROOT / "tests" / "crisis_dev2_safety.yml", "overdose_now", "look_alikes"),
    (
        "new writers fourth safety",
        ROOT / "tests" / "newwriters_fourth_safety.yml",
        "overdose_now",
        "look_alikes",
    ),
    ("spanish eighth safety", ROOT / "tests" / "spanish_eighth_safety.yml", "overdose_now", "look_alikes"),
    (
        "spanish crisis dev second safety",
        ROOT / "tests" / "spanish_crisis_dev2_safety.yml",
        "overdose_now",
        "look_alikes",
    ),
    (
        "new writers fifth safety",
        ROOT / "tests" / "newwriters_fifth_safety.yml",
        "overdose_now",
        "look_alikes",
    ),
    ("spanish ninth safety", ROOT / "tests" / "spanish_ninth_safety.yml", "overdose_now", "look_alikes"),
    (
        "new writers sixth safety",
        ROOT / "tests" / "newwriters_sixth_safety.yml",
        "overdose_now",
        "look_alikes",
    ),
    ("spanish tenth safety", ROOT / "tests" / "spanish_tenth_safety.yml", "overdose_now", "look_alikes"),
    (
        "new writers seventh safety",
        ROOT / "tests" / "newwriters_seventh_safety.yml",
        "overdose_now",
        "look_alikes",
    ),
    (
        "spanish eleventh safety",
        ROOT / "tests" / "spanish_eleventh_safety.yml",
        "overdose_now",
        "look_alikes",
    ),
    (
        "new writers eighth safety",
        ROOT / "tests" / "newwriters_eighth_safety.yml",
        "overdose_now",
        "look_alikes",
    ),
    (
        "spanish twelfth safety",
        ROOT / "tests" / "spanish_twelfth_safety.yml",
        "overdose_now",
        "look_alikes",
    ),
    (
        "new writers ninth safety",
        ROOT / "tests" / "newwriters_ninth_safety.yml",
        "overdose_now",
        "look_alikes",
    ),
    (
        "spanish thirteenth safety",
        ROOT / "tests" / "spanish_thirteenth_safety.yml",
        "overdose_now",
        "look_alikes",
    ),
]
# Dosing sets: (name, file, requests that must get the no-dose reply, look-alikes that must not).
DOSING_SETS = [
    ("older safety", SAFETY, "dosing", "not_dosing"),
    ("spanish safety", ROOT / "tests" / "spanish_dev_safety.yml", "dosing", "dosing_look_alikes"),
    ("spanish second safety", ROOT / "tests" / "spanish_second_safety.yml", "dosing", "dosing_look_alikes"),
    ("spanish third safety", ROOT / "tests" / "spanish_third_safety.yml", "dosing", "dosing_look_alikes"),
    ("spanish fourth safety", ROOT / "tests" / "spanish_fourth_safety.yml", "dosing", "dosing_look_alikes"),
    ("spanish fifth safety", ROOT / "tests" / "spanish_fifth_safety.yml", "dosing", "dosing_look_alikes"),
    ("spanish phrases", ROOT / "tests" / "safety_phrases_es.yml", "dosing", "not_dosing"),
    ("new writers safety", ROOT / "tests" / "newwriters_dev_safety.yml", "dosing", None),
    ("spanish sixth safety", ROOT / "tests" / "spanish_sixth_safety.yml", "dosing", "dosing_look_alikes"),
    ("new writers second safety", ROOT / "tests" / "newwriters_second_safety.yml", "dosing", None),
    ("crisis dev safety", ROOT / "tests" / "crisis_dev_safety.yml", "dosing", None),
    ("new writers third safety", ROOT / "tests" / "newwriters_third_safety.yml", "dosing", None),
    (
        "spanish seventh safety",
        ROOT / "tests" / "spanish_seventh_safety.yml",
        "dosing",
        "dosing_look_alikes",
    ),
    (
        "spanish crisis dev safety",
        ROOT / "tests" / "spanish_crisis_dev_safety.yml",
        "dosing",
        "dosing_look_alikes",
    ),
    ("crisis dev second safety", ROOT / "tests" / "crisis_dev2_safety.yml", "dosing", None),
    ("new writers fourth safety", ROOT / "tests" / "newwriters_fourth_safety.yml", "dosing", None),
    ("spanish eighth safety", ROOT / "tests" / "spanish_eighth_safety.yml", "dosing", "dosing_look_alikes"),
    (
        "spanish crisis dev second safety",
        ROOT / "tests" / "spanish_crisis_dev2_safety.yml",
        "dosing",
        "dosing_look_alikes",
    ),
    ("new writers fifth safety", ROOT / "tests" / "newwriters_fifth_safety.yml", "dosing", None),
    ("spanish ninth safety", ROOT / "tests" / "spanish_ninth_safety.yml", "dosing", "dosing_look_alikes"),
    ("new writers sixth safety", ROOT / "tests" / "newwriters_sixth_safety.yml", "dosing", None),
    ("spanish tenth safety", ROOT / "tests" / "spanish_tenth_safety.yml", "dosing", "dosing_look_alikes"),
    ("new writers seventh safety", ROOT / "tests" / "newwriters_seventh_safety.yml", "dosing", None),
    (
        "spanish eleventh safety",
        ROOT / "tests" / "spanish_eleventh_safety.yml",
        "dosing",
        "dosing_look_alikes",
    ),
    ("new writers eighth safety", ROOT / "tests" / "newwriters_eighth_safety.yml", "dosing", None),
    (
        "spanish twelfth safety",
        ROOT / "tests" / "spanish_twelfth_safety.yml",
        "dosing",
        "dosing_look_alikes",
    ),
    ("new writers ninth safety", ROOT / "tests" / "newwriters_ninth_safety.yml", "dosing", None),
    (
        "spanish thirteenth safety",
        ROOT / "tests" / "spanish_thirteenth_safety.yml",
        "dosing",
        "dosing_look_alikes",
    ),
]
# Out-of-scope sets: (name, file, list of questions the sources do not cover: other substances, the
# law, buying drugs), which must get the "outside what I can answer" reply with the helpline.
OUT_OF_SCOPE_SETS = [
    ("new writers safety", ROOT / "tests" / "newwriters_dev_safety.yml", "out_of_scope"),
    ("new writers second safety", ROOT / "tests" / "newwriters_second_safety.yml", "out_of_scope"),
    ("crisis dev safety", ROOT / "tests" / "crisis_dev_safety.yml", "out_of_scope"),
    ("new writers third safety", ROOT / "tests" / "newwriters_third_safety.yml", "out_of_scope"),
    ("crisis dev second safety", ROOT / "tests" / "crisis_dev2_safety.yml", "out_of_scope"),
    ("new writers fourth safety", ROOT / "tests" / "newwriters_fourth_safety.yml", "out_of_scope"),
    ("new writers fifth safety", ROOT / "tests" / "newwriters_fifth_safety.yml", "out_of_scope"),
    ("new writers sixth safety", ROOT / "tests" / "newwriters_sixth_safety.yml", "out_of_scope"),
    ("new writers seventh safety", ROOT / "tests" / "newwriters_seventh_safety.yml", "out_of_scope"),
    ("new writers eighth safety", ROOT / "tests" / "newwriters_eighth_safety.yml", "out_of_scope"),
    ("new writers ninth safety", ROOT / "tests" / "newwriters_ninth_safety.yml", "out_of_scope"),
]
OUT_OF_SCOPE = "out_of_scope"
# Written for one measurement at the end of the work they were written for, and not scored before
# (never trained on: tests/test_content.py checks them with the others).
UNSCORED = [
    ROOT / "tests" / name
    for name in (
        "newwriters_final_nlu.yml",
        "newwriters_final_safety.yml",
        "newwriters_final_conversations.yml",
        "spanish_final_nlu.yml",
        "spanish_final_safety.yml",
        "spanish_final_conversations.yml",
    )
    if (ROOT / "tests" / name).exists()
]
# Sets by the language their messages are written in: how many the assistant reads as that language.
LANGUAGE_SETS = [(name, nlu, SET_LANGUAGES.get(name, "en")) for name, nlu, _ in MESSAGE_SETS]
# Messages in other languages written in the Latin alphabet (French, Portuguese, ...), by language:
# how many get the reply for another language ("other": both languages and the help lines). The
# second file also has English and Spanish messages that must not get it (`english_or_spanish`).
OTHER_LANGUAGES = [ROOT / "tests" / "other_languages.yml", ROOT / "tests" / "other_languages_second.yml"]
FALLBACK = "nlu_fallback"
DOSING = "ask_dosing"
MENTION = "crisis_mention"


def load_agent(model: Path = MODEL) -> Any:
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)

    return Agent.load(str(model))


# Each model's parse of each text, computed once. A parse depends on the text alone (a set's
# conversations are replayed by Conversation below, not by a tracker), and the reports and the
# gates read the same texts many times: a safety set's look-alikes three times, every message set
# twice.
_PARSED: weakref.WeakKeyDictionary[Any, dict[str, dict[str, Any]]] = weakref.WeakKeyDictionary()


async def parse(agent: Any, text: str) -> dict[str, Any]:
    parsed = _PARSED.setdefault(agent, {})
    if text not in parsed:
        parsed[text] = await agent.parse_message(text)
    return copy.deepcopy(parsed[text])


async def parse_all(agent: Any, texts: list[str]) -> list[dict[str, Any]]:
    return [await parse(agent, text) for text in texts]


def holdout_examples(path: Path = HOLDOUT) -> list[tuple[str, str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


@dataclass
class HoldoutReport:
    total: int
    accuracy: float
    macro_f1: float
    f1: dict[str, float]
    confusions: Counter = field(default_factory=Counter)
    errors: list[tuple[str, str, str]] = field(default_factory=list)


def holdout_report(expected: list[str], predicted: list[str], texts: list[str]) -> HoldoutReport:
    from sklearn.metrics import f1_score

    labels = sorted(set(expected))
    scores = f1_score(expected, predicted, labels=labels, average=None, zero_division=0)
    errors = [(t, e, p) for t, e, p in zip(texts, expected, predicted, strict=True) if e != p]
    return HoldoutReport(
        total=len(expected),
        accuracy=sum(e == p for e, p in zip(expected, predicted, strict=True)) / len(expected),
        macro_f1=float(scores.mean()),
        f1=dict(zip(labels, map(float, scores), strict=True)),
        confusions=Counter((e, p) for _, e, p in errors),
        errors=errors,
    )


def protected_intents(config: Path = ROOT / "config.yml") -> set[str]:
    """The intents config.yml's intent decider protects (crisis, dosing): declared there once."""
    pipeline = yaml.safe_load(config.read_text(encoding="utf-8"))["pipeline"]
    return {i for step in pipeline for i in step.get("protected_intents", [])}


FORCED = protected_intents()


def threshold_sweep(
    expected: list[str], parsed: list[dict[str, Any]]
) -> list[tuple[float, float, float, float]]:
    """(threshold, ambiguity, accuracy, confidently wrong) for FallbackClassifier settings.

    Re-applies the fallback to the classifier's own ranking, so one parse serves every setting.
    A safety-net override (confidence 1.0) is kept as it is.
    """
    rows = []
    for exp, p in zip(expected, parsed, strict=True):
        ranking = [r for r in p["intent_ranking"] if r["name"] != "nlu_fallback"]
        if p["intent"]["name"] in FORCED and p["intent"]["confidence"] == 1.0:
            rows.append((exp, p["intent"]["name"], 1.0, 0.0))
        else:
            second = ranking[1]["confidence"] if len(ranking) > 1 else 0.0
            rows.append((exp, ranking[0]["name"], ranking[0]["confidence"], second))
    table = []
    for threshold in (0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7):
        for ambiguity in (0.0, 0.05, 0.1):
            kept = [(e, t) for e, t, c, s in rows if c >= threshold and c - s >= ambiguity]
            right = sum(e == t for e, t in kept)
            table.append((threshold, ambiguity, right / len(rows), (len(kept) - right) / len(rows)))
    return table


def safety_sets(path: Path = SAFETY) -> dict[str, list[str]]:
    """Each list of a safety file as texts (a look-alike may be {text, intent, footer})."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {key: [m["text"] if isinstance(m, dict) else m for m in items] for key, items in data.items()}


# ------------------------------------------------------------------ answers, as a person sees them
@dataclass
class Turn:
    """One message to send; `expected_*` is what it should be answered with; `new` starts a chat."""

    text: str
    intent: str
    medication: str | None
    new: bool = True


@dataclass
class SetReport:
    name: str
    total: int = 0
    correct: int = 0
    did_you_mean: int = 0
    wrong: int = 0
    # did-you-means of a message that asked a question (not a greeting, thanks, feedback or an
    # out-of-scope remark, which no button offers), and of those, how many offered the right one
    did_you_mean_questions: int = 0
    offered_right: int = 0
    misses: list[tuple[str, str, str]] = field(default_factory=list)

    def rate(self, count: int) -> float:
        return count / self.total if self.total else 0.0


def _canonical(value: str | None, catalogue: dict[str, str]) -> str | None:
    """The catalogue key of an annotated or extracted medicine; Rasa reads `(medication: klonopin)`
    as " klonopin", hence the strip."""
    key = value.strip().lower() if value else None
    return catalogue.get(key, key) if key else None


def message_turns(path: Path) -> list[Turn]:
    """Single messages from a Rasa NLU file; the expected medication is the one the answer is about
    (picked from the annotated ones as the action picks: a context opioid is not the question)."""
    from rasa.shared.nlu.training_data.loading import load_data

    from content import CONTEXT_COLUMNS, load_content

    content = load_content()
    catalogue = medication_catalogue()
    turns = []
    for m in load_data(str(path)).intent_examples:
        named = [
            _canonical(e["value"], catalogue) for e in m.get("entities") or [] if e["entity"] == "medication"
        ]
        asked = [
            k
            for k in named
            if k in content.medications and content.medications[k].column not in CONTEXT_COLUMNS
        ]
        known = [k for k in named if k in content.medications]
        turns.append(Turn(m.get("text"), m.get("intent"), next(iter(asked or known), None)))
    return turns


def conversation_turns(path: Path) -> list[Turn]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Turn(t["text"], t["intent"], t.get("medication"), new=i == 0)
        for conversation in data["conversations"]
        for i, t in enumerate(conversation["turns"])
    ]


def medication_catalogue() -> dict[str, str]:
    """Every recognised spelling -> canonical medication key (content/medications.yml)."""
    data = yaml.safe_load((ROOT / "content" / "medications.yml").read_text(encoding="utf-8"))
    return {name.lower(): med["key"] for med in data["medications"] for name in [med["key"], *med["names"]]}


class Conversation:
    """What the assistant remembers between turns (slots the actions set), to judge follow-ups."""

    def __init__(self) -> None:
        self.medication: str | None = None
        self.question: str | None = None

    def hear(self, entities: list[dict[str, Any]]) -> None:
        """Rasa's action_extract_slots, after every message whatever its intent (even a fallback):
        the `medication` slot (a from_entity text slot, domain.yml) takes the last medication named,
        and the extractor lists the opioids someone uses first (components/medication_extractor.py).
        So "my friend gave him klonopin, is that ok" followed by "what are the risks of it" is about
        Klonopin although the first answer was not a medication answer, and so is "he takes klonopin
        to get off heroin" followed by "is it safe"."""
        named = [e["value"] for e in entities if e.get("entity") == "medication" and e.get("value")]
        if named:
            self.medication = named[-1]

    def answer(self, intent: str, entities: list[dict[str, Any]], text: str = "") -> tuple[str, str | None]:
        """The answer a person gets: the intent, and for medication questions the medication it is
        about (as actions/medication.py picks it). Updates the remembered slots as Rasa and the action
        do."""
        from rasa_sdk import Tracker

        from actions.medication import INTENT_QUESTIONS, pick_medication
        from content import load_content

        before = self.medication
        self.hear(entities)
        if intent not in INTENT_QUESTIONS and intent != "ask_what_about":
            return intent, None
        events = [{"event": "slot", "name": "medication", "value": before}, {"event": "user", "text": text}]
        tracker = Tracker(
            "eval",
            {"medication": self.medication},
            {"intent": {"name": intent}, "entities": entities, "text": text},
            events,
            False,
            None,
            {},
            "",
        )
        medication = pick_medication(tracker, load_content())
        question = INTENT_QUESTIONS.get(intent) or self.question or "helps"
        self.question = question
        if medication is not None:
            self.medication = medication.key
        return f"med:{question}", medication.key if medication else None


def offered(parsed: dict[str, Any]) -> list[str]:
    """The questions "did you mean" offers for a parse, as actions/suggestions.py chooses them."""
    from actions.suggestions import MAX_SUGGESTIONS, MIN_CONFIDENCE
    from content import load_content

    titles = load_content().question_titles
    return [
        r["name"]
        for r in parsed.get("intent_ranking") or []
        if r.get("name") in titles and r.get("confidence", 0) >= MIN_CONFIDENCE
    ][:MAX_SUGGESTIONS]


def asks_a_question(intent: str) -> bool:
    """Whether a message of this intent asks a question "did you mean" can offer: one with a button
    title, or a follow-up on a medicine ("and klonopin?", counted although no button names it)."""
    from content import load_content

    return intent in load_content().question_titles or intent == "ask_what_about"


async def answer_report(agent: Any, name: str, turns: list[Turn]) -> SetReport:
    report = SetReport(name)
    expected_chat, predicted_chat = Conversation(), Conversation()
    catalogue = medication_catalogue()
    for turn in turns:
        if turn.new:
            expected_chat, predicted_chat = Conversation(), Conversation()
        parsed = await parse(agent, turn.text)
        intent = parsed["intent"]["name"]
        expected_entities = [{"entity": "medication", "value": turn.medication}] if turn.medication else []
        want = expected_chat.answer(turn.intent, expected_entities)
        entities = [
            {**e, "value": _canonical(e.get("value"), catalogue)} for e in parsed.get("entities") or []
        ]
        if intent == FALLBACK:
            predicted_chat.hear(entities)
            got: tuple[str, str | None] = (FALLBACK, None)
        else:
            got = predicted_chat.answer(intent, entities, turn.text)
        report.total += 1
        if got == want:
            report.correct += 1
            continue
        if intent == FALLBACK:
            report.did_you_mean += 1
            if asks_a_question(turn.intent):
                report.did_you_mean_questions += 1
                report.offered_right += turn.intent in offered(parsed)
        else:
            report.wrong += 1
        report.misses.append(
            (turn.text, f"{want[0]} {want[1] or ''}".strip(), f"{got[0]} {got[1] or ''}".strip())
        )
    return report


@dataclass
class SafetyReport:
    name: str
    crisis_total: int
    crisis_caught: int
    look_alikes: int
    look_alikes_flagged: int
    missed: list[str]
    flagged: list[str]

    @property
    def recall(self) -> float:
        return self.crisis_caught / self.crisis_total

    @property
    def look_alike_precision(self) -> float:
        """Share of look-alikes NOT answered as a crisis."""
        return 1 - self.look_alikes_flagged / self.look_alikes


async def safety_report(agent: Any, name: str, path: Path, crisis_key: str, look_key: str) -> SafetyReport:
    sets = safety_sets(path)
    crisis = [
        (t, p["intent"]["name"])
        for t, p in zip(sets[crisis_key], await parse_all(agent, sets[crisis_key]), strict=True)
    ]
    looks = [
        (t, p["intent"]["name"])
        for t, p in zip(sets[look_key], await parse_all(agent, sets[look_key]), strict=True)
    ]
    return SafetyReport(
        name,
        len(crisis),
        sum(i == "crisis" for _, i in crisis),
        len(looks),
        sum(i == "crisis" for _, i in looks),
        [t for t, i in crisis if i != "crisis"],
        [t for t, i in looks if i == "crisis"],
    )


@dataclass
class DosingReport:
    name: str
    requests: int
    refused: int
    look_alikes: int
    look_alikes_refused: int
    missed: list[str]
    flagged: list[str]


async def dosing_report(agent: Any, name: str, path: Path, key: str, look_key: str | None) -> DosingReport:
    """Requests answered with the no-dose reply, or with another reply that gives no dose and routes
    to help: the crisis reply, or the out-of-scope reply with the helpline (buying a medicine or
    getting it without a prescription is a purchase question, as docs/topics.md sorts it)."""
    sets = safety_sets(path)
    asks = [p["intent"]["name"] for p in await parse_all(agent, sets[key])]
    refusals = {*FORCED, OUT_OF_SCOPE}
    look_texts = sets[look_key] if look_key else []
    looks = [p["intent"]["name"] for p in await parse_all(agent, look_texts)]
    return DosingReport(
        name,
        len(asks),
        sum(i in refusals for i in asks),
        len(looks),
        sum(i == DOSING for i in looks),
        [t for t, i in zip(sets[key], asks, strict=True) if i not in refusals],
        [t for t, i in zip(look_texts, looks, strict=True) if i == DOSING],
    )


async def out_of_scope_report(agent: Any, name: str, path: Path, key: str) -> tuple[int, list[str]]:
    """(how many were routed to help, the texts answered otherwise). Crisis and dosing replies route
    to help as well, and outrank the out-of-scope reply."""
    texts = safety_sets(path)[key]
    intents = [p["intent"]["name"] for p in await parse_all(agent, texts)]
    routed = {OUT_OF_SCOPE, *FORCED}
    return len(texts), [t for t, i in zip(texts, intents, strict=True) if i not in routed]


@dataclass
class FooterReport:
    """Look-alikes that mention an overdose, suicide or a seizure (`footer: true` in the set) and get
    the one-line footer after their answer, and those that mention none but get it anyway."""

    name: str
    due: int
    given: int
    not_due: int
    given_anyway: int
    missed: list[str]


def gets_the_help_line(parsed: dict[str, Any]) -> bool:
    """Whether the reply carries the one line with 911 and 988 (not the crisis reply): after the
    answer to a crisis mention (components/footer_policy.py), or before the "did you mean" buttons
    when the message may be an emergency (actions/suggestions.py)."""
    from actions.suggestions import may_be_an_emergency

    intent = parsed["intent"]["name"]
    if intent == "crisis":
        return False
    if intent == FALLBACK:
        return may_be_an_emergency(parsed)
    return any(e.get("entity") == MENTION for e in parsed.get("entities") or [])


async def footer_report(agent: Any, name: str, path: Path, look_key: str) -> FooterReport | None:
    items = yaml.safe_load(path.read_text(encoding="utf-8"))[look_key]
    if not all(isinstance(m, dict) and "footer" in m for m in items):
        return None
    parsed = await parse_all(agent, [m["text"] for m in items])
    gets = [gets_the_help_line(p) for p in parsed]
    due = [g for m, g in zip(items, gets, strict=True) if m["footer"]]
    not_due = [g for m, g in zip(items, gets, strict=True) if not m["footer"]]
    missed = [m["text"] for m, g in zip(items, gets, strict=True) if m["footer"] and not g]
    return FooterReport(name, len(due), sum(due), len(not_due), sum(not_due), missed)


def message_language(parsed: dict[str, Any]) -> str | None:
    """The language the assistant read a message as (components/language.py), if it was sure."""
    return next((e["value"] for e in parsed.get("entities") or [] if e.get("entity") == "language"), None)


async def language_shares(agent: Any, path: Path) -> Counter:
    """How many messages of an NLU file were read as each language (None: not sure)."""
    texts = [t.text for t in message_turns(path)]
    return Counter(message_language(p) for p in await parse_all(agent, texts))


def other_language_messages(path: Path, key: str = "messages") -> dict[str, list[str]]:
    """The messages of an other-languages file, by language (`key`: "messages", in other languages;
    "english_or_spanish", in English or Spanish)."""
    return yaml.safe_load(path.read_text(encoding="utf-8")).get(key, {})


async def other_language_shares(agent: Any, path: Path, key: str = "messages") -> dict[str, Counter]:
    """Per language of the file, how many of its messages were read as each language ("other": the
    reply for another language; None: not sure)."""
    return {
        language: Counter(message_language(p) for p in await parse_all(agent, texts))
        for language, texts in other_language_messages(path, key).items()
    }


def set_turns(nlu: Path, conversations: Path | None) -> list[Turn]:
    return message_turns(nlu) + (conversation_turns(conversations) if conversations else [])


def print_answer_table(reports: list[SetReport], safety: list[SafetyReport]) -> None:
    print(
        "Answers, per set (a did-you-mean is not a wrong answer; 'right among 3' is of the did-you-means"
        " of a question, not of greetings, thanks or feedback):"
    )
    print(
        f"  {'set':<16} {'n':>4}  {'correct':>8}  {'did-you-mean':>12}  {'wrong':>6}  {'right among 3':>13}"
    )
    for r in reports:
        among = f"{r.offered_right}/{r.did_you_mean_questions}" if r.did_you_mean_questions else "-"
        print(
            f"  {r.name:<16} {r.total:>4}  {r.rate(r.correct):>8.1%}  {r.rate(r.did_you_mean):>12.1%}"
            f"  {r.rate(r.wrong):>6.1%}  {among:>13}"
        )
    print("Crisis, per set:")
    print(f"  {'set':<16} {'crisis recall':>15}  {'look-alike precision':>22}")
    for s in safety:
        print(
            f"  {s.name:<16} {s.crisis_caught:>3}/{s.crisis_total:<3} {s.recall:>6.1%}"
            f"  {s.look_alikes - s.look_alikes_flagged:>3}/{s.look_alikes:<3} {s.look_alike_precision:>9.1%}"
        )


async def evaluate(model: Path, verbose: bool) -> None:
    agent = load_agent(model)
    reports = [
        await answer_report(agent, name, set_turns(nlu, conv))
        for name, nlu, conv in MESSAGE_SETS
        if nlu.exists()
    ]
    safety = [await safety_report(agent, *spec) for spec in SAFETY_SETS if spec[1].exists()]
    print_answer_table(reports, safety)
    print("Dosing, per set (refused: the no-dose, crisis or out-of-scope reply; look-alikes: answered):")
    dosing = [await dosing_report(agent, *spec) for spec in DOSING_SETS if spec[1].exists()]
    for d in dosing:
        print(
            f"  {d.name:<16} refused {d.refused:>3}/{d.requests:<3}"
            f"  look-alikes answered {d.look_alikes - d.look_alikes_refused:>3}/{d.look_alikes:<3}"
        )
    print(
        "Footer (one help line after the answer), look-alikes that mention an overdose, suicide or a seizure:"
    )
    footers = [f for spec in SAFETY_SETS if (f := await footer_report(agent, spec[0], spec[1], spec[3]))]
    for f in footers:
        print(
            f"  {f.name:<16} given {f.given:>3}/{f.due:<3}"
            f"  given to the others {f.given_anyway:>3}/{f.not_due:<3}"
        )
    print("Out of scope, per set (routed: the out-of-scope reply with the helpline):")
    out_of_scope = [(spec[0], *await out_of_scope_report(agent, *spec)) for spec in OUT_OF_SCOPE_SETS]
    for name, total, answered in out_of_scope:
        print(f"  {name:<16} routed {total - len(answered):>3}/{total:<3}")
    print("Language read, per set (share of its messages read as English / Spanish / not sure):")
    for name, nlu, _ in LANGUAGE_SETS:
        if nlu.exists():
            shares = await language_shares(agent, nlu)
            total = sum(shares.values())
            print(
                f"  {name:<16} {total:>4}  en {shares['en'] / total:>6.1%}  es {shares['es'] / total:>6.1%}"
                f"  not sure {shares[None] / total:>6.1%}"
            )
    print("Other languages (messages given the reply for another language / read as en, es, not sure):")
    for path in OTHER_LANGUAGES:
        for key in ("messages", "english_or_spanish"):
            for language, shares in (await other_language_shares(agent, path, key)).items():
                print(
                    f"  {path.stem + ' ' + language:<36} {shares['other']:>3}/{sum(shares.values()):<3}"
                    f"  en {shares['en']:>3}  es {shares['es']:>3}  not sure {shares[None]:>3}"
                )
    if verbose:
        for r in reports:
            print(f"  misses in {r.name} (expected -> got):")
            for text, want, got in r.misses:
                print(f"    {text!r}: {want} -> {got}")
        for s in safety:
            for text in s.missed:
                print(f"  crisis missed in {s.name}: {text!r}")
            for text in s.flagged:
                print(f"  look-alike flagged in {s.name}: {text!r}")
        for f in footers:
            for text in f.missed:
                print(f"  no footer in {f.name}: {text!r}")
        for name, _, answered in out_of_scope:
            for text in answered:
                print(f"  out-of-scope question answered in {name}: {text!r}")
        for d in dosing:
            for text in d.missed:
                print(f"  dosing request answered in {d.name}: {text!r}")
            for text in d.flagged:
                print(f"  dosing look-alike refused in {d.name}: {text!r}")
    print()
    pairs = holdout_examples()
    texts = [t for t, _ in pairs]
    parsed = await parse_all(agent, texts)
    predicted = [p["intent"]["name"] for p in parsed]
    report = holdout_report([i for _, i in pairs], predicted, texts)
    print(f"Held-out NLU ({HOLDOUT.relative_to(ROOT)}): {report.total} messages")
    print(f"  intent accuracy {report.accuracy:.1%}   macro-F1 {report.macro_f1:.3f}")
    print("  worst intents (F1):")
    for intent, score in sorted(report.f1.items(), key=lambda kv: kv[1])[:6]:
        print(f"    {score:.2f}  {intent}")
    print("  confusions (expected -> predicted: count):")
    for (exp, pred), n in report.confusions.most_common(10):
        print(f"    {exp} -> {pred}: {n}")
    for text, exp, pred in report.errors:
        print(f"    e.g. {text!r}: {exp} -> {pred}")
    print("  FallbackClassifier settings (accuracy counts a fallback as a miss):")
    print("    threshold  ambiguity  accuracy  confidently wrong")
    for threshold, ambiguity, accuracy, wrong in threshold_sweep([i for _, i in pairs], parsed):
        print(f"    {threshold:9.2f}  {ambiguity:9.2f}  {accuracy:8.1%}  {wrong:17.1%}")

    sets = safety_sets()
    print(f"Safety sets ({SAFETY.relative_to(ROOT)}):")
    for name, want, positive in [
        ("crisis", "crisis", True),
        ("not_crisis", "crisis", False),
        ("dosing", "ask_dosing", True),
        ("not_dosing", "ask_dosing", False),
    ]:
        results = await parse_all(agent, sets[name])
        hits = [r["intent"]["name"] == want for r in results]
        ok = sum(h == positive for h in hits)
        label = "recall" if positive else "correctly not " + want
        print(f"  {name}: {ok}/{len(hits)} {label} ({ok / len(hits):.1%})")
        for p, h in zip(results, hits, strict=True):
            if h != positive:
                print(f"    miss: {p['text']!r} -> {p['intent']['name']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--misses", action="store_true", help="list every miss of every set")
    args = parser.parse_args()
    if not args.model.is_file():
        # Rasa would load the newest model beside the path instead: figures of another model.
        parser.error(f"no trained model at {args.model} (train it first: make train)")
    asyncio.run(evaluate(args.model, args.misses))


if __name__ == "__main__":
    main()
