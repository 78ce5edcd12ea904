"""What Rasa posts to the action server with `recent_user_turns` (overrides/action_payload.py):
Rasa's own request, with only the recent events."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from overrides import action_payload

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def conversation(domain: Domain, turns: int) -> DialogueStateTracker:
    events: list[Event] = [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
    ]
    for n in range(turns):
        events += [
            UserUttered(f"question {n}", {"name": "ask_med_risks", "confidence": 0.9}),
            ActionExecuted("action_answer_medication"),
            BotUttered(f"answer {n}"),
            SlotSet("medication", "valium" if n % 2 else "klonopin"),
            ActionExecuted("action_listen"),
        ]
    return DialogueStateTracker.from_events("payload-test", events, domain.slots)


def requests_for(tracker: DialogueStateTracker, domain: Domain, **settings: int) -> tuple[dict, dict]:
    """(Rasa's own request, the request with the module installed) for the same action."""
    action = RemoteAction(
        "action_answer_medication", EndpointConfig("http://localhost:1/webhook", **settings)
    )
    action_payload.uninstall()
    try:
        original = action._action_call_format(tracker, domain)
    finally:
        action_payload.install()
    return original, action._action_call_format(tracker, domain)


def test_only_the_events_change(domain):
    tracker = conversation(domain, 30)
    original, trimmed = requests_for(tracker, domain, recent_user_turns=2)
    events = original["tracker"].pop("events")
    recent = trimmed["tracker"].pop("events")
    assert trimmed == original  # slots, latest message, domain, version ...: all as Rasa sends them
    # From the second-to-last user message on: its 5 events and the last turn's 5.
    assert recent == events[-10:]
    assert [e["event"] for e in recent].count("user") == 2
    assert original["tracker"]["slots"]["medication"] == "valium"


def test_without_the_setting_rasa_sends_everything(domain):
    tracker = conversation(domain, 5)
    original, installed = requests_for(tracker, domain)
    assert installed == original
    assert len(installed["tracker"]["events"]) == 3 + 5 * 5


def test_short_conversations_are_sent_whole(domain):
    tracker = conversation(domain, 1)
    original, trimmed = requests_for(tracker, domain, recent_user_turns=2)
    assert trimmed == original


def test_a_setting_below_one_is_refused(domain):
    with pytest.raises(ValueError, match="recent_user_turns"):
        requests_for(conversation(domain, 3), domain, recent_user_turns=0)


def test_recent_events_counts_user_messages():
    events: list[Event] = [
        UserUttered("a"),
        BotUttered("x"),
        UserUttered("b"),
        BotUttered("y"),
        UserUttered("c"),
    ]
    assert action_payload.recent_events(events, 1) == events[4:]
    assert action_payload.recent_events(events, 2) == events[2:]
    assert action_payload.recent_events(events, 3) == events
    assert action_payload.recent_events(events, 9) == events
