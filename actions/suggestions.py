"""Fallback: offer the likeliest questions as buttons, and route to human help when still unsure.

When unsure, the emergency comes first: if the message may be an emergency (the classifier gave
`crisis` some weight) or mentions one (the safety net's `crisis_mention`), the one line with 911 and
988 (`utter_crisis_footer`) comes before the buttons, not after them.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.medication import pick_medication
from content import load_content, payload

MAX_SUGGESTIONS = 3
# Below this classifier confidence an intent is too unlikely to be worth offering.
MIN_CONFIDENCE = 0.05
FALLBACK_INTENT = "nlu_fallback"
# The classifier's confidence in `crisis` from which an unsure reply starts with 911 and 988. Over
# every held-out set, the fallbacks at or above it: 15 look-alikes (overdose signs, naloxone), 2 other
# questions, no crisis (docs/evaluation.md).
CRISIS_DOUBT = 0.1
# The entity components/safety_net.py marks a crisis mention with (MENTION_ENTITY there).
MENTION_ENTITY = "crisis_mention"
EMERGENCY_LINE = "utter_crisis_footer"


def may_be_an_emergency(message: dict[str, Any]) -> bool:
    """Whether an unsure reply to this parsed message starts with the emergency line."""
    if any(e.get("entity") == MENTION_ENTITY for e in message.get("entities") or []):
        return True
    return any(
        r.get("name") == "crisis" and r.get("confidence", 0) >= CRISIS_DOUBT
        for r in message.get("intent_ranking") or []
    )


def previous_user_intent(tracker: Tracker) -> str | None:
    """Intent of the user message before the latest one, if any."""
    users = [e for e in tracker.events if e.get("event") == "user"]
    if len(users) < 2:
        return None
    return ((users[-2].get("parse_data") or {}).get("intent") or {}).get("name")


class ActionSuggestQuestions(Action):
    def name(self) -> str:
        return "action_suggest_questions"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        content = load_content()
        language = tracker.get_slot("language")
        texts = content.language(language)
        if language not in (None, *content.texts):
            # A language the questions are not written in: the fallback says so, in both languages.
            dispatcher.utter_message(response="utter_default")
            return []
        if previous_user_intent(tracker) == FALLBACK_INTENT:
            # Suggestions were already offered and did not fit: a person can help more.
            dispatcher.utter_message(response="utter_default")
            return []

        medication = pick_medication(tracker, content)
        medication_name = (
            medication.display(language) if medication else texts.suggestion_texts["any_medication"]
        )
        ranking = tracker.latest_message.get("intent_ranking") or []
        choices = [
            r["name"]
            for r in ranking
            if r.get("name") in texts.question_titles and r.get("confidence", 0) >= MIN_CONFIDENCE
        ][:MAX_SUGGESTIONS]
        if not choices:
            dispatcher.utter_message(response="utter_default")
            return []

        suggestions = [
            {
                "title": texts.question_titles[intent].replace("{medication}", medication_name),
                "payload": payload(
                    intent,
                    medication.key if medication and intent.startswith("ask_med_") else None,
                ),
            }
            for intent in choices
        ]
        suggestions.append({"title": texts.suggestion_texts["none"], "payload": "/none_of_these"})
        if may_be_an_emergency(tracker.latest_message):
            dispatcher.utter_message(response=EMERGENCY_LINE)
        dispatcher.utter_message(text=texts.suggestion_texts["prompt"], buttons=suggestions)
        return []
