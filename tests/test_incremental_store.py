"""The incremental SQL tracker store returns exactly what Rasa's SQL store returns, reading less."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from storage.tracker_store import IncrementalPrivateSQLTrackerStore, PrivateSQLTrackerStore


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "conversations.db"


def store(kind: type[SQLTrackerStore], domain: Domain, db: Path, **kwargs) -> SQLTrackerStore:
    return kind(domain=domain, dialect="sqlite", db=str(db), **kwargs)


def turn(text: str, intent: str, when: float, medication: str | None = None) -> list[Event]:
    events: list[Event] = [
        UserUttered(text, {"name": intent, "confidence": 0.9}, timestamp=when),
        ActionExecuted("utter_" + intent, timestamp=when + 0.1),
        BotUttered("answer to " + text, timestamp=when + 0.2),
    ]
    if medication:
        events.append(SlotSet("medication", medication, timestamp=when + 0.3))
    events.append(ActionExecuted("action_listen", timestamp=when + 0.4))
    return events


def session_start(when: float) -> list[Event]:
    return [
        ActionExecuted("action_session_start", timestamp=when),
        SessionStarted(timestamp=when + 0.01),
        ActionExecuted("action_listen", timestamp=when + 0.02),
    ]


async def add(store_: SQLTrackerStore, domain: Domain, sender: str, events: list[Event]) -> None:
    tracker = await store_.retrieve(sender) or DialogueStateTracker(sender, domain.slots)
    for event in events:
        tracker.update(event)
    await store_.save(tracker)


def dump(tracker: DialogueStateTracker | None) -> list[dict] | None:
    return None if tracker is None else [e.as_dict() for e in tracker.events]


async def same_as_rasa(fast: SQLTrackerStore, domain: Domain, db: Path, sender: str) -> list[dict] | None:
    """What the incremental store returns, checked against a fresh PrivateSQLTrackerStore's read."""
    got = await fast.retrieve(sender)
    expected = await store(PrivateSQLTrackerStore, domain, db).retrieve(sender)
    assert dump(got) == dump(expected)
    if got is not None and expected is not None:
        assert got.current_state() == expected.current_state()
    return dump(got)


async def test_reads_only_new_rows_and_matches_rasa(rasa_domain, db, monkeypatch):
    fast = store(IncrementalPrivateSQLTrackerStore, rasa_domain, db)
    await add(
        fast, rasa_domain, "alice", session_start(1000) + turn("does valium help", "ask_med_helps", 1001)
    )
    await same_as_rasa(fast, rasa_domain, db, "alice")

    parsed: list[int] = []
    import overrides.incremental_store as module

    original = module.deserialise_events
    monkeypatch.setattr(module, "deserialise_events", lambda rows: parsed.append(len(rows)) or original(rows))
    for n in range(5):
        await add(fast, rasa_domain, "alice", turn(f"question {n}", "ask_med_risks", 1010 + n, "valium"))
    events = await same_as_rasa(fast, rasa_domain, db, "alice")
    # The session from session_started on (2), the first turn (4), five turns with a slot (5 each).
    assert events is not None and len(events) == 2 + 4 + 5 * 5
    # Each retrieve parsed only the rows saved since the one before (5 per turn), never the session.
    assert parsed and max(parsed) == 5


async def test_sees_rows_written_by_another_process(rasa_domain, db):
    first = store(IncrementalPrivateSQLTrackerStore, rasa_domain, db)
    second = store(IncrementalPrivateSQLTrackerStore, rasa_domain, db)
    await add(first, rasa_domain, "bob", session_start(1000) + turn("hi", "greet", 1001))
    await add(second, rasa_domain, "bob", turn("what about klonopin", "ask_what_about", 1002, "klonopin"))
    tracker = await first.retrieve("bob")
    assert tracker is not None and tracker.get_slot("medication") == "klonopin"
    await same_as_rasa(first, rasa_domain, db, "bob")


async def test_deleted_rows_and_new_sessions_are_read_in_full(rasa_domain, db):
    fast = store(IncrementalPrivateSQLTrackerStore, rasa_domain, db)
    await add(fast, rasa_domain, "carol", session_start(1000) + turn("hi", "greet", 1001, "valium"))
    await same_as_rasa(fast, rasa_domain, db, "carol")

    # A new session: only its events count, and the old session's slot is gone.
    await add(fast, rasa_domain, "carol", session_start(5000) + turn("hello again", "greet", 5001))
    events = await same_as_rasa(fast, rasa_domain, db, "carol")
    assert events is not None and events[0]["event"] == "session_started"

    # Rows deleted behind the store's back (as `make purge` does).
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM events WHERE sender_id = 'carol' AND timestamp < 5000")
    await same_as_rasa(fast, rasa_domain, db, "carol")
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM events WHERE sender_id = 'carol'")
    assert await fast.retrieve("carol") is None


async def test_conversations_never_mix_and_the_memory_is_bounded(rasa_domain, db):
    fast = store(IncrementalPrivateSQLTrackerStore, rasa_domain, db, cached_conversations=2)
    for n, sender in enumerate(("dan", "eve", "fay")):
        await add(fast, rasa_domain, sender, session_start(1000) + turn(f"{sender} asks", "greet", 1001 + n))
    for sender in ("dan", "eve", "fay", "dan"):
        events = await same_as_rasa(fast, rasa_domain, db, sender)
        assert events is not None
        assert [e["text"] for e in events if e["event"] == "user"] == [f"{sender} asks"]
    assert len(fast._kept) == 2


async def test_returns_the_redacted_text_as_stored(rasa_domain, db):
    fast = store(IncrementalPrivateSQLTrackerStore, rasa_domain, db)
    await add(fast, rasa_domain, "gus", session_start(1000) + turn("call me on 555 123 4567", "greet", 1001))
    await add(fast, rasa_domain, "gus", turn("or mail gus@example.org", "greet", 1002))
    events = await same_as_rasa(fast, rasa_domain, db, "gus")
    assert events is not None
    texts = [e["text"] for e in events if e["event"] == "user"]
    assert texts == ["call me on [phone removed]", "or mail [email removed]"]


async def test_saving_needs_no_session_count_and_the_next_read_no_rows(rasa_domain, db, monkeypatch):
    """After its own save the store keeps the written rows: Rasa's count query and a read-back are skipped."""
    fast = store(IncrementalPrivateSQLTrackerStore, rasa_domain, db)
    await add(fast, rasa_domain, "hal", session_start(1000) + turn("hi", "greet", 1001))
    await same_as_rasa(fast, rasa_domain, db, "hal")  # read once: from here on the store keeps it
    calls: list[str] = []
    monkeypatch.setattr(
        SQLTrackerStore, "_additional_events", lambda self, s, t: calls.append("rasa count") or iter(())
    )
    monkeypatch.setattr(fast, "_append_new_rows", lambda *a: calls.append("read back"))
    monkeypatch.setattr(fast, "_read_in_full", lambda *a: calls.append("read in full"))
    for n in range(4):
        await add(fast, rasa_domain, "hal", turn(f"question {n}", "ask_med_risks", 1010 + n, "valium"))
    assert calls == []
    monkeypatch.undo()
    events = await same_as_rasa(fast, rasa_domain, db, "hal")
    assert events is not None and len(events) == 2 + 4 + 4 * 5


async def test_a_write_between_read_and_save_is_not_overwritten(rasa_domain, db):
    """Another process adds rows after this store read the conversation: the save falls back to
    Rasa's count, and every row of both is kept."""
    first = store(IncrementalPrivateSQLTrackerStore, rasa_domain, db)
    second = store(IncrementalPrivateSQLTrackerStore, rasa_domain, db)
    await add(first, rasa_domain, "ida", session_start(1000) + turn("hi", "greet", 1001))
    tracker = await first.retrieve("ida")
    assert tracker is not None
    await add(second, rasa_domain, "ida", turn("what about klonopin", "ask_what_about", 1002, "klonopin"))
    for event in turn("and valium", "ask_what_about", 1003, "valium"):
        tracker.update(event)
    await first.save(tracker)  # Rasa's own rule: events beyond the stored count are new
    expected = await store(PrivateSQLTrackerStore, rasa_domain, db).retrieve("ida")
    assert dump(await first.retrieve("ida")) == dump(expected)
    assert dump(await second.retrieve("ida")) == dump(expected)


async def test_handed_out_trackers_are_independent_copies(rasa_domain, db):
    """The store keeps the tracker it built and hands out copies: changing one (without saving)
    changes neither what is kept nor the next copy; applied events are Rasa's."""
    fast = store(IncrementalPrivateSQLTrackerStore, rasa_domain, db)
    await add(fast, rasa_domain, "jon", session_start(1000) + turn("hi", "greet", 1001, "valium"))
    first = await fast.retrieve("jon")
    assert first is not None
    assert first.applied_events() == DialogueStateTracker.applied_events(first)
    first.update(UserUttered("not saved", {"name": "greet"}, timestamp=1002))
    first.update(SlotSet("medication", "klonopin", timestamp=1002.1))
    second = await fast.retrieve("jon")
    assert second is not None and second is not first
    assert "not saved" not in [e.get("text") for e in dump(second) or []]
    assert second.get_slot("medication") == "valium"
    await same_as_rasa(fast, rasa_domain, db, "jon")
    await add(fast, rasa_domain, "jon", turn("and klonopin", "ask_what_about", 1003, "klonopin"))
    third = await fast.retrieve("jon")
    assert third is not None and third.get_slot("medication") == "klonopin"
    assert third.applied_events() == DialogueStateTracker.applied_events(third)
    await same_as_rasa(fast, rasa_domain, db, "jon")
