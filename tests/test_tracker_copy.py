"""FastCopyTracker.copy makes the tracker Rasa's replaying copy makes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    Event,
    FollowupAction,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from performance.tracker_copy import FastCopyTracker

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def rasa_domain() -> Domain:
    return Domain.load(str(ROOT / "domain"))


def conversation() -> list[Event]:
    return [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
        UserUttered("does valium help", {"name": "ask_med_helps", "confidence": 0.9}),
        ActionExecuted("action_answer_medication"),
        BotUttered("It can ease symptoms", {"buttons": [{"title": "Risks", "payload": "/ask_med_risks"}]}),
        SlotSet("medication", "valium"),
        SlotSet("med_question", "helps"),
        ActionExecuted("action_listen"),
    ]


CASES = {
    "a conversation": conversation(),
    "a reverted utterance": [
        *conversation(),
        UserUttered("oops", {"name": "greet"}),
        UserUtteranceReverted(),
    ],
    "a loop and a follow-up": [*conversation(), ActiveLoop("some_form"), FollowupAction("utter_greet")],
    "paused": [*conversation(), ConversationPaused()],
    "restarted": [*conversation(), Restarted(), ActionExecuted("action_listen")],
    "nothing yet": [],
}


def comparable(tracker: DialogueStateTracker) -> dict[str, Any]:
    state = dict(vars(tracker))
    state["events"] = list(tracker.events)
    state["slots"] = {name: (type(slot), vars(slot)) for name, slot in tracker.slots.items()}
    return state


@pytest.mark.parametrize("name", list(CASES))
def test_same_tracker_as_a_replayed_copy(name, rasa_domain):
    tracker = FastCopyTracker.from_events("dee", CASES[name], rasa_domain.slots)
    tracker.model_id, tracker.assistant_id = "model", "assistant"
    fast, replayed = tracker.copy(), DialogueStateTracker.copy(tracker)
    assert type(fast) is type(replayed) is DialogueStateTracker
    assert comparable(fast) == comparable(replayed)
    assert fast.current_state(EventVerbosity.ALL) == replayed.current_state(EventVerbosity.ALL)


def test_the_copy_is_independent(rasa_domain):
    tracker = FastCopyTracker.from_events("eli", conversation(), rasa_domain.slots)
    twin = tracker.copy()
    twin.update(SlotSet("medication", "klonopin"))
    twin.update(ActionExecuted("utter_greet"))
    assert tracker.get_slot("medication") == "valium"
    assert tracker.latest_action_name == "action_listen"
    assert len(tracker.events) == len(conversation())
