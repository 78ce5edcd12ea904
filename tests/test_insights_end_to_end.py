"""The real servers with the shipped conversation store: what they record of a conversation over REST
(storage/record.py): a "no" with its comment in the queue, "did you mean", "none of these" and
out-of-scope items, and a crisis message counted but its text kept in no table."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from channel_harness import FEEDBACK_NO_REPLY
from servers import Servers, running_servers, shipped_storage

from insights import schema

pytestmark = pytest.mark.server

CRISIS = "my friend took too many pills and is not breathing"


@pytest.fixture(scope="module")
def recording(model, tmp_path_factory) -> Iterator[tuple[Servers, Path]]:
    folder = tmp_path_factory.mktemp("recording")
    (folder / "run").mkdir()
    with running_servers(folder / "run", shipped_storage(folder)) as servers:
        yield servers, folder / "conversations.db"


def rows(db: Path, table: str, sender: str) -> list[dict]:
    with sqlite3.connect(db) as connection:
        connection.row_factory = sqlite3.Row
        found = connection.execute(
            f"SELECT * FROM {table} WHERE conversation = ? ORDER BY id", (schema.conversation_key(sender),)
        ).fetchall()
    return [dict(row) for row in found]


def test_a_no_with_its_comment_is_queued(recording):
    servers, db = recording
    sender = "rec-feedback"
    answer = servers.say(sender, "does valium help with opioid withdrawal")
    assert "Valium" in answer[0]["text"]
    prompt = answer[-1]["feedback"]
    assert prompt["answer"] == "helps.valium"

    assert [m.get("text") for m in servers.say(sender, prompt["no"]["payload"])] == [FEEDBACK_NO_REPLY]
    comment = servers.say(sender, "i wanted to know if it helps me sleep, my number is 555-123-4567")
    assert comment and all(m.get("text") or m.get("feedback") for m in comment), "answered as usual"

    (item,) = [q for q in rows(db, "faq_queue", sender) if q["reason"] == schema.REASON_NOT_HELPFUL]
    assert item["text"] == "does valium help with opioid withdrawal"
    assert item["answer"] == "helps.valium"
    assert item["comment"] == "i wanted to know if it helps me sleep, my number is [phone removed]"
    assert (item["channel"], item["status"]) == ("rest", schema.OPEN)
    guesses = json.loads(item["guesses"])
    assert guesses[0]["intent"] == "ask_med_helps" and 1 <= len(guesses) <= 3
    (feedback,) = rows(db, "faq_feedback", sender)
    assert (feedback["answer"], feedback["helpful"], feedback["intent"]) == (
        "helps.valium",
        0,
        "ask_med_helps",
    )
    kinds = [t["kind"] for t in rows(db, "faq_turns", sender)]
    assert kinds[:2] == [schema.ANSWER, schema.FEEDBACK] and len(kinds) == 3


def test_did_you_mean_none_of_these_and_out_of_scope_are_queued(recording):
    servers, db = recording
    sender = "rec-missed"
    suggestions = servers.say(sender, "withdrawal pills thing")
    assert any(b["payload"] == "/none_of_these" for m in suggestions for b in m.get("buttons") or [])
    servers.say(sender, "/none_of_these")
    servers.say(sender, "how do i file my taxes")

    queue = rows(db, "faq_queue", sender)
    assert [(q["reason"], q["text"]) for q in queue] == [
        (schema.REASON_DID_YOU_MEAN, "withdrawal pills thing"),
        (schema.REASON_NONE_OF_THESE, "withdrawal pills thing"),
        (schema.REASON_OUT_OF_SCOPE, "how do i file my taxes"),
    ]
    assert all("nlu_fallback" not in q["guesses"] for q in queue)
    kinds = [t["kind"] for t in rows(db, "faq_turns", sender)]
    assert kinds == [schema.DID_YOU_MEAN, schema.FALLBACK, schema.OUT_OF_SCOPE]


def test_a_crisis_is_counted_but_its_text_is_kept_nowhere(recording):
    servers, db = recording
    sender = "rec-crisis"
    servers.say(sender, "what are the symptoms of opioid withdrawal")
    assert "911" in servers.say(sender, CRISIS)[0]["text"]
    # Even written as the comment on a "no", it is not kept.
    servers.say(sender, '/feedback_no{"answer":"withdrawal_symptoms"}')
    assert "911" in servers.say(sender, "i want to kill myself")[0]["text"]

    turns = rows(db, "faq_turns", sender)
    assert [t["kind"] for t in turns] == [schema.ANSWER, schema.CRISIS, schema.FEEDBACK, schema.CRISIS]
    assert turns[1]["intent"] == "crisis"
    queue, feedback = rows(db, "faq_queue", sender), rows(db, "faq_feedback", sender)
    assert [(q["reason"], q["comment"]) for q in queue] == [(schema.REASON_NOT_HELPFUL, None)]
    assert len(feedback) == 1
    with sqlite3.connect(db) as connection:
        kept = repr(connection.execute("SELECT * FROM faq_queue").fetchall())
        kept += repr(connection.execute("SELECT * FROM faq_feedback").fetchall())
    assert "breathing" not in kept and "kill" not in kept


def test_a_spanish_conversation_is_recorded_in_spanish(recording):
    servers, db = recording
    sender = "rec-spanish"
    answer = servers.say(sender, "¿el valium ayuda con la abstinencia de los opioides?")
    prompt = answer[-1]["feedback"]
    assert prompt["language"] == "es", answer  # answered in Spanish
    servers.say(sender, prompt["no"]["payload"])  # a button: no language of its own, the slot's
    servers.say(sender, '/help_menu{"language":"en"}')  # "Continue in English"

    assert [t["language"] for t in rows(db, "faq_turns", sender)] == ["es", "es", "en"]
    (feedback,) = rows(db, "faq_feedback", sender)
    assert (feedback["answer"], feedback["language"]) == (prompt["answer"], "es")
    (item,) = rows(db, "faq_queue", sender)
    assert (item["reason"], item["language"]) == (schema.REASON_NOT_HELPFUL, "es")
