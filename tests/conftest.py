"""Shared fixtures: the domain as the action server receives it, fresh trackers and dispatchers for
the actions' tests; the trained model, and the real servers the server tests talk to (started by
servers.py, with the messaging platforms' stand-ins by channel_harness.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def rasa_domain():
    """The project's domain as Rasa loads it (a rasa Domain)."""
    from rasa.shared.core.domain import Domain

    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture(scope="session")
def domain(rasa_domain) -> dict[str, Any]:
    return rasa_domain.as_dict()


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture
def make_tracker(domain: dict[str, Any]):
    """Builds a fresh Tracker for one latest user message (rasa-sdk tests/test_forms.py style)."""

    def build(
        intent: str,
        entities: list[dict[str, Any]] | None = None,
        slots: dict[str, Any] | None = None,
        events: list[dict[str, Any]] | None = None,
        ranking: list[dict[str, Any]] | None = None,
        text: str = "",
    ) -> Tracker:
        initial = {name: spec.get("initial_value") for name, spec in domain["slots"].items()}
        latest = {
            "text": text,
            "intent": {"name": intent, "confidence": 1.0},
            "entities": entities or [],
            "intent_ranking": ranking or [{"name": intent, "confidence": 1.0}],
        }
        user_event = {"event": "user", "text": text, "parse_data": latest}
        return Tracker(
            sender_id="test",
            slots={**initial, **(slots or {})},
            latest_message=latest,
            events=[*(events or []), user_event],
            paused=False,
            followup_action=None,
            active_loop={},
            latest_action_name="action_listen",
        )

    return build


def medication(value: str) -> dict[str, Any]:
    return {"entity": "medication", "value": value}


@pytest.fixture(scope="session")
def model() -> Path:
    """The trained model; a test that needs it fails, rather than skips, without it."""
    from servers import MODEL

    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test and make test-prod do)")
    return MODEL


@pytest.fixture(scope="module")
def servers(model, tmp_path_factory):
    """The real action server and Rasa server with credentials.yml, one pair per test module."""
    from servers import running_servers

    with running_servers(tmp_path_factory.mktemp("servers")) as running:
        yield running


@pytest.fixture(scope="session")
def messaging(model, tmp_path_factory):
    """One real Rasa + action server with credentials.messaging.yml, shared by tests/test_channels_*.py:
    the platforms' send APIs and the callback receiver are local stand-ins (tests/channel_harness.py)."""
    from channel_harness import messaging_servers

    with messaging_servers(tmp_path_factory.mktemp("messaging")) as running:
        yield running


@pytest.fixture(scope="session")
def spacy_model(tmp_path_factory):
    """The project's spaCy pipeline, built from content/medications.yml into a temporary folder."""
    import spacy
    from rasa.nlu.utils.spacy_utils import SpacyModel

    from scripts.build_spacy_model import build

    out = tmp_path_factory.mktemp("spacy") / "model"
    build(ROOT / "content" / "medications.yml", out)
    return SpacyModel(model=spacy.load(out), model_name=str(out))


@pytest.fixture(scope="session")
def safety_net():
    """The safety net with the project's English and Spanish patterns, as config.yml sets it up."""
    from components.safety_net import SafetyNet, load_pattern_files, pattern_paths

    config = SafetyNet.get_default_config()
    config["patterns"] = [str(ROOT / p) for p in config["patterns"]]
    patterns, together = load_pattern_files(pattern_paths(config["patterns"]))
    return SafetyNet(config, patterns, None, None, together)  # type: ignore[arg-type]
