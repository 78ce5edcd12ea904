"""The second crisis detector measured side by side: alone, and beside the safety patterns.

    python -m scripts.crisis_detectors            # the n-gram detector the model uses
    python -m scripts.crisis_detectors --encoder  # and the same classifier on MiniLM sentence vectors

Each detector is trained as `make train` trains it (the crisis intent's examples against every
other intent's, and content/crisis_examples*.yml), then read on what it never trained on: the
crises and look-alikes of every safety set `make evaluate` reads, and the questions of its message
sets. For each language and threshold it prints what the detector catches alone, and what it would
add to the patterns: look-alikes and questions that would get the crisis reply from it (no crisis
pattern matched them, and no look-alike veto did). docs/evaluation.md, "The second crisis detector",
has the figures.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import spacy
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.loading import load_data
from sklearn.linear_model import LogisticRegression

from components.crisis_detector import CrisisDetector
from components.safety_net import CRISIS_LABEL, SafetyNet, register_fold_extension
from scripts.evaluate import MESSAGE_SETS, SAFETY_SETS, SET_LANGUAGES, message_turns, safety_sets

ROOT = Path(__file__).resolve().parent.parent
THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.9)


def test_messages() -> dict[tuple[str, str], list[str]]:
    groups: dict[tuple[str, str], list[str]] = {}
    for name, path, crisis_key, look_key in SAFETY_SETS:
        sets = safety_sets(path)
        language = "es" if "spanish" in name else "en"
        groups.setdefault((language, "crises"), []).extend(sets.get(crisis_key, []))
        groups.setdefault((language, "look-alikes"), []).extend(sets.get(look_key, []))
    for name, nlu, _ in MESSAGE_SETS:
        language = SET_LANGUAGES.get(name, "en")
        groups.setdefault((language, "questions"), []).extend(
            turn.text for turn in message_turns(nlu) if turn.intent != "crisis"
        )
    return groups


def encoder_detector(detector: CrisisDetector, texts: list[str], labels: np.ndarray):
    from scripts.sentence_encoder import SentenceEncoder, fetch

    encoder = SentenceEncoder(fetch())
    config = CrisisDetector.get_default_config()
    regression = LogisticRegression(C=config["C"], class_weight=config["class_weight"], max_iter=5000)
    regression.fit(encoder.encode(texts), labels)
    return lambda batch: regression.predict_proba(encoder.encode(batch))[:, 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--encoder", action="store_true", help="also the classifier on MiniLM vectors")
    args = parser.parse_args()

    register_fold_extension()
    nlp = spacy.load(ROOT / "build" / "spacy_model")
    net = SafetyNet.create(SafetyNet.get_default_config(), None, None, None)
    groups = test_messages()
    matches = {key: [net.matched_and_vetoed(nlp(text)) for text in texts] for key, texts in groups.items()}

    data = load_data(str(ROOT / "data" / "nlu"))
    with tempfile.TemporaryDirectory() as folder:
        detector = CrisisDetector.create({}, LocalModelStorage(Path(folder)), Resource("detector"), None)
        detector.train(data)
        detectors = {"n-grams": detector.probabilities}
        if args.encoder:
            texts, labels = detector.training_examples(data)
            detectors["MiniLM"] = encoder_detector(detector, texts, labels)
        for language in ("en", "es"):
            patterns_caught = sum(CRISIS_LABEL in m for m, _ in matches[(language, "crises")])
            sizes = {kind: len(groups[(language, kind)]) for kind in ("crises", "look-alikes", "questions")}
            print(
                f"\n{language}: {sizes['crises']} crises (patterns {patterns_caught}), "
                f"{sizes['look-alikes']} look-alikes, {sizes['questions']} questions"
            )
            for name, probabilities in detectors.items():
                scores = {key: probabilities(groups[key]) for key in groups if key[0] == language}
                for threshold in THRESHOLDS:
                    alone = {
                        kind: int(np.sum(scores[(language, kind)] >= threshold))
                        for kind in ("crises", "look-alikes", "questions")
                    }
                    added = {
                        kind: sum(
                            1
                            for p, (found, vetoed) in zip(
                                scores[(language, kind)], matches[(language, kind)], strict=True
                            )
                            if p >= threshold and CRISIS_LABEL not in found and CRISIS_LABEL not in vetoed
                        )
                        for kind in ("look-alikes", "questions")
                    }
                    print(
                        f"  {name:8} >= {threshold:.2f}: alone, crises {alone['crises']}, look-alikes "
                        f"{alone['look-alikes']}, questions {alone['questions']}; beside the patterns, "
                        f"a crisis reply to {added['look-alikes']} more look-alikes, "
                        f"{added['questions']} more questions"
                    )


if __name__ == "__main__":
    main()
