"""Answers a question about one medication, from the entity in the message or the one asked about before,
in the conversation's language (the `language` slot; English when it has no answers of its own)."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from content import (
    CONTEXT_COLUMNS,
    INTENT_QUESTIONS,
    Content,
    Medication,
    buttons,
    fill,
    load_content,
    payload,
)

QUESTION_INTENTS = {question: intent for intent, question in INTENT_QUESTIONS.items()}
# Slots whose values (source titles, help lines) may appear as {placeholders} in answers.
PLACEHOLDER_SLOTS = (
    "source_valium",
    "source_klonopin",
    "helpline",
    "treatment_locator",
    "crisis_line",
    "emergency_number",
    "poison_control",
    # the same in Spanish (slots ending in _es): the Spanish answers name these
    "source_valium_es",
    "source_klonopin_es",
    "helpline_es",
    "crisis_line_es",
    "poison_control_es",
)
# A medicine named as context (content.CONTEXT_COLUMNS) is not the one asked about. So is one named
# right after these words: "I'm on methadone, would valium help?", "is klonopin ok on suboxone",
# "valium to get off subs"; and one a correction sets aside: "klonopin, not valium", "no era el
# xanax, era el rivotril", "era bupre no metadona".
CONTEXT_BEFORE = re.compile(
    r"\b(on|off|from|quit|quitting|kicking|detoxing)\s+((my|the|of|his|her)\s+)?$"
    r"|\b(not|no|ni)\s+((era|es|the|that|el|la|los|las|del|de)\s+)*$"
)


def pick_medication(tracker: Tracker, content: Content) -> Medication | None:
    text = (tracker.latest_message.get("text") or "").lower()

    def is_context(medication: Medication, start: Any) -> bool:
        before = text[:start] if isinstance(start, int) else ""
        return medication.column in CONTEXT_COLUMNS or bool(CONTEXT_BEFORE.search(before))

    named = [
        (content.medications[e["value"]], e.get("start"))
        for e in tracker.latest_message.get("entities", [])
        if e.get("entity") == "medication" and e.get("value") in content.medications
    ]
    if named:
        asked = [m for m, start in named if not is_context(m, start)]
        return (asked or [m for m, _ in named])[0]
    previous = tracker.get_slot("medication")
    return content.medications.get(previous) if previous else None


def pick_question(tracker: Tracker) -> str:
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    if intent in INTENT_QUESTIONS:
        return INTENT_QUESTIONS[intent]
    # "what about klonopin?" repeats the last medication question, by default "does it help".
    previous = tracker.get_slot("med_question")
    return previous if previous in QUESTION_INTENTS else "helps"


def placeholder_values(tracker: Tracker, domain: dict[str, Any]) -> dict[str, Any]:
    """Slot values, falling back to the domain's initial values (e.g. for an older tracker)."""
    slots = domain.get("slots", {})
    return {
        slot: tracker.get_slot(slot) or slots.get(slot, {}).get("initial_value") for slot in PLACEHOLDER_SLOTS
    }


class ActionAnswerMedication(Action):
    def name(self) -> str:
        return "action_answer_medication"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        content = load_content()
        language = tracker.get_slot("language")
        texts = content.language(language)
        question = pick_question(tracker)
        medication = pick_medication(tracker, content)
        if medication is None:
            ask = texts.which_medication
            dispatcher.utter_message(
                text=ask["text"],
                buttons=[
                    {
                        "title": content.medications[key].display(language),
                        "payload": payload(QUESTION_INTENTS[question], key),
                    }
                    for key in ask["choices"]
                ],
            )
            return [SlotSet("med_question", question)]

        answer = texts.answer(question, medication)
        values = placeholder_values(tracker, domain)
        values["medication"] = medication.display(language)
        # `answer` names the curated answer: it reaches the bot message's metadata, where the channels
        # (the "Was this helpful?" prompt) and the recording (storage/record.py) find it.
        dispatcher.utter_message(
            text=fill(answer["text"], values),
            buttons=buttons(answer.get("buttons")),
            answer=f"{question}.{medication.column}",
            # the answer's language, for the "Was this helpful?" prompt after it (channels/feedback.py)
            language=language if language in content.texts else "en",
        )
        return [SlotSet("medication", medication.key), SlotSet("med_question", question)]
