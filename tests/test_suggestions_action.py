"""action_suggest_questions: likely questions as buttons first, professional help when still unsure."""

from __future__ import annotations

import pytest
from conftest import medication

from actions.suggestions import MAX_SUGGESTIONS, ActionSuggestQuestions
from content import load_content

CONTENT = load_content()


def ranking(*pairs):
    return [{"name": "nlu_fallback", "confidence": 0.5}] + [{"name": n, "confidence": c} for n, c in pairs]


def test_offers_the_three_likeliest_questions_and_none_of_these(make_tracker, dispatcher, domain):
    tracker = make_tracker(
        "nlu_fallback",
        ranking=ranking(
            ("ask_withdrawal_timeline", 0.4),
            ("greet", 0.3),  # small talk is never suggested
            ("ask_withdrawal_symptoms", 0.2),
            ("ask_detox_options", 0.1),
            ("ask_support_groups", 0.08),
        ),
    )
    events = ActionSuggestQuestions().run(dispatcher, tracker, domain)

    assert events == []
    [message] = dispatcher.messages
    assert message["text"] == CONTENT.suggestion_texts["prompt"]
    assert [b["payload"] for b in message["buttons"]] == [
        "/ask_withdrawal_timeline",
        "/ask_withdrawal_symptoms",
        "/ask_detox_options",
        "/none_of_these",
    ]
    assert len(message["buttons"]) == MAX_SUGGESTIONS + 1


def test_medication_questions_carry_the_medication(make_tracker, dispatcher, domain):
    tracker = make_tracker(
        "nlu_fallback",
        entities=[medication("klonopin")],
        ranking=ranking(("ask_med_risks", 0.4), ("ask_benzo_opioid_mix", 0.3)),
    )
    ActionSuggestQuestions().run(dispatcher, tracker, domain)
    first = dispatcher.messages[0]["buttons"][0]
    assert first == {
        "title": "What are the risks of Klonopin (clonazepam)?",
        "payload": '/ask_med_risks{"medication":"klonopin"}',
    }
    assert dispatcher.messages[0]["buttons"][1]["payload"] == "/ask_benzo_opioid_mix"


def test_unlikely_intents_are_not_offered(make_tracker, dispatcher, domain):
    tracker = make_tracker("nlu_fallback", ranking=ranking(("ask_detox_options", 0.01)))
    ActionSuggestQuestions().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_default"


def test_still_not_understood_routes_to_professional_help(make_tracker, dispatcher, domain):
    earlier = {"event": "user", "text": "hmm", "parse_data": {"intent": {"name": "nlu_fallback"}}}
    tracker = make_tracker(
        "nlu_fallback", events=[earlier], ranking=ranking(("ask_withdrawal_timeline", 0.4))
    )
    ActionSuggestQuestions().run(dispatcher, tracker, domain)
    assert dispatcher.messages == [
        {
            "text": None,
            "buttons": [],
            "elements": [],
            "custom": {},
            "template": "utter_default",
            "response": "utter_default",
            "image": None,
            "attachment": None,
        }
    ]


def test_a_spanish_conversation_gets_the_questions_in_spanish(make_tracker, dispatcher, domain):
    tracker = make_tracker(
        "nlu_fallback",
        slots={"language": "es"},
        ranking=ranking(("ask_withdrawal_symptoms", 0.4), ("ask_med_risks", 0.3)),
    )
    assert ActionSuggestQuestions().run(dispatcher, tracker, domain) == []
    spanish = CONTENT.language("es")
    [message] = dispatcher.messages
    assert message["text"] == spanish.suggestion_texts["prompt"]
    assert [b["title"] for b in message["buttons"]] == [
        spanish.question_titles["ask_withdrawal_symptoms"],
        spanish.question_titles["ask_med_risks"].replace(
            "{medication}", spanish.suggestion_texts["any_medication"]
        ),
        spanish.suggestion_texts["none"],
    ]
    assert message["buttons"][0]["payload"] == "/ask_withdrawal_symptoms"


def test_a_conversation_in_another_language_gets_the_bilingual_fallback(make_tracker, dispatcher, domain):
    tracker = make_tracker(
        "nlu_fallback", slots={"language": "other"}, ranking=ranking(("ask_withdrawal_symptoms", 0.4))
    )
    assert ActionSuggestQuestions().run(dispatcher, tracker, domain) == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_default"]


def test_a_message_that_may_be_an_emergency_gets_911_and_988_before_the_buttons(
    make_tracker, dispatcher, domain
):
    """When unsure, the emergency first: the classifier gave crisis some weight."""
    tracker = make_tracker(
        "nlu_fallback", ranking=ranking(("ask_withdrawal_dangerous", 0.3), ("crisis", 0.25))
    )
    ActionSuggestQuestions().run(dispatcher, tracker, domain)
    assert [m.get("response") for m in dispatcher.messages] == ["utter_crisis_footer", None]
    assert dispatcher.messages[1]["buttons"][0]["payload"] == "/ask_withdrawal_dangerous"


def test_a_crisis_mention_puts_the_line_first_too(make_tracker, dispatcher, domain):
    tracker = make_tracker(
        "nlu_fallback",
        entities=[{"entity": "crisis_mention", "value": "yes"}],
        ranking=ranking(("ask_support_groups", 0.3)),
    )
    ActionSuggestQuestions().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_crisis_footer"
    assert len(dispatcher.messages) == 2


@pytest.mark.parametrize("crisis", [0.0, 0.09])
def test_no_emergency_line_when_crisis_is_unlikely(make_tracker, dispatcher, domain, crisis):
    tracker = make_tracker(
        "nlu_fallback", ranking=ranking(("ask_withdrawal_timeline", 0.4), ("crisis", crisis))
    )
    ActionSuggestQuestions().run(dispatcher, tracker, domain)
    assert [m.get("response") for m in dispatcher.messages] == [None]


def test_the_mention_entity_is_the_safety_nets():
    from actions.suggestions import MENTION_ENTITY
    from components.safety_net import MENTION_ENTITY as SAFETY_NET_MENTION

    assert MENTION_ENTITY == SAFETY_NET_MENTION
