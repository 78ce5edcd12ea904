"""FastCopyTracker.copy makes the tracker Rasa's replaying copy makes."""

from __future__ import annotations

from typing import Any

import pytest
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

from overrides.tracker_copy import FastCopyTracker


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
    state.pop("_applied_so_far", None)  # what FastCopyTracker knows of its applied events
    state["events"] = list(tracker.events)
    state["slots"] = {name: (type(slot), vars(slot)) for name, slot in tracker.slots.items()}
    return state


@pytest.mark.parametrize("name", list(CASES))
def test_same_tracker_as_a_replayed_copy(name, rasa_domain):
    tracker = FastCopyTracker.from_events("dee", CASES[name], rasa_domain.slots)
    tracker.model_id, tracker.assistant_id = "model", "assistant"
    fast, replayed = tracker.copy(), DialogueStateTracker.copy(tracker)
    assert type(replayed) is DialogueStateTracker and isinstance(fast, DialogueStateTracker)
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


def test_applied_events_as_rasa_computes_them_at_every_step(rasa_domain, monkeypatch):
    """Kept applied events equal Rasa's after every event of random conversations with restarts,
    new sessions, reverts and loops (which make the store fall back to Rasa's computation)."""
    import random

    from rasa.shared.core.events import ActionReverted

    def random_event(rng: random.Random, n: int) -> Event:
        kind = rng.choices(
            ["user", "action", "bot", "slot", "revert_user", "revert_action", "restart", "session", "loop"],
            weights=[20, 25, 15, 10, 2, 2, 1, 1, 1],
        )[0]
        return {
            "user": lambda: UserUttered(f"text {n}", {"name": "greet", "confidence": 1.0}),
            "action": lambda: ActionExecuted(rng.choice(["action_listen", "utter_greet", "some_form"])),
            "bot": lambda: BotUttered(f"bot {n}"),
            "slot": lambda: SlotSet("medication", rng.choice(["valium", "klonopin", None])),
            "revert_user": UserUtteranceReverted,
            "revert_action": ActionReverted,
            "restart": Restarted,
            "session": SessionStarted,
            "loop": lambda: ActiveLoop(rng.choice(["some_form", None])),
        }[kind]()

    rasas = DialogueStateTracker.applied_events
    computed_by_rasa: list[int] = []
    monkeypatch.setattr(
        DialogueStateTracker, "applied_events", lambda self: computed_by_rasa.append(1) or rasas(self)
    )
    checked = 0
    for seed in range(12):
        rng = random.Random(seed)
        tracker = FastCopyTracker.from_events("eve", conversation(), rasa_domain.slots)
        for n in range(120):
            event = random_event(rng, n)
            if seed % 2 and isinstance(event, ActiveLoop):
                continue  # half the conversations without loops, where kept answers are used most
            tracker.update(event)
            if rng.random() < 0.7:  # not after every event: kept answers must also catch up
                expected = rasas(tracker)
                assert tracker.applied_events() == expected, (seed, n)
                assert tracker.applied_events() == expected  # asked twice in a row
                checked += 2
    assert checked > 1600
    # Most answers came from what was kept, not from Rasa's walk over the whole conversation.
    assert len(computed_by_rasa) < checked / 2


def test_applied_events_are_a_fresh_list_each_time(rasa_domain):
    tracker = FastCopyTracker.from_events("fay", conversation(), rasa_domain.slots)
    first = tracker.applied_events()
    first.clear()  # a caller may change the list it got
    assert tracker.applied_events() == DialogueStateTracker.applied_events(tracker) != []


def test_a_copy_carries_the_applied_events_and_goes_on_alone(rasa_domain):
    tracker = FastCopyTracker.from_events("gil", conversation(), rasa_domain.slots)
    before = tracker.applied_events()
    twin = tracker.copy()
    assert isinstance(twin, FastCopyTracker) and twin._applied_so_far is not None
    twin.update(UserUttered("more", {"name": "greet", "confidence": 1.0}))
    twin.update(UserUtteranceReverted())
    twin.update(ActionExecuted("action_listen"))
    assert twin.applied_events() == DialogueStateTracker.applied_events(twin)
    assert tracker.applied_events() == before == DialogueStateTracker.applied_events(tracker)
