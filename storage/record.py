"""What a conversation's new events add to faq_turns, faq_feedback and faq_queue (insights/schema.py).

Pure functions of Rasa events: the tracker store calls `build` with the conversation's events and the
index of the first event of the save, and writes what it returns in the same transaction. Each user
message is recorded once, in the save that stores it; looking back (which answer a "no" was about,
which message "none of these" answered) reads only the events the tracker already holds.

Every row carries the conversation's language at its message: the message's own `language` entity
(components/language.py, or a payload such as `/help_menu{"language":"es"}`), else the `language`
slot as last set in the session, else English; a value the replies have no variation for is English,
which is what the person then read.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rasa.shared.core.events import (
    ActionExecuted,
    AllSlotsReset,
    BotUttered,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUttered,
)

from content import INTENT_QUESTIONS, QUESTIONS, load_content
from insights import schema
from storage.redaction import redact

FEEDBACK_YES = "feedback_yes"
FEEDBACK_NO = "feedback_no"
FEEDBACK_INTENTS = (FEEDBACK_YES, FEEDBACK_NO)
ANSWER_ENTITY = "answer"
# The entity components/language.py adds to a message whose language it is sure of, and the slot
# domain.yml fills from it.
LANGUAGE_ENTITY = "language"
LANGUAGE_SLOT = "language"
# Events after which every slot is unset: a new session (domain.yml carries no slot over), a restart.
SLOTS_RESET = (SessionStarted, Restarted, AllSlotsReset)
CRISIS_INTENT = "crisis"
NONE_OF_THESE = "none_of_these"
FALLBACK_INTENT = "nlu_fallback"
MEDICATION_ACTION = "action_answer_medication"
# Intents in content/question_titles.yml that are offered as questions but are not curated answers.
NOT_ANSWERS = ("ask_dosing", "ask_find_help", "help_menu")
# The button that ends a "did you mean" message (actions/suggestions.py).
NONE_OF_THESE_PAYLOAD = "/" + NONE_OF_THESE
GUESSES = 3
# Responses whose reply kind is not an answer; checked in this order after crisis and dosing.
RESPONSE_KINDS = {
    "utter_default": schema.FALLBACK,
    "utter_out_of_scope": schema.OUT_OF_SCOPE,
    "utter_find_help": schema.HELP,
}


@functools.cache
def topic_answers() -> frozenset[str]:
    """The topics with a curated response `utter_<topic>`: `ask_<topic>` has a question title."""
    intents = set(load_content().question_titles) - set(NOT_ANSWERS) - set(INTENT_QUESTIONS)
    return frozenset(i.removeprefix("ask_") for i in intents if i.startswith("ask_"))


@functools.cache
def curated_answers() -> frozenset[str]:
    """Every curated answer's name: the topics, and question.column of the medication answers."""
    columns = {m.column for m in load_content().medications.values()}
    return topic_answers() | {f"{q}.{c}" for q in QUESTIONS for c in columns}


def answer_name(metadata: dict[str, Any] | None) -> str | None:
    """The curated answer a bot message is (its BotUttered metadata), or None when it is not one.

    A medication answer carries `answer` ("helps.valium", from actions/medication.py); a topic
    answer is the response `utter_<topic>` of an intent `ask_<topic>` with a question title.
    """
    if not metadata:
        return None
    given = metadata.get("answer")
    if isinstance(given, str):
        return given if given in curated_answers() else None
    utter = metadata.get("utter_action")
    if isinstance(utter, str) and utter.startswith("utter_") and utter[6:] in topic_answers():
        return utter.removeprefix("utter_")
    return None


@dataclass(frozen=True)
class Turn:
    """One user message and what the assistant did after it (up to the next user message)."""

    index: int  # of the user event in the conversation's events
    user: UserUttered
    actions: tuple[str, ...]
    bots: tuple[BotUttered, ...]
    language: str = schema.ENGLISH  # the conversation's at this message

    @property
    def intent(self) -> str | None:
        return (self.user.intent or {}).get("name")

    @property
    def confidence(self) -> float | None:
        value = (self.user.intent or {}).get("confidence")
        return float(value) if value is not None else None

    @property
    def answers(self) -> list[str]:
        return [name for b in self.bots if (name := answer_name(b.metadata)) is not None]

    @property
    def kind(self) -> str:
        return reply_kind(self.intent, self.actions, self.bots)

    @property
    def guesses(self) -> list[dict[str, Any]]:
        """The three likeliest intents with their confidences (nlu_fallback left out)."""
        ranking = self.user.parse_data.get("intent_ranking") or [self.user.intent or {}]
        return [
            {"intent": r["name"], "confidence": float(r.get("confidence") or 0.0)}
            for r in ranking
            if r.get("name") and r["name"] != FALLBACK_INTENT
        ][:GUESSES]

    @property
    def sensitive(self) -> bool:
        """A message that looked like a crisis: counted, its text never stored."""
        guesses = self.guesses
        return (
            self.intent == CRISIS_INTENT
            or (bool(guesses) and guesses[0]["intent"] == CRISIS_INTENT)
            or self.kind == schema.CRISIS
        )

    @property
    def text(self) -> str | None:
        """The message, redacted; None when it looked like a crisis."""
        return None if self.sensitive else redact(self.user.text or "")

    @property
    def typed(self) -> bool:
        """Typed by the person, not a button's payload."""
        return not (self.user.text or "").startswith("/")

    def entity(self, name: str) -> str | None:
        return entity_value(self.user, name)


def entity_value(user: UserUttered, name: str) -> str | None:
    for entity in user.entities or []:
        if entity.get("entity") == name and isinstance(entity.get("value"), str):
            return str(entity["value"])
    return None


def known_language(value: Any) -> str:
    """A language the replies are written in, as it is; anything else (unset, a forged payload's
    value) is English: the replies without a matching variation are the English ones."""
    return value if value in schema.LANGUAGES else schema.ENGLISH


def language_before(events: Sequence[Event], index: int) -> Any:
    """The `language` slot's value before `events[index]`: its last SlotSet since the slots were last
    reset (a new session starts without it: domain.yml carries no slot over), None when never set."""
    for position in range(index - 1, -1, -1):
        event = events[position]
        if isinstance(event, SlotSet) and event.key == LANGUAGE_SLOT:
            return event.value
        if isinstance(event, SLOTS_RESET):
            return None
    return None


def reply_kind(intent: str | None, actions: Sequence[str], bots: Sequence[BotUttered]) -> str:
    """The kind of reply (insights.schema.KINDS) the actions and bot messages after a message make."""
    utters = [b.metadata.get("utter_action") for b in bots]
    if "utter_crisis" in utters:
        return schema.CRISIS
    if "utter_dosing" in utters:
        return schema.DOSING
    if intent in FEEDBACK_INTENTS:
        return schema.FEEDBACK
    if any(answer_name(b.metadata) for b in bots):
        return schema.ANSWER
    if any(
        button.get("payload") == NONE_OF_THESE_PAYLOAD for b in bots for button in b.data.get("buttons") or []
    ):
        return schema.DID_YOU_MEAN
    if MEDICATION_ACTION in actions and bots:
        return schema.CLARIFY  # "which medicine do you mean?"
    for utter, kind in RESPONSE_KINDS.items():
        if utter in utters:
            return kind
    return schema.OTHER


def turns(events: Sequence[Event], start: int = 0) -> list[Turn]:
    """The user messages from `events[start]` on, each with what followed it and its language."""
    found: list[Turn] = []
    current: tuple[int, UserUttered, list[str], list[BotUttered], str] | None = None
    slot = language_before(events, start)

    def close(turn: tuple[int, UserUttered, list[str], list[BotUttered], str]) -> Turn:
        return Turn(turn[0], turn[1], tuple(turn[2]), tuple(turn[3]), turn[4])

    for index in range(start, len(events)):
        event = events[index]
        if isinstance(event, UserUttered):
            if current is not None:
                found.append(close(current))
            said = entity_value(event, LANGUAGE_ENTITY)
            current = (index, event, [], [], known_language(said if said is not None else slot))
        elif isinstance(event, SlotSet) and event.key == LANGUAGE_SLOT:
            slot = event.value
        elif isinstance(event, SLOTS_RESET):
            slot = None
        elif current is None:
            continue
        elif isinstance(event, ActionExecuted) and event.action_name:
            current[2].append(event.action_name)
        elif isinstance(event, BotUttered):
            current[3].append(event)
    if current is not None:
        found.append(close(current))
    return found


@dataclass(frozen=True)
class Comment:
    """What someone wrote after a "no": the comment of the not-helpful item recorded at `ts`."""

    conversation: str
    ts: float
    text: str


@dataclass
class Records:
    """The rows one save adds (as dicts of insights.schema columns), and comments for earlier items."""

    turns: list[dict[str, Any]] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    queue: list[dict[str, Any]] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)


def build(sender_id: str, events: Sequence[Event], first_new: int) -> Records:
    """The rows for the user messages in `events[first_new:]`; earlier events are only looked back at."""
    records = Records()
    new = turns(events, first_new)
    if not new:
        return records
    conversation = schema.conversation_key(sender_id)
    history: list[Turn] = []  # every turn the events hold, read only when a message looks back

    def earlier(turn: Turn) -> list[Turn]:
        if not history:
            history.extend(turns(events, 0))
        return [t for t in history if t.index < turn.index]

    for turn in new:
        base = {
            "ts": turn.user.timestamp,
            "conversation": conversation,
            "channel": (turn.user.input_channel or "unknown")[:32],
            "language": turn.language,
        }
        kind = turn.kind
        answers = turn.answers
        records.turns.append(
            {
                **base,
                "intent": turn.intent,
                "confidence": turn.confidence,
                "kind": kind,
                "answer": answers[0] if answers else None,
            }
        )
        if kind == schema.DID_YOU_MEAN:
            records.queue.append(queue_item(base, schema.REASON_DID_YOU_MEAN, turn))
        elif kind == schema.OUT_OF_SCOPE:
            records.queue.append(queue_item(base, schema.REASON_OUT_OF_SCOPE, turn))
        elif kind == schema.FALLBACK and turn.intent == FALLBACK_INTENT and turn.typed:
            records.queue.append(queue_item(base, schema.REASON_NOT_UNDERSTOOD, turn))
        if turn.intent == NONE_OF_THESE:
            # The message the suggestions (or the answer) were for: the one before.
            about = (earlier(turn) or [turn])[-1]
            records.queue.append(queue_item(base, schema.REASON_NONE_OF_THESE, about))
        if turn.intent in FEEDBACK_INTENTS:
            _feedback(records, base, turn, earlier(turn))
        elif turn.typed and not turn.sensitive:
            previous = previous_user(events, turn.index)
            if previous is not None and (previous.intent or {}).get("name") == FEEDBACK_NO:
                _comment(records, conversation, previous.timestamp, redact(turn.user.text or ""))
    return records


def previous_user(events: Sequence[Event], index: int) -> UserUttered | None:
    for position in range(index - 1, -1, -1):
        event = events[position]
        if isinstance(event, UserUttered):
            return event
    return None


def queue_item(
    base: dict[str, Any], reason: str, about: Turn | None, answer: str | None = None
) -> dict[str, Any]:
    """A queue item about the message `about` (None: not among the events at hand), in its language.
    Of a message that looked like a crisis nothing is kept: the item only counts it."""
    shown = about if about is not None and not about.sensitive else None
    return {
        **base,
        "language": about.language if about is not None else base["language"],
        "reason": reason,
        "text": shown.text if shown else None,
        "guesses": json.dumps(shown.guesses if shown else []),
        "answer": answer,
        "comment": None,
        "status": schema.OPEN,
    }


def answered(turn: Turn, earlier: Sequence[Turn]) -> tuple[str, Turn | None] | None:
    """The answer a feedback message is about and the message that got it; None when there is
    none to record (no answer, an unknown name, or that answer's feedback already given)."""
    named = turn.entity(ANSWER_ENTITY)
    for position in range(len(earlier) - 1, -1, -1):
        candidate = earlier[position]
        answers = candidate.answers
        name = named if named in answers else (answers[-1] if answers and named is None else None)
        if name is None:
            continue
        later = earlier[position + 1 :]
        if any(t.intent in FEEDBACK_INTENTS and t.entity(ANSWER_ENTITY) in (name, None) for t in later):
            return None  # already answered: buttons stay on some platforms and can be pressed again
        return name, candidate
    if named is not None and named in curated_answers():
        return named, None  # the answer is older than the events at hand (an earlier session)
    return None


def _feedback(records: Records, base: dict[str, Any], turn: Turn, earlier: Sequence[Turn]) -> None:
    found = answered(turn, earlier)
    if found is None:
        return
    name, about = found
    helpful = turn.intent == FEEDBACK_YES
    records.feedback.append(
        {
            **base,
            "answer": name,
            "helpful": helpful,
            "intent": about.intent if about else None,
            "confidence": about.confidence if about else None,
            # The answer's language: the conversation's when it was given.
            "language": about.language if about else base["language"],
        }
    )
    if not helpful:
        item = queue_item(base, schema.REASON_NOT_HELPFUL, about, answer=name)
        if about is not None and not about.typed:
            shown, item["text"] = asked(about, earlier)
            item["guesses"] = json.dumps([] if item["text"] is None else shown.guesses)
            item["language"] = shown.language
        records.queue.append(item)


def asked(turn: Turn, earlier: Sequence[Turn]) -> tuple[Turn, str | None]:
    """The message a curator should see for an answer given after `turn`, and its wording. Typed:
    `turn` itself. A button press: the typed message whose suggestions it chose from, or else the
    pressed button's title (a payload like '/ask_med_helps{...}' is not a way people ask)."""
    if turn.typed:
        return turn, turn.text
    before = [t for t in earlier if t.index < turn.index]
    if before:
        offered = before[-1]
        if offered.kind == schema.DID_YOU_MEAN and offered.typed:
            return offered, offered.text
        for bot in offered.bots:
            for button in bot.data.get("buttons") or []:
                if button.get("payload") == turn.user.text and button.get("title"):
                    return turn, None if turn.sensitive else redact(str(button["title"]))
    return turn, turn.text


def _comment(records: Records, conversation: str, no_ts: float, text: str) -> None:
    for item in records.queue:
        if item["reason"] == schema.REASON_NOT_HELPFUL and item["ts"] == no_ts:
            item["comment"] = text  # the "no" is in this same save
            return
    records.comments.append(Comment(conversation, no_ts, text))
