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
# Which of the medicines a message names it asks about, best first (extractor order within a rank):
# 1. one named with nothing around it that makes it context;
# 2. one right after these words: "I'm on methadone, would valium help?", "is klonopin ok on
#    suboxone", "valium to get off subs" (when nothing better is named it is the one asked about:
#    "they want to put me on methadone to get off fent, is it worth it");
# 3. an opioid someone uses (content.CONTEXT_COLUMNS): "does it help with heroin";
# 4. the measure of a comparison: "is it addictive like heroin?" after an answer about Suboxone is
#    about Suboxone (the medicine before the message, when there was one), "is it as bad as fent",
#    "stronger than oxy", "es adictiva como la heroína", "peor que la chiva";
# 5. one a correction sets aside: "klonopin, not valium", "no era el xanax, era el rivotril", "era
#    bupre no metadona".
CONTEXT_BEFORE = re.compile(r"\b(on|off|from|quit|quitting|kicking|detoxing)\s+((my|the|of|his|her)\s+)?$")
SET_ASIDE_BEFORE = re.compile(r"\b(not|no|ni)\s+((era|es|the|that|el|la|los|las|del|de)\s+)*$")
COMPARED_BEFORE = re.compile(
    r"\b(like|than|versus|vs\.?|compared (to|with)|similar to|same as|as|como|igual que|comparad[oa] con)"
    r"\s+((the|a|an|el|la|los|las|un|una)\s+)?$"
    r"|\b(más|mas|menos|peor|mejor)\b[^.?!]{0,40}\bque\s+((el|la|los|las)\s+)?$"
)
# The ranks above, by name.
FREE, AFTER_ON, USED, COMPARED, SET_ASIDE = 1, 2, 3, 4, 5


def medication_before_message(tracker: Tracker) -> str | None:
    """The `medication` slot as it was before the latest message: Rasa's slot mapping has already set
    it to the last medicine the message names, the compared one included."""
    events = list(tracker.events or [])
    users = [i for i, e in enumerate(events) if e.get("event") == "user"]
    if not users:
        return tracker.get_slot("medication")
    value = None
    for event in events[: users[-1]]:
        if event.get("event") == "slot" and event.get("name") == "medication":
            value = event.get("value")
        elif event.get("event") in ("restart", "session_started"):
            value = None
    return value


def pick_medication(tracker: Tracker, content: Content) -> Medication | None:
    text = (tracker.latest_message.get("text") or "").lower()

    def rank(medication: Medication, start: Any) -> int:
        before = text[:start] if isinstance(start, int) else ""
        if SET_ASIDE_BEFORE.search(before):
            return SET_ASIDE
        if COMPARED_BEFORE.search(before):
            return COMPARED
        if medication.column in CONTEXT_COLUMNS:
            return USED
        return AFTER_ON if CONTEXT_BEFORE.search(before) else FREE

    named = [
        (rank(content.medications[e["value"]], e.get("start")), i, content.medications[e["value"]])
        for i, e in enumerate(tracker.latest_message.get("entities", []))
        if e.get("entity") == "medication" and e.get("value") in content.medications
    ]
    if named:
        best, _, medication = min(named, key=lambda n: n[:2])
        if best >= COMPARED:
            # Only a measure of comparison (or a medicine set aside) is named: the subject is the
            # medicine the conversation was about, when there was one.
            previous = medication_before_message(tracker)
            if previous in content.medications:
                return content.medications[previous]
        return medication
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
