"""The lines after the first reply (components/footer_policy.py): crisis replies by urgency (a message
that only mentions an overdose, suicide or a seizure gets its answer, then one help line, marked by
components/safety_net.py), and the disclaimer once at the start of every conversation."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.nlu.constants import SPACY_DOCS
from rasa.shared.core.constants import ACTION_EXTRACT_SLOTS, ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.events import ActionExecuted, Restarted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from components.footer_policy import DISCLAIMER, FOOTER, FooterPolicy
from components.safety_net import MENTION_ENTITY, SafetyNet

ROOT = Path(__file__).resolve().parent.parent


def marked(text: str, spacy_model, safety_net: SafetyNet, intent: str = "ask_support_groups") -> bool:
    msg = Message(data={TEXT: text})
    msg.set(SPACY_DOCS[TEXT], spacy_model.model(text.lower()))
    msg.set(INTENT, {"name": intent, "confidence": 0.8})
    msg.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": 0.8}])
    safety_net.process([msg], spacy_model)
    return any(e["entity"] == MENTION_ENTITY for e in msg.get(ENTITIES, []))


@pytest.mark.parametrize(
    "text",
    [
        "can valium withdrawal cause seizures",  # a question
        "i od'd twice years ago, would a support group help",  # the past
        "im scared ill overdose if i relapse",  # a fear
        "i was suicidal last year, is therapy worth it",  # the past
        "tuve una sobredosis hace dos años, ¿me ayuda el suboxone?",  # Spanish
    ],
)
def test_a_mention_without_an_emergency_is_marked(spacy_model, safety_net, text):
    assert marked(text, spacy_model, safety_net)


@pytest.mark.parametrize(
    "text",
    [
        "does valium help with withdrawal",
        "my friend is not breathing",  # an emergency: the crisis reply has every line already
        "i want to kill myself",
    ],
)
def test_no_mark_on_an_ordinary_question_or_an_emergency(spacy_model, safety_net, text):
    assert not marked(text, spacy_model, safety_net)


def test_the_classifiers_crisis_overruled_by_a_veto_is_a_mention(spacy_model, safety_net):
    assert marked("what does an overdose look like", spacy_model, safety_net, intent="crisis")


def turn(mention: bool, *actions: str) -> list:
    entities = [{"entity": MENTION_ENTITY, "value": "yes"}] if mention else []
    return [
        ActionExecuted(ACTION_LISTEN_NAME),
        UserUttered("a message", {"name": "ask_support_groups"}, entities),
        ActionExecuted(ACTION_EXTRACT_SLOTS),
        *(ActionExecuted(a) for a in actions),
    ]


def session_start() -> list:
    return [ActionExecuted(ACTION_SESSION_START_NAME), SessionStarted()]


def tracker(mention: bool, *actions: str) -> DialogueStateTracker:
    """The second message of a conversation: the disclaimer is behind it."""
    events = [*session_start(), *turn(False, "utter_greet_disclaimer"), *turn(mention, *actions)]
    return DialogueStateTracker.from_events("footer", events)


@pytest.mark.parametrize(
    ("mention", "actions", "expected"),
    [
        (True, [], None),  # the rules choose the answer
        (True, ["utter_support_groups"], FOOTER),  # then one help line
        (True, ["action_answer_medication"], FOOTER),
        (True, ["utter_support_groups", FOOTER], ACTION_LISTEN_NAME),  # then the turn ends
        (True, ["utter_crisis"], None),  # the crisis reply already has every line
        (True, ["utter_find_help"], None),
        (True, ["action_suggest_questions"], None),  # "did you mean" puts the line before its buttons
        (False, ["utter_support_groups"], None),  # nothing mentioned: the rules decide
    ],
)
def test_the_footer_comes_once_after_the_first_reply(mention, actions, expected):
    assert FooterPolicy.next_action(tracker(mention, *actions)) == expected


def test_the_footers_priority_beats_the_rules_on_a_tie():
    from rasa.core.policies.rule_policy import RulePolicy

    assert FooterPolicy.get_default_config()["priority"] > RulePolicy.get_default_config()["priority"]


def first(mention: bool, *actions: str, before: list | None = None) -> DialogueStateTracker:
    """The first message of a conversation (after `before`, e.g. an earlier session)."""
    events = [*(before or []), *session_start(), *turn(mention, *actions)]
    return DialogueStateTracker.from_events("first", events)


@pytest.mark.parametrize(
    ("mention", "actions", "expected"),
    [
        (False, [], None),  # the rules choose the reply
        (False, ["utter_support_groups"], DISCLAIMER),  # a question first: its answer, then the disclaimer
        (False, ["utter_support_groups", DISCLAIMER], ACTION_LISTEN_NAME),
        (False, ["utter_crisis"], DISCLAIMER),  # the emergency numbers first, then the disclaimer
        (False, ["utter_greet_disclaimer"], None),  # a greeting's reply carries it
        (True, ["utter_support_groups"], FOOTER),  # a mention: the help line, then the disclaimer
        (True, ["utter_support_groups", FOOTER], DISCLAIMER),
        (True, ["utter_support_groups", FOOTER, DISCLAIMER], ACTION_LISTEN_NAME),
        (True, ["utter_support_groups", DISCLAIMER], None),  # out of order: the rules decide
    ],
)
def test_the_disclaimer_follows_the_first_reply_of_a_conversation(mention, actions, expected):
    assert FooterPolicy.next_action(first(mention, *actions)) == expected


def test_a_new_session_or_a_restart_gets_the_disclaimer_again():
    earlier = [*session_start(), *turn(False, "utter_greet_disclaimer"), *turn(False, "utter_support_groups")]
    assert FooterPolicy.next_action(first(False, "utter_support_groups", before=earlier)) == DISCLAIMER
    restarted = [*earlier, ActionExecuted("action_restart"), Restarted()]
    events = [*restarted, *turn(False, "utter_support_groups")]
    assert FooterPolicy.next_action(DialogueStateTracker.from_events("r", events)) == DISCLAIMER


def test_a_tracker_without_a_session_start_is_one_conversation():
    events = [*turn(False, "utter_support_groups"), *turn(False, "utter_withdrawal_symptoms")]
    assert FooterPolicy.next_action(DialogueStateTracker.from_events("s", events)) is None
    assert FooterPolicy.next_action(DialogueStateTracker.from_events("s", events[:4])) == DISCLAIMER
