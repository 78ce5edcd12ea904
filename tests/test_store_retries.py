"""The SQLite conversation store retries a moment of 'database is locked' (another worker writing)."""

from __future__ import annotations

import pytest
import sqlalchemy.exc
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain

from storage.tracker_store import ConversationStoreUnavailable, PrivateSQLTrackerStore


def locked() -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError("SELECT ...", {}, Exception("database is locked"))


@pytest.fixture
def store(tmp_path):
    return PrivateSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "var" / "c.db"))


async def test_a_brief_lock_is_retried(store, monkeypatch):
    calls = []
    original = SQLTrackerStore.retrieve

    async def locked_twice(self, sender_id):
        calls.append(sender_id)
        if len(calls) <= 2:
            raise locked()
        return await original(self, sender_id)

    monkeypatch.setattr(SQLTrackerStore, "retrieve", locked_twice)
    assert await store.retrieve("someone") is None
    assert len(calls) == 3


async def test_a_lock_that_stays_is_reported_unavailable(store, monkeypatch):
    async def always_locked(self, sender_id):
        raise locked()

    monkeypatch.setattr(SQLTrackerStore, "retrieve", always_locked)
    with pytest.raises(ConversationStoreUnavailable):
        await store.retrieve("someone")


async def test_other_database_errors_are_not_retried(store, monkeypatch):
    calls = []

    async def gone(self, sender_id):
        calls.append(sender_id)
        raise sqlalchemy.exc.OperationalError("SELECT ...", {}, Exception("unable to open database file"))

    monkeypatch.setattr(SQLTrackerStore, "retrieve", gone)
    with pytest.raises(ConversationStoreUnavailable):
        await store.retrieve("someone")
    assert len(calls) == 1
