"""RecentRulePolicy predicts exactly what RulePolicy predicts, from the last few states only."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
    deserialise_events,
)
from rasa.shared.core.trackers import DialogueStateTracker

from components.recent_rule_policy import RecentRulePolicy, RecentStates

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "assistant.tar.gz"


def start() -> list[Event]:
    return [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted(ACTION_LISTEN_NAME)]


def user_turn(intent: str, medication: str | None = None) -> list[Event]:
    text, parsed = f"about {intent}", {"name": intent, "confidence": 0.9}
    # As the NLU pipeline leaves it: token spans as tuples, which the database gives back as lists.
    parse_data = {
        "intent": parsed,
        "entities": [],
        "text": text,
        "text_tokens": [(0, 5), (6, 6 + len(intent))],
    }
    events: list[Event] = [
        UserUttered(text, parsed, parse_data=parse_data),
        ActionExecuted(f"utter_{intent}"),
        BotUttered("an answer"),
    ]
    if medication:
        events.append(SlotSet("medication", medication))
    return [*events, ActionExecuted(ACTION_LISTEN_NAME)]


def test_recent_states_are_the_end_of_the_full_history(rasa_domain):
    recent = RecentStates()
    tracker = DialogueStateTracker.from_events("ann", start(), rasa_domain.slots)
    for n in range(30):
        for event in user_turn(["greet", "ask_med_risks", "thank"][n % 3], ["valium", None][n % 2]):
            tracker.update(event)
            full = tracker.past_states(rasa_domain)
            for turns in (1, 3, 5):
                assert recent.states(tracker, rasa_domain, turns) == full[-turns:]


def test_a_rebuilt_tracker_continues_from_what_was_replayed(rasa_domain, monkeypatch):
    recent = RecentStates()
    events = start() + user_turn("greet") + user_turn("ask_med_helps", "valium")
    first = DialogueStateTracker.from_events("ben", events, rasa_domain.slots)
    recent.states(first, rasa_domain, 4)

    # The next message: a new tracker over the same event objects (as the incremental store gives),
    # the last of them read back from the database (equal, not the same objects).
    read_back = deserialise_events([json.loads(json.dumps(e.as_dict())) for e in events[-5:]])
    second = DialogueStateTracker.from_events(
        "ben", [*events[:-5], *read_back, *user_turn("thank")], rasa_domain.slots
    )
    monkeypatch.setattr(RecentStates, "_from_start", lambda *a: pytest.fail("replayed from the start"))
    assert recent.states(second, rasa_domain, 4) == second.past_states(rasa_domain)[-4:]


def test_anything_else_is_replayed_from_the_start(rasa_domain):
    recent = RecentStates()
    events = start() + user_turn("greet") + user_turn("ask_med_helps", "valium")
    recent.states(DialogueStateTracker.from_events("cy", events, rasa_domain.slots), rasa_domain, 4)
    cases = {
        "other events": [*start(), *user_turn("greet"), *user_turn("thank")],
        "an event read back with other content": [
            *events[:-2],
            SlotSet("medication", "klonopin"),
            events[-1],
        ],
        "an utterance reverted": [*events, UserUtteranceReverted()],
        "a new session": [*events, *start(), *user_turn("greet")],
        "another sender's history": [*start(), *user_turn("crisis")],
    }
    for name, case in cases.items():
        tracker = DialogueStateTracker.from_events("cy", case, rasa_domain.slots)
        assert recent.states(tracker, rasa_domain, 4) == tracker.past_states(rasa_domain)[-4:], name


@pytest.fixture(scope="module")
def trained_policies(model, tmp_path_factory):
    """RulePolicy and RecentRulePolicy with the rules of the trained model."""
    storage, metadata = LocalModelStorage.from_model_archive(tmp_path_factory.mktemp("model"), model)
    node = next(n for n in metadata.predict_schema.nodes.values() if issubclass(n.uses, RulePolicy))
    context = ExecutionContext(metadata.predict_schema, metadata.model_id)
    # As the graph runner does: the class defaults under the model's config.
    config = {**node.uses.get_default_config(), **node.config}
    loaded = node.uses.load(config, storage, node.resource, context)
    make = [RulePolicy, RecentRulePolicy]
    return metadata.domain, [
        kind(config, storage, node.resource, context, featurizer=loaded.featurizer, lookup=loaded.lookup)
        for kind in make
    ]


@pytest.mark.model
def test_same_predictions_as_rule_policy_over_a_long_conversation(trained_policies):
    domain, (rule_policy, recent_policy) = trained_policies
    assert 3 <= recent_policy.history_window() <= 10
    rng = random.Random(7)
    intents = [*domain.intents, "nlu_fallback", "greet", "none_of_these"]
    tracker = DialogueStateTracker.from_events("long", start(), domain.slots)
    predictions = 0
    for message in range(150):
        intent = rng.choice(intents)
        confidence = 0.3 if intent == "nlu_fallback" else 0.95
        tracker.update(UserUttered(f"message {message}", {"name": intent, "confidence": confidence}))
        if rng.random() < 0.3:
            tracker.update(SlotSet("medication", rng.choice(["valium", "klonopin"])))
        if message % 10 == 0:
            # A new tracker over the same events, as the server builds one per message.
            tracker = DialogueStateTracker.from_events("long", list(tracker.events), domain.slots)
        for _ in range(5):
            expected = rule_policy.predict_action_probabilities(tracker, domain)
            got = recent_policy.predict_action_probabilities(tracker, domain)
            assert np.array_equal(got.probabilities, expected.probabilities), (message, intent)
            assert (got.events, got.hide_rule_turn, got.is_end_to_end_prediction) == (
                expected.events,
                expected.hide_rule_turn,
                expected.is_end_to_end_prediction,
            )
            predictions += 1
            action = domain.action_names_or_texts[int(np.argmax(expected.probabilities))]
            tracker.update(ActionExecuted(action))
            if action == ACTION_LISTEN_NAME:
                break
    assert predictions > 300
    assert len(tracker.events) > 600
