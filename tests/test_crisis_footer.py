"""Crisis replies by urgency: a message that only mentions an overdose, suicide or a seizure gets its
answer, then one help line (components/crisis_footer_policy.py, marked by components/safety_net.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.nlu.constants import SPACY_DOCS
from rasa.shared.core.constants import ACTION_EXTRACT_SLOTS, ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from components.crisis_footer_policy import FOOTER, CrisisFooterPolicy
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


def tracker(mention: bool, *actions: str) -> DialogueStateTracker:
    entities = [{"entity": MENTION_ENTITY, "value": "yes"}] if mention else []
    events = [
        ActionExecuted(ACTION_LISTEN_NAME),
        UserUttered("a message", {"name": "ask_support_groups"}, entities),
        ActionExecuted(ACTION_EXTRACT_SLOTS),
        *(ActionExecuted(a) for a in actions),
    ]
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
        (False, ["utter_support_groups"], None),  # nothing mentioned: the rules decide
    ],
)
def test_the_footer_comes_once_after_the_first_reply(mention, actions, expected):
    assert CrisisFooterPolicy.next_action(tracker(mention, *actions)) == expected


def test_the_footers_priority_beats_the_rules_on_a_tie():
    from rasa.core.policies.rule_policy import RulePolicy

    assert CrisisFooterPolicy.get_default_config()["priority"] > RulePolicy.get_default_config()["priority"]
