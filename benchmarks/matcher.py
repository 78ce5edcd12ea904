"""The safety net's Matcher both ways: `_.fold` read through the token extension, as the patterns
files write it, and read from NORM, as components/safety_net.py runs it. Prints the time per message
of each, side by side, with the ratio, and checks both find the same matches.

    .venv/bin/python -m benchmarks.matcher [--repeat 5]

Messages: every held-out message of tests/ (English and Spanish), parsed by the project's spaCy
pipeline (build/spacy_model, `make spacy`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from benchmarks.__main__ import ROOT


def held_out_texts() -> list[str]:
    """Every message of the held-out sets the evaluator scores, once each."""
    import yaml
    from rasa.shared.nlu.training_data.loading import load_data

    from scripts.evaluate import DOSING_SETS, MESSAGE_SETS, SAFETY_SETS, safety_sets

    texts = [m.get("text") for _, path, _ in MESSAGE_SETS for m in load_data(str(path)).intent_examples]
    safety = dict.fromkeys([path for _, path, _, _ in SAFETY_SETS] + [path for _, path, _, _ in DOSING_SETS])
    texts += [text for path in safety for group in safety_sets(path).values() for text in group]
    texts += [
        turn["text"]
        for _, _, path in MESSAGE_SETS
        if path is not None
        for conversation in yaml.safe_load(path.read_text(encoding="utf-8"))["conversations"]
        for turn in conversation["turns"]
    ]
    return list(dict.fromkeys(texts))


def per_message_ms(match: Callable[[Any], Any], docs: list[Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for doc in docs:
            match(doc)
        best = min(best, time.perf_counter() - start)
    return best / len(docs) * 1000


def main() -> None:
    import spacy

    from components.safety_net import (
        SafetyNet,
        build_matcher,
        load_pattern_files,
        pattern_paths,
        set_fold_norms,
    )

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs over all messages; the best is kept")
    args = parser.parse_args()

    nlp = spacy.load(ROOT / "build" / "spacy_model")
    files = [str(ROOT / p) for p in SafetyNet.get_default_config()["patterns"]]
    patterns, _ = load_pattern_files(pattern_paths(files))
    extension, native = build_matcher(nlp.vocab, patterns, native=False), build_matcher(nlp.vocab, patterns)
    docs = [nlp(text.lower()) for text in held_out_texts()]

    def natively(doc: Any) -> Any:
        set_fold_norms(doc)
        return native(doc)

    differ = sum(sorted(extension(doc)) != sorted(natively(doc)) for doc in docs)
    slow = per_message_ms(extension, docs, args.repeat)
    fast = per_message_ms(natively, docs, args.repeat)
    print(f"{len(docs)} messages, {sum(len(d) for d in docs) / len(docs):.1f} tokens each on average")
    print(f"{'through _.fold':>16}  {'from NORM':>10}  ratio")
    print(f"{slow:13.2f} ms  {fast:7.2f} ms  {fast / slow:.2f}x")
    print(f"messages whose matches differ: {differ}")


if __name__ == "__main__":
    main()
