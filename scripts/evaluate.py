"""Held-out evaluation of the trained model: intent accuracy, macro-F1, worst intents, confusions,
and the safety sets (crisis recall, look-alike precision, dosing).

Used by `make evaluate` (prints the report) and by tests/test_nlu_quality.py (asserts the targets).
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
HOLDOUT = ROOT / "tests" / "nlu_holdout.yml"
SAFETY = ROOT / "tests" / "safety_phrases.yml"
MODEL = ROOT / "models" / "assistant.tar.gz"


def load_agent(model: Path = MODEL) -> Any:
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)

    return Agent.load(str(model))


async def parse_all(agent: Any, texts: list[str]) -> list[dict[str, Any]]:
    return [await agent.parse_message(text) for text in texts]


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


FORCED = {"crisis", "ask_dosing"}


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
    return yaml.safe_load(path.read_text(encoding="utf-8"))


async def evaluate(model: Path) -> None:
    agent = load_agent(model)
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
        for r, h in zip(results, hits, strict=True):
            if h != positive:
                print(f"    miss: {r['text']!r} -> {r['intent']['name']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=MODEL)
    args = parser.parse_args()
    asyncio.run(evaluate(args.model))


if __name__ == "__main__":
    main()
