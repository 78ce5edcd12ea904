"""The safety net's matcher three ways: one spaCy Matcher reading `_.fold` through the token
extension, as the pattern files write it; one Matcher reading it from NORM; and the AnchoredMatcher
(NORM, a Matcher per anchor word, run only when the message has the word), as
components/safety_net.py runs it. Prints the time per message of each, side by side, with the ratios
to the first, and checks all three find the same matches.

    .venv/bin/python -m benchmarks.matcher [--repeat 5]

Messages: every message of the YAML sets in tests/ (English, Spanish and other languages), parsed
by the project's spaCy pipeline (build/spacy_model, `make spacy`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from benchmarks.__main__ import ROOT


def test_set_texts() -> list[str]:
    """Every message of the YAML sets in tests/, once each: NLU examples (entity markup taken off),
    conversation turns, and the lists of the safety and other-language files."""
    import re

    import yaml

    texts: list[str] = []
    for path in sorted((ROOT / "tests").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            continue
        for block in data.get("nlu") or []:
            for line in (block.get("examples") or "").splitlines():
                example = line.strip().removeprefix("- ")
                texts.append(re.sub(r"\[([^\]]*)\](\([^)]*\)|\{[^}]*\})", r"\1", example))
        for conversation in data.get("conversations") or []:
            texts += [turn["text"] for turn in conversation.get("turns") or []]
        for key, items in data.items():
            if key in ("nlu", "conversations", "stories", "rules") or not isinstance(items, list):
                continue
            texts += [
                i if isinstance(i, str) else i.get("text", "") for i in items if isinstance(i, (str, dict))
            ]
    return [t for t in dict.fromkeys(texts) if t]


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
    extension = build_matcher(nlp.vocab, patterns, native=False)
    native = build_matcher(nlp.vocab, patterns, anchored=False)
    anchored = build_matcher(nlp.vocab, patterns)
    docs = [nlp(text.lower()) for text in test_set_texts()]

    def on_norm(matcher: Any) -> Callable[[Any], Any]:
        def match(doc: Any) -> Any:
            set_fold_norms(doc)
            return matcher(doc)

        return match

    differ = sum(
        not (sorted(extension(doc)) == sorted(on_norm(native)(doc)) == sorted(on_norm(anchored)(doc)))
        for doc in docs
    )
    slow = per_message_ms(extension, docs, args.repeat)
    fast = per_message_ms(on_norm(native), docs, args.repeat)
    fastest = per_message_ms(on_norm(anchored), docs, args.repeat)
    print(f"{len(docs)} messages, {sum(len(d) for d in docs) / len(docs):.1f} tokens each on average")
    print(f"{'through _.fold':>16}  {'from NORM':>10}  {'anchored':>10}")
    print(f"{slow:13.2f} ms  {fast:7.2f} ms  {fastest:7.2f} ms")
    print(f"{1:15.2f}x  {fast / slow:8.2f}x  {fastest / slow:8.2f}x")
    print(f"messages whose matches differ: {differ}")


if __name__ == "__main__":
    main()
