"""What is recorded of each message (storage/record.py), and how the conversation store writes it: one
turn per message, feedback and the unanswered-questions queue, no crisis text, purged with the events."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from insights import schema
from storage import record
from storage.tracker_store import IncrementalPrivateSQLTrackerStore, PrivateSQLTrackerStore

SENDER = "someone"
SUGGESTIONS = [
    {"title": "What is Valium?", "payload": '/ask_med_what_is{"medication":"valium"}'},
    {"title": "None of these", "payload": "/none_of_these"},
]


class Chat:
    """Events as Rasa's processor logs them for one conversation, with a clock."""

    def __init__(self, channel: str = "rest") -> None:
        self.channel = channel
        self.now = 1_700_000_000.0
        self.events: list[Event] = [
            ActionExecuted("action_session_start", timestamp=self.tick()),
            SessionStarted(timestamp=self.tick()),
            ActionExecuted("action_listen", timestamp=self.tick()),
        ]

    def tick(self) -> float:
        self.now += 1.0
        return self.now

    def say(
        self,
        text: str,
        intent: str,
        confidence: float = 0.9,
        ranking: list[tuple[str, float]] | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> UserUttered:
        ranking = ranking or [(intent, confidence)]
        parse_data = {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
            "entities": entities or [],
        }
        user = UserUttered(
            text,
            parse_data["intent"],
            entities or [],
            parse_data,
            timestamp=self.tick(),
            input_channel=self.channel,
        )
        self.events.append(user)
        return user

    def reply(self, action: str, *bots: BotUttered, slots: dict[str, str] | None = None) -> None:
        self.events.append(ActionExecuted(action, timestamp=self.tick()))
        for bot in bots:
            bot.timestamp = self.tick()
            self.events.append(bot)
        for name, value in (slots or {}).items():
            self.events.append(SlotSet(name, value, timestamp=self.tick()))
        self.events.append(ActionExecuted("action_listen", timestamp=self.tick()))

    def utter(self, response: str, text: str = "...", buttons: list[dict[str, str]] | None = None) -> None:
        self.reply(response, BotUttered(text, {"buttons": buttons}, {"utter_action": response}))

    def medication_answer(self, answer: str) -> None:
        self.reply("action_answer_medication", BotUttered("Valium ...", {}, {"answer": answer}))

    def feedback(self, intent: str, answer: str | None) -> UserUttered:
        entities = [{"entity": "answer", "value": answer}] if answer else []
        text = f'/{intent}{{"answer":"{answer}"}}' if answer else f"/{intent}"
        user = self.say(text, intent, 1.0, entities=entities)
        self.utter("utter_" + intent)
        return user


def built(chat: Chat, first_new: int = 0) -> record.Records:
    return record.build(SENDER, chat.events, first_new)


# --- answer names and reply kinds ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "name"),
    [
        ({"utter_action": "utter_withdrawal_symptoms"}, "withdrawal_symptoms"),
        ({"utter_action": "utter_opioid_epidemic"}, "opioid_epidemic"),
        ({"answer": "helps.valium"}, "helps.valium"),
        ({"answer": "stop_suddenly.buprenorphine"}, "stop_suddenly.buprenorphine"),
        ({"utter_action": "utter_dosing"}, None),
        ({"utter_action": "utter_find_help"}, None),
        ({"utter_action": "utter_help_menu"}, None),
        ({"utter_action": "utter_crisis"}, None),
        ({"utter_action": "utter_default"}, None),
        ({"utter_action": "utter_greet_disclaimer"}, None),
        ({"answer": "helps.aspirin"}, None),  # not a curated answer
        ({"answer": "<script>"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_answer_name(metadata, name):
    assert record.answer_name(metadata) == name


def test_every_answer_name_fits_the_tables_and_a_telegram_button():
    for name in record.curated_answers():
        assert len(name) <= 64
        # Telegram's callback_data holds 64 bytes: the "no" payload is the longer one.
        assert len(f'/feedback_yes{{"answer":"{name}"}}'.encode()) <= 64


def test_reply_kinds():
    chat = Chat()
    chat.say("hi", "greet")
    chat.utter("utter_greet_disclaimer")
    chat.say("what are the symptoms", "ask_withdrawal_symptoms")
    chat.utter("utter_withdrawal_symptoms")
    chat.say("does valium help", "ask_med_helps")
    chat.medication_answer("helps.valium")
    chat.say("what are its risks", "ask_med_risks")
    chat.reply("action_answer_medication", BotUttered("Which medicine do you mean?", {}, {}))
    chat.say("blorf", "nlu_fallback", 0.3, [("nlu_fallback", 0.3), ("ask_med_what_is", 0.2)])
    chat.reply("action_suggest_questions", BotUttered("Did you mean", {"buttons": SUGGESTIONS}, {}))
    chat.say("zorp", "nlu_fallback", 0.3)
    chat.reply("action_suggest_questions", BotUttered("Sorry", {}, {"utter_action": "utter_default"}))
    chat.say("weather?", "out_of_scope")
    chat.utter("utter_out_of_scope")
    chat.say("how many mg", "ask_dosing", 1.0)
    chat.utter("utter_dosing")
    chat.say("where can i get help", "ask_find_help")
    chat.utter("utter_find_help")
    chat.say("he is not breathing", "crisis", 1.0)
    chat.utter("utter_crisis")
    chat.feedback("feedback_yes", "helps.valium")
    chat.say("menu", "help_menu")
    chat.utter("utter_help_menu")

    rows = built(chat).turns
    assert [r["kind"] for r in rows] == [
        schema.OTHER,
        schema.ANSWER,
        schema.ANSWER,
        schema.CLARIFY,
        schema.DID_YOU_MEAN,
        schema.FALLBACK,
        schema.OUT_OF_SCOPE,
        schema.DOSING,
        schema.HELP,
        schema.CRISIS,
        schema.FEEDBACK,
        schema.OTHER,
    ]
    assert set(r["kind"] for r in rows) <= set(schema.KINDS)
    assert [r["answer"] for r in rows][1:3] == ["withdrawal_symptoms", "helps.valium"]
    assert rows[0] == {
        "ts": chat.events[3].timestamp,
        "conversation": schema.conversation_key(SENDER),
        "channel": "rest",
        "intent": "greet",
        "confidence": 0.9,
        "kind": schema.OTHER,
        "answer": None,
        "language": "en",
    }


def test_only_the_new_messages_are_recorded():
    chat = Chat()
    chat.say("what are the symptoms", "ask_withdrawal_symptoms")
    chat.utter("utter_withdrawal_symptoms")
    first_new = len(chat.events)
    chat.say("when do they start", "ask_withdrawal_timeline")
    chat.utter("utter_withdrawal_timeline")
    assert [r["intent"] for r in built(chat, first_new).turns] == ["ask_withdrawal_timeline"]
    # A save without a user message (a slot set by a channel) records nothing.
    chat.events.append(SlotSet("offered_choices", None, timestamp=chat.tick()))
    assert built(chat, len(chat.events) - 1) == record.Records()


# --- the queue -----------------------------------------------------------------------------------


def test_did_you_mean_and_none_of_these_are_queued_with_the_message_and_guesses():
    chat = Chat("socketio")
    ranking = [("nlu_fallback", 0.4), ("ask_med_what_is", 0.3), ("ask_med_helps", 0.2), ("greet", 0.1)]
    chat.say("whats the deal with vallium, mail me at jo@example.org", "nlu_fallback", 0.4, ranking)
    chat.reply("action_suggest_questions", BotUttered("Did you mean", {"buttons": SUGGESTIONS}, {}))
    chat.say("/none_of_these", "none_of_these", 1.0)
    chat.utter("utter_default")

    queue = built(chat).queue
    assert [q["reason"] for q in queue] == [schema.REASON_DID_YOU_MEAN, schema.REASON_NONE_OF_THESE]
    for item in queue:
        assert item["text"] == "whats the deal with vallium, mail me at [email removed]"
        assert json.loads(item["guesses"]) == [
            {"intent": "ask_med_what_is", "confidence": 0.3},
            {"intent": "ask_med_helps", "confidence": 0.2},
            {"intent": "greet", "confidence": 0.1},
        ]
        assert item["channel"] == "socketio" and item["status"] == schema.OPEN
    assert queue[1]["ts"] > queue[0]["ts"], "the none-of-these item is dated when it was said"


def test_unsure_again_after_suggestions_is_queued_as_not_understood():
    chat = Chat()
    ranking = [("nlu_fallback", 0.4), ("ask_med_what_is", 0.3)]
    chat.say("blorf znak", "nlu_fallback", 0.4, ranking)
    chat.reply("action_suggest_questions", BotUttered("Did you mean", {"buttons": SUGGESTIONS}, {}))
    chat.say("purple monkey dishwasher", "nlu_fallback", 0.3, [("nlu_fallback", 0.3), ("greet", 0.2)])
    chat.reply("action_suggest_questions", BotUttered("Sorry", {}, {"utter_action": "utter_default"}))
    chat.say("/none_of_these", "none_of_these", 1.0)  # a button left on screen: queued as before, once
    chat.utter("utter_default")

    queue = built(chat).queue
    assert [(q["reason"], q["text"]) for q in queue] == [
        (schema.REASON_DID_YOU_MEAN, "blorf znak"),
        (schema.REASON_NOT_UNDERSTOOD, "purple monkey dishwasher"),
        (schema.REASON_NONE_OF_THESE, "purple monkey dishwasher"),
    ]
    assert json.loads(queue[1]["guesses"]) == [{"intent": "greet", "confidence": 0.2}]


def test_out_of_scope_is_queued():
    chat = Chat()
    chat.say("how do i file my taxes", "out_of_scope", 0.95)
    chat.utter("utter_out_of_scope")
    (item,) = built(chat).queue
    assert (item["reason"], item["text"]) == (schema.REASON_OUT_OF_SCOPE, "how do i file my taxes")


def test_answers_and_crises_are_not_queued_and_crisis_text_is_never_kept():
    chat = Chat()
    chat.say("does valium help", "ask_med_helps")
    chat.medication_answer("helps.valium")
    chat.say("i want to end it all", "crisis", 1.0)
    chat.utter("utter_crisis")
    # Unsure, but its likeliest meaning is a crisis: suggestions are shown, the text is not kept.
    chat.say("everything is too much tonight", "nlu_fallback", 0.4, [("crisis", 0.4), ("thank", 0.1)])
    chat.reply("action_suggest_questions", BotUttered("Did you mean", {"buttons": SUGGESTIONS}, {}))
    chat.say("none of those", "none_of_these", 0.9)
    chat.utter("utter_default")

    records = built(chat)
    assert [t["kind"] for t in records.turns] == [
        schema.ANSWER,
        schema.CRISIS,
        schema.DID_YOU_MEAN,
        schema.FALLBACK,
    ]
    # Counted, and nothing else of them kept: no text, no guesses.
    assert [(q["reason"], q["text"], q["guesses"]) for q in records.queue] == [
        (schema.REASON_DID_YOU_MEAN, None, "[]"),
        (schema.REASON_NONE_OF_THESE, None, "[]"),
    ]


# --- feedback ------------------------------------------------------------------------------------


def test_yes_is_recorded_with_the_answer_and_the_message_that_got_it():
    chat = Chat("telegram")
    chat.say("does valium help", "ask_med_helps", 0.87)
    chat.medication_answer("helps.valium")
    first_new = len(chat.events)
    chat.feedback("feedback_yes", "helps.valium")

    records = built(chat, first_new)
    assert records.queue == []
    (row,) = records.feedback
    assert {k: row[k] for k in ("answer", "helpful", "intent", "confidence", "channel")} == {
        "answer": "helps.valium",
        "helpful": True,
        "intent": "ask_med_helps",
        "confidence": 0.87,
        "channel": "telegram",
    }
    assert [t["kind"] for t in records.turns] == [schema.FEEDBACK]


def test_no_is_queued_and_the_next_typed_message_becomes_its_comment():
    chat = Chat()
    chat.say("what are the symptoms", "ask_withdrawal_symptoms", 0.8, [("ask_withdrawal_symptoms", 0.8)])
    chat.utter("utter_withdrawal_symptoms")
    chat.say("when do they start", "ask_withdrawal_timeline")
    chat.utter("utter_withdrawal_timeline")
    first_new = len(chat.events)
    no = chat.feedback("feedback_no", "withdrawal_symptoms")  # about the earlier answer, not the last

    records = built(chat, first_new)
    (row,) = records.feedback
    assert (row["answer"], row["helpful"], row["intent"]) == (
        "withdrawal_symptoms",
        False,
        "ask_withdrawal_symptoms",
    )
    (item,) = records.queue
    assert item["reason"] == schema.REASON_NOT_HELPFUL
    assert (item["text"], item["answer"], item["comment"]) == (
        "what are the symptoms",
        "withdrawal_symptoms",
        None,
    )
    assert json.loads(item["guesses"]) == [{"intent": "ask_withdrawal_symptoms", "confidence": 0.8}]

    first_new = len(chat.events)
    chat.say("i wanted to know about sleep, call 555-123-4567", "nlu_fallback", 0.3)
    chat.reply("action_suggest_questions", BotUttered("Did you mean", {"buttons": SUGGESTIONS}, {}))
    later = built(chat, first_new)
    comment = "i wanted to know about sleep, call [phone removed]"
    assert later.comments == [record.Comment(schema.conversation_key(SENDER), no.timestamp, comment)]
    assert [q["reason"] for q in later.queue] == [schema.REASON_DID_YOU_MEAN], "and it is answered as usual"


def test_a_no_about_a_chosen_suggestion_queues_the_typed_message_it_was_chosen_for():
    chat = Chat()
    ranking = [("nlu_fallback", 0.4), ("ask_med_what_is", 0.35), ("ask_med_helps", 0.2)]
    chat.say("wat r vals exactly", "nlu_fallback", 0.4, ranking)
    chat.reply("action_suggest_questions", BotUttered("Did you mean", {"buttons": SUGGESTIONS}, {}))
    chat.say(SUGGESTIONS[0]["payload"], "ask_med_what_is", 1.0)
    chat.medication_answer("what_is.valium")
    first_new = len(chat.events)
    chat.feedback("feedback_no", "what_is.valium")

    (item,) = built(chat, first_new).queue
    assert (item["reason"], item["text"], item["answer"]) == (
        schema.REASON_NOT_HELPFUL,
        "wat r vals exactly",  # what the person wrote, not the button's payload
        "what_is.valium",
    )
    assert json.loads(item["guesses"]) == [
        {"intent": "ask_med_what_is", "confidence": 0.35},
        {"intent": "ask_med_helps", "confidence": 0.2},
    ]


def test_a_no_about_a_menu_button_queues_the_button_title_not_its_payload():
    chat = Chat()
    chat.say("help", "help_menu", 0.95)
    chat.utter(
        "utter_help_menu", buttons=[{"title": "What is Valium?", "payload": SUGGESTIONS[0]["payload"]}]
    )
    chat.say(SUGGESTIONS[0]["payload"], "ask_med_what_is", 1.0)
    chat.medication_answer("what_is.valium")
    chat.feedback("feedback_no", "what_is.valium")

    (item,) = built(chat).queue
    assert (item["text"], item["answer"]) == ("What is Valium?", "what_is.valium")


def test_a_comment_in_the_same_save_goes_into_the_item():
    chat = Chat()
    chat.say("is withdrawal dangerous", "ask_withdrawal_dangerous")
    chat.utter("utter_withdrawal_dangerous")
    chat.feedback("feedback_no", "withdrawal_dangerous")
    chat.say("i meant for my dad", "nlu_fallback", 0.2)
    chat.utter("utter_default")
    records = built(chat)
    assert records.comments == []
    assert [(q["reason"], q["comment"]) for q in records.queue] == [
        (schema.REASON_NOT_HELPFUL, "i meant for my dad"),
        (schema.REASON_NOT_UNDERSTOOD, None),  # and, not understood itself, an item of its own
    ]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("/ask_withdrawal_timeline", "ask_withdrawal_timeline"),  # a button: nothing typed
        ("i want to die", "crisis"),  # never kept
        ('/feedback_yes{"answer":"withdrawal_symptoms"}', "feedback_yes"),
    ],
)
def test_no_comment_from_buttons_or_crisis_messages(text, intent):
    chat = Chat()
    chat.say("what are the symptoms", "ask_withdrawal_symptoms")
    chat.utter("utter_withdrawal_symptoms")
    chat.feedback("feedback_no", "withdrawal_symptoms")
    first_new = len(chat.events)
    chat.say(text, intent, 1.0)
    chat.utter("utter_crisis" if intent == "crisis" else "utter_withdrawal_timeline")
    assert built(chat, first_new).comments == []


def test_feedback_typed_is_about_the_last_answer_and_counted_once_per_answer():
    chat = Chat("slack")
    chat.say("does valium help", "ask_med_helps")
    chat.medication_answer("helps.valium")
    chat.say("that did not help", "feedback_no", 0.93)
    chat.utter("utter_feedback_no")
    chat.feedback("feedback_no", "helps.valium")  # the button pressed as well: counted once
    chat.feedback("feedback_yes", "helps.valium")  # and changing one's mind later: still once
    records = built(chat)
    assert [(f["answer"], f["helpful"]) for f in records.feedback] == [("helps.valium", False)]
    assert len(records.queue) == 1
    assert [t["kind"] for t in records.turns][1:] == [schema.FEEDBACK] * 3


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("helps.valium", [("helps.valium", True)]),  # given in an earlier session: still a real answer
        ("<b>forged</b>", []),  # not an answer name: nothing stored
        (None, []),  # typed, with no answer before it
    ],
)
def test_feedback_without_its_answer_at_hand(answer, expected):
    chat = Chat()
    chat.feedback("feedback_yes", answer)
    records = built(chat)
    assert [(f["answer"], f["helpful"]) for f in records.feedback] == expected
    assert [t["kind"] for t in records.turns] == [schema.FEEDBACK]


def test_no_about_a_crisis_free_answer_of_an_earlier_session_is_queued_without_text():
    chat = Chat()
    chat.feedback("feedback_no", "what_is.klonopin")
    (item,) = built(chat).queue
    assert (item["reason"], item["text"], item["answer"], item["guesses"]) == (
        schema.REASON_NOT_HELPFUL,
        None,
        "what_is.klonopin",
        "[]",
    )


# --- the language of each row ---------------------------------------------------------------------


def spanish() -> list[dict[str, Any]]:
    """The entity components/language.py adds to a message it is sure is Spanish."""
    return [{"entity": "language", "value": "es"}]


def test_each_turn_has_the_conversations_language_at_it():
    chat = Chat()
    chat.say("hi", "greet")
    chat.utter("utter_greet_disclaimer")
    chat.say("hola, que tal", "greet", entities=spanish())  # sure of it: the slot follows
    chat.reply("utter_greet", slots={"language": "es"})
    chat.say("valium", "ask_med_what_is")  # too short to tell: the conversation's language stays
    chat.medication_answer("what_is.valium")
    english = [{"entity": "language", "value": "en"}]
    chat.say('/help_menu{"language":"en"}', "help_menu", 1.0, entities=english)  # "Continue in English"
    chat.reply("utter_help_menu", slots={"language": "en"})
    chat.say("ok", "thank")
    chat.utter("utter_thank")
    forged = [{"entity": "language", "value": "xx"}]  # no reply has a variation for it: English is read
    chat.say('/help_menu{"language":"xx"}', "help_menu", 1.0, entities=forged)
    chat.reply("utter_help_menu", slots={"language": "xx"})
    chat.say("and then", "thank")
    chat.utter("utter_thank")
    assert [t["language"] for t in built(chat).turns] == ["en", "es", "es", "en", "en", "en", "en"]


def test_the_language_set_before_the_save_carries_into_it_and_a_new_session_resets_it():
    chat = Chat()
    chat.say("hola", "greet", entities=spanish())
    chat.reply("utter_greet", slots={"language": "es"})
    first_new = len(chat.events)
    chat.say("el valium ayuda?", "ask_med_helps")  # no entity this time
    chat.medication_answer("helps.valium")
    assert [t["language"] for t in built(chat, first_new).turns] == ["es"]
    # domain.yml carries no slot over to a new session: it starts in English until told otherwise.
    chat.events += [
        ActionExecuted("action_session_start", timestamp=chat.tick()),
        SessionStarted(timestamp=chat.tick()),
        ActionExecuted("action_listen", timestamp=chat.tick()),
    ]
    first_new = len(chat.events)
    chat.say("does valium help", "ask_med_helps")
    chat.medication_answer("helps.valium")
    assert [t["language"] for t in built(chat, first_new).turns] == ["en"]


def test_queue_items_and_feedback_have_the_language_of_the_message_they_show():
    chat = Chat()
    ranking = [("nlu_fallback", 0.4), ("ask_med_helps", 0.3)]
    chat.say("pastillas para la malilla cosa", "nlu_fallback", 0.4, ranking, entities=spanish())
    chat.reply(
        "action_suggest_questions",
        BotUttered("Quiso decir", {"buttons": SUGGESTIONS}, {}),
        slots={"language": "es"},
    )
    chat.say("/none_of_these", "none_of_these", 1.0)
    chat.utter("utter_default")
    chat.say("el valium ayuda con la abstinencia", "ask_med_helps", 0.8, entities=spanish())
    chat.medication_answer("helps.valium")
    # Switched to English, then a "no" about the Spanish answer: the answer's language is recorded.
    chat.say("in english please", "help_menu", 1.0, entities=[{"entity": "language", "value": "en"}])
    chat.reply("utter_help_menu", slots={"language": "en"})
    chat.feedback("feedback_no", "helps.valium")

    records = built(chat)
    assert [t["language"] for t in records.turns] == ["es", "es", "es", "en", "en"]
    assert [(q["reason"], q["language"]) for q in records.queue] == [
        (schema.REASON_DID_YOU_MEAN, "es"),
        (schema.REASON_NONE_OF_THESE, "es"),
        (schema.REASON_NOT_HELPFUL, "es"),
    ]
    (feedback,) = records.feedback
    assert (feedback["answer"], feedback["language"]) == ("helps.valium", "es")


def test_the_languages_are_the_contents():
    from content import LANGUAGES

    assert schema.LANGUAGES == LANGUAGES and LANGUAGES[0] == schema.ENGLISH


# --- written by the conversation store -----------------------------------------------------------

STORES = [PrivateSQLTrackerStore, IncrementalPrivateSQLTrackerStore]


def rows(db: Path, table: sa.Table) -> list[dict[str, Any]]:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as connection:
        found = [dict(r._mapping) for r in connection.execute(table.select().order_by(table.c.id))]
    engine.dispose()
    return found


async def save_turns(store, rasa_domain, chat: Chat, since: int) -> None:
    """Saves the chat's events from `since` on, as the processor does after each message."""
    tracker = await store.retrieve(SENDER) or DialogueStateTracker(SENDER, rasa_domain.slots)
    for event in chat.events[since:]:
        tracker.update(event)
    await store.save(tracker)


@pytest.mark.parametrize("kind", STORES)
async def test_the_store_writes_the_rows_with_the_events(kind, rasa_domain, tmp_path, monkeypatch):
    counted: list[tuple[str, str, str]] = []
    monkeypatch.setattr("insights.metrics.turn", lambda k, c, language: counted.append((k, c, language)))
    db = tmp_path / "conversations.db"
    store = kind(domain=rasa_domain, dialect="sqlite", db=str(db))
    chat = Chat()
    saved = 0
    steps = [
        lambda: (chat.say("does valium help", "ask_med_helps"), chat.medication_answer("helps.valium")),
        lambda: chat.feedback("feedback_no", "helps.valium"),
        lambda: (chat.say("i need it for sleep", "nlu_fallback", 0.2), chat.utter("utter_default")),
        lambda: (chat.say("weather", "out_of_scope"), chat.utter("utter_out_of_scope")),
    ]
    for step in steps:
        step()
        await save_turns(store, rasa_domain, chat, saved)
        saved = len(chat.events)

    turns = rows(db, schema.turns)
    kinds = [schema.ANSWER, schema.FEEDBACK, schema.FALLBACK, schema.OUT_OF_SCOPE]
    assert [t["kind"] for t in turns] == kinds
    assert counted == [(t["kind"], "rest", "en") for t in turns]
    (feedback,) = rows(db, schema.feedback)
    assert (feedback["answer"], feedback["helpful"]) == ("helps.valium", False)
    queue = rows(db, schema.queue)
    assert [(q["reason"], q["text"], q["comment"]) for q in queue] == [
        (schema.REASON_NOT_HELPFUL, "does valium help", "i need it for sleep"),
        (schema.REASON_NOT_UNDERSTOOD, "i need it for sleep", None),
        (schema.REASON_OUT_OF_SCOPE, "weather", None),
    ]
    # A later store (another worker, a restart) reads the conversation back and records nothing twice.
    again = kind(domain=rasa_domain, dialect="sqlite", db=str(db))
    chat.say("thanks", "thank")
    chat.utter("utter_thank")
    await save_turns(again, rasa_domain, chat, saved)
    assert len(rows(db, schema.turns)) == len(turns) + 1
    assert len(rows(db, schema.queue)) == 3


async def test_a_failure_to_build_the_rows_does_not_lose_the_conversation(rasa_domain, tmp_path, monkeypatch):
    def broken(*args):
        raise ValueError("a bug")

    monkeypatch.setattr(record, "build", broken)
    db = tmp_path / "conversations.db"
    store = PrivateSQLTrackerStore(domain=rasa_domain, dialect="sqlite", db=str(db))
    chat = Chat()
    chat.say("hi", "greet")
    chat.utter("utter_greet")
    await save_turns(store, rasa_domain, chat, 0)
    tracker = await store.retrieve(SENDER)
    assert tracker is not None and tracker.latest_message.text == "hi"
    assert rows(db, schema.turns) == []


@pytest.mark.parametrize("kind", STORES)
async def test_purge_deletes_old_rows_of_every_table(kind, rasa_domain, tmp_path):
    db = tmp_path / "conversations.db"
    store = kind(domain=rasa_domain, dialect="sqlite", db=str(db))
    old = Chat()
    old.say("weather", "out_of_scope")
    old.utter("utter_out_of_scope")
    old.feedback("feedback_yes", "helps.valium")
    await save_turns(store, rasa_domain, old, 0)
    recent = time.time()
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as connection:
        connection.execute(schema.turns.insert(), [{**rows(db, schema.turns)[0], "id": None, "ts": recent}])
    engine.dispose()
    assert [len(rows(db, t)) for t in schema.TABLES] == [3, 1, 1]

    deleted = store.purge_older_than(1)
    assert deleted == len(old.events) + 2 + 1 + 1
    assert [len(rows(db, t)) for t in schema.TABLES] == [1, 0, 0]
    assert rows(db, schema.turns)[0]["ts"] == recent


async def test_the_store_writes_the_language_of_every_row(rasa_domain, tmp_path):
    db = tmp_path / "conversations.db"
    store = IncrementalPrivateSQLTrackerStore(domain=rasa_domain, dialect="sqlite", db=str(db))
    chat = Chat()
    chat.say("el valium ayuda con la abstinencia", "ask_med_helps", entities=spanish())
    chat.medication_answer("helps.valium")
    chat.events.append(SlotSet("language", "es", timestamp=chat.tick()))
    chat.feedback("feedback_no", "helps.valium")
    await save_turns(store, rasa_domain, chat, 0)
    assert [t["language"] for t in rows(db, schema.turns)] == ["es", "es"]
    assert [f["language"] for f in rows(db, schema.feedback)] == ["es"]
    assert [(q["reason"], q["language"]) for q in rows(db, schema.queue)] == [
        (schema.REASON_NOT_HELPFUL, "es")
    ]


# The tables as the released versions created them, before the `language` column.
OLD_TABLES = [
    "CREATE TABLE faq_turns (id INTEGER PRIMARY KEY, ts FLOAT NOT NULL, conversation VARCHAR(32) NOT NULL,"
    " channel VARCHAR(32) NOT NULL, intent VARCHAR(64), confidence FLOAT, kind VARCHAR(16) NOT NULL,"
    " answer VARCHAR(64))",
    "CREATE TABLE faq_feedback (id INTEGER PRIMARY KEY, ts FLOAT NOT NULL, conversation VARCHAR(32) NOT NULL,"
    " channel VARCHAR(32) NOT NULL, answer VARCHAR(64) NOT NULL, helpful BOOLEAN NOT NULL,"
    " intent VARCHAR(64), confidence FLOAT)",
    "CREATE TABLE faq_queue (id INTEGER PRIMARY KEY, ts FLOAT NOT NULL, conversation VARCHAR(32) NOT NULL,"
    " channel VARCHAR(32) NOT NULL, reason VARCHAR(16) NOT NULL, text TEXT, guesses TEXT NOT NULL,"
    " answer VARCHAR(64), comment TEXT, status VARCHAR(16) NOT NULL, resolved_ts FLOAT, resolution TEXT)",
    "INSERT INTO faq_turns (ts, conversation, channel, kind) VALUES (1.0, 'old', 'rest', 'answer')",
    "INSERT INTO faq_feedback (ts, conversation, channel, answer, helpful)"
    " VALUES (1.0, 'old', 'rest', 'a', 1)",
    "INSERT INTO faq_queue (ts, conversation, channel, reason, text, guesses, status)"
    " VALUES (1.0, 'old', 'rest', 'out_of_scope', 'weather', '[]', 'open')",
]


async def test_an_older_database_gets_the_language_column_and_keeps_its_rows(rasa_domain, tmp_path):
    db = tmp_path / "conversations.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as connection:
        for statement in OLD_TABLES:
            connection.execute(sa.text(statement))
    store = PrivateSQLTrackerStore(domain=rasa_domain, dialect="sqlite", db=str(db))  # upgrades it
    columns = {t.name: [c["name"] for c in sa.inspect(engine).get_columns(t.name)] for t in schema.TABLES}
    assert all(names[-1] == "language" for names in columns.values()), columns
    # Recorded by an English-only version: English.
    assert [[r["language"] for r in rows(db, table)] for table in schema.TABLES] == [["en"]] * 3
    assert schema.add_missing_columns(engine) == []  # once only; a second start changes nothing
    schema.create_tables(engine)

    chat = Chat()
    chat.say("hola", "greet", entities=spanish())
    chat.utter("utter_greet")
    await save_turns(store, rasa_domain, chat, 0)
    assert [t["language"] for t in rows(db, schema.turns)] == ["en", "es"]
    engine.dispose()


def test_servers_starting_together_upgrade_an_older_database_once(tmp_path):
    """Both Rasa servers and the console start at once on the same database: each checks, one adds the
    column, the others' ALTER fails ("duplicate column") and their next try finds it there."""
    import threading

    db = tmp_path / "conversations.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as connection:
        for statement in OLD_TABLES:
            connection.execute(sa.text(statement))
    errors: list[BaseException] = []

    def start() -> None:
        own = sa.create_engine(f"sqlite:///{db}")
        try:
            schema.create_tables(own)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            own.dispose()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for table in schema.TABLES:
        names = [c["name"] for c in sa.inspect(engine).get_columns(table.name)]
        assert names.count("language") == 1, names
    engine.dispose()
