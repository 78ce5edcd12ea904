"""The second crisis detector (components/crisis_detector.py) and how the safety net weighs it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.crisis_detector import (
    PROBABILITY_KEY,
    CrisisDetector,
    example_paths,
    read_examples,
)
from components.safety_net import CRISIS_LABEL, SafetyNet

ROOT = Path(__file__).resolve().parent.parent


def nlu(intent: str, *texts: str) -> list[Message]:
    return [Message(data={"text": text, "intent": intent}) for text in texts]


@pytest.fixture()
def examples(tmp_path: Path) -> Path:
    path = tmp_path / "examples.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "crisis": [
                    "he is not breathing and his lips are blue",
                    "she wont wake up after taking pills",
                    "my toddler swallowed my pills",
                    "i want to end my life tonight",
                    "im saying goodbye, i have all my pills ready",
                ],
                "look_alikes": [
                    "what are the signs of an overdose",
                    "i overdosed two years ago and now im clean",
                    "how do i keep my pills away from my toddler",
                ],
                "not_crisis": ["thanks, bye", "this withdrawal is killing me lol"],
            }
        ),
        encoding="utf-8",
    )
    return path


def detector_trained(tmp_path: Path, examples: Path) -> tuple[CrisisDetector, LocalModelStorage, Resource]:
    (tmp_path / "storage").mkdir()
    storage = LocalModelStorage(tmp_path / "storage")
    resource = Resource("crisis_detector")
    config = {"examples": [str(examples)], "n_features": 2**16}
    detector = CrisisDetector.create(config, storage, resource, None)  # type: ignore[arg-type]
    data = TrainingData(
        nlu("crisis", "my friend overdosed and is not breathing", "i am going to kill myself")
        + nlu("ask_withdrawal_symptoms", "what are withdrawal symptoms", "how long does withdrawal last")
        + nlu("greet", "hello", "hi there")
    )
    detector.train(data)
    return detector, storage, resource


def test_it_learns_urgency_and_a_loaded_model_gives_the_same_probabilities(tmp_path, examples) -> None:
    detector, storage, resource = detector_trained(tmp_path, examples)
    texts = ["my brother is not breathing, lips blue", "what does an overdose look like", "hello"]
    trained = detector.probabilities(texts)
    assert trained[0] > 0.5 > trained[2]
    assert trained[0] > trained[1]
    config = {"examples": [str(examples)], "n_features": 2**16}
    loaded = CrisisDetector.load(config, storage, resource, None)  # type: ignore[arg-type]
    assert np.allclose(loaded.probabilities(texts), trained, atol=1e-6)
    message = Message(data={"text": texts[0]})
    loaded.process([message])
    assert message.get(PROBABILITY_KEY) == pytest.approx(trained[0], abs=1e-4)


def test_it_refuses_to_train_without_both_kinds(tmp_path: Path) -> None:
    empty = tmp_path / "none.yml"
    empty.write_text("{}\n", encoding="utf-8")
    detector = CrisisDetector.create(
        {"examples": [str(empty)]},
        LocalModelStorage(tmp_path / "s"),
        Resource("d"),
        None,  # type: ignore[arg-type]
    )
    with pytest.raises(ValueError):
        detector.train(TrainingData(nlu("greet", "hello", "hi")))


def test_unknown_keys_in_an_examples_file_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("crises:\n  - typo in the key\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown keys"):
        read_examples([path])


def fold(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text.lower()).strip()


def test_no_example_of_the_detector_is_a_test_message() -> None:
    """The detector is measured on the blind sets of tests/: training on one of their messages would
    make that measure worthless."""
    positives, negatives = read_examples(example_paths(CrisisDetector.get_default_config()["examples"]))
    assert len(positives) > 500 and len(negatives) > 500
    ours = {fold(text) for text in positives + negatives}
    tested: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, str):
            tested.add(fold(node))
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in (ROOT / "tests").glob("*.yml"):
        walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    shared = sorted(ours & tested - {""})
    # Very short messages ("help", "ok bye") are allowed to coincide; a sentence is not.
    assert [text for text in shared if len(text.split()) > 3] == []


class _Doc:
    """The safety net's `_match` reads no doc in these tests: it is replaced."""


def net(match: tuple[list[str], set[str], bool]) -> SafetyNet:
    safety = SafetyNet(SafetyNet.get_default_config(), {}, None, None)  # type: ignore[arg-type]
    safety._match = lambda doc: match  # type: ignore[method-assign]
    return safety


def parsed(safety: SafetyNet, probability: float | None, intent: str = "ask_withdrawal_symptoms") -> Message:
    message = Message(data={"text": "a message", "intent": {"name": intent, "confidence": 0.9}})
    message.set("text_spacy_doc", _Doc())
    if probability is not None:
        message.set(PROBABILITY_KEY, probability)
    safety.process([message], None)  # type: ignore[arg-type]
    return message


def mention(message: Message) -> bool:
    return any(e["entity"] == "crisis_mention" for e in message.get("entities") or [])


def test_a_sure_detector_makes_a_crisis_where_no_pattern_matched() -> None:
    message = parsed(net(([], set(), False)), 0.9)
    assert message.get("intent")["name"] == "crisis"


def test_a_sure_detector_outranks_a_dosing_pattern() -> None:
    message = parsed(net((["DOSING"], set(), False)), 0.9)
    assert message.get("intent")["name"] == "crisis"


def test_a_look_alike_veto_turns_a_sure_detector_into_a_mention() -> None:
    message = parsed(net(([], {CRISIS_LABEL}, True)), 0.95)
    assert message.get("intent")["name"] == "ask_withdrawal_symptoms"
    assert mention(message)


def test_a_less_sure_detector_adds_the_help_line_only() -> None:
    message = parsed(net(([], set(), False)), 0.6)
    assert message.get("intent")["name"] == "ask_withdrawal_symptoms"
    assert mention(message)


def test_an_unsure_detector_or_none_changes_nothing() -> None:
    for probability in (0.1, None):
        message = parsed(net(([], set(), False)), probability)
        assert message.get("intent")["name"] == "ask_withdrawal_symptoms"
        assert not mention(message)


def test_a_crisis_pattern_wins_whatever_the_detector_says() -> None:
    message = parsed(net(([CRISIS_LABEL], set(), False)), 0.0)
    assert message.get("intent")["name"] == "crisis"
