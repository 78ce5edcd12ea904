"""SQL tracker store that redacts personal details, keeps conversations a limited time, records what
the assistant did with each message (storage/record.py), and never silently loses a conversation
when the database is down; `IncrementalPrivateSQLTrackerStore` adds incremental reads.

Rasa wraps every tracker store in a FailSafeTrackerStore that, on any Exception, starts an empty
conversation or keeps it in memory only. That would quietly drop a person's conversation, so errors
of the database are raised as `ConversationStoreUnavailable`, which is not an `Exception` and goes
past that wrapper to our channels, which answer with a clear 503.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import sqlalchemy.exc
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from insights import metrics, schema
from overrides.incremental_store import IncrementalReads
from overrides.rasa_stores import events_to_save
from storage import record
from storage.redaction import redact_user_event

logger = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 30
# SQLite lets one process write at a time: with several Rasa workers a write can find the file
# locked for a moment. Such an error is retried a few times (0.05 s, doubling) before the message is
# refused as "storage unavailable".
BUSY_MESSAGES = ("database is locked", "database table is locked", "database is busy")
BUSY_RETRIES = 5
T = TypeVar("T")


class WrittenRow(NamedTuple):
    id: int
    type_name: str
    timestamp: float
    data: str


class ConversationStoreUnavailable(BaseException):
    """The conversation database cannot be reached; nothing was read or written."""


class PrivateSQLTrackerStore(SQLTrackerStore):
    def __init__(self, *args: Any, retention_days: int = DEFAULT_RETENTION_DAYS, **kwargs: Any) -> None:
        self.retention_days = int(retention_days)
        if kwargs.get("dialect") == "sqlite" and kwargs.get("db"):
            # SQLite makes the file, not its folder: `rasa shell` run bare on a fresh clone needs var/.
            Path(kwargs["db"]).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(*args, **kwargs)
        schema.create_tables(self.engine)

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        return await self._retrying("read", lambda: super(PrivateSQLTrackerStore, self).retrieve(sender_id))

    async def retrieve_full_tracker(self, sender_id: str) -> DialogueStateTracker | None:
        return await self._retrying(
            "read", lambda: super(PrivateSQLTrackerStore, self).retrieve_full_tracker(sender_id)
        )

    async def save(self, tracker: DialogueStateTracker) -> None:
        """As SQLTrackerStore.save, but user text is redacted before it reaches the database, and
        the insights rows of the new messages are written in the same transaction."""
        written, recorded = await self._retrying("write", lambda: self._write(tracker))
        self._rows_written(tracker.sender_id, written)
        try:
            for turn in recorded.turns:
                metrics.turn(turn["kind"], turn["channel"], turn["language"])
        except Exception:
            # Saved already: a failing counter must not make Rasa's wrapper think the save failed.
            logger.exception("Counting a message for the metrics failed.")

    async def _write(self, tracker: DialogueStateTracker) -> tuple[list[WrittenRow], record.Records]:
        with self.session_scope() as session:
            rows = []
            new_events = list(events_to_save(self, session, tracker))
            recorded = self._records(tracker, len(new_events))
            for event in new_events:
                data = redact_user_event(event.as_dict())
                rows.append(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                        action_name=data.get("name"),
                        data=json.dumps(data),
                    )
                )
            session.add_all(rows)
            session.flush()  # assigns the rows' ids
            written = [WrittenRow(r.id, r.type_name, r.timestamp, r.data) for r in rows]
            write_records(session, recorded)
            session.commit()
        return written, recorded

    @staticmethod
    def _records(tracker: DialogueStateTracker, new: int) -> record.Records:
        """The insights rows of the tracker's last `new` events; none if building them fails, since
        the conversation matters more than its statistics."""
        events = list(tracker.events)
        try:
            return record.build(tracker.sender_id, events, len(events) - new)
        except Exception:
            # No message text in the log: it is private.
            logger.exception("Recording the insights of a message failed; its conversation is saved.")
            return record.Records()

    async def _retrying(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(BUSY_RETRIES):
            try:
                return await operation()
            except sqlalchemy.exc.SQLAlchemyError as error:
                if attempt + 1 < BUSY_RETRIES and is_busy(error):
                    await asyncio.sleep(0.05 * 2**attempt)
                    continue
                raise self._unavailable(what, error) from error
        raise AssertionError("unreachable")

    def _rows_written(self, sender_id: str, rows: list[WrittenRow]) -> None:
        """Called after `save` committed these rows (for subclasses that keep what they read)."""

    def purge_older_than(self, days: int | None = None) -> int:
        """Deletes every event, recorded turn, feedback and queue item older than `days` (default: the
        configured retention); returns how many rows."""
        days = self.retention_days if days is None else days
        cutoff = time.time() - days * 86400
        with self.session_scope() as session:
            deleted = (
                session.query(self.SQLEvent)
                .filter(self.SQLEvent.timestamp < cutoff)
                .delete(synchronize_session=False)
            )
            deleted += schema.purge_older_than(session.connection(), cutoff)
            session.commit()
        return int(deleted)

    @staticmethod
    def _unavailable(what: str, error: Exception) -> ConversationStoreUnavailable:
        # The error class only: its text can contain the SQL and the message being stored.
        busy = " (still locked after retries)" if is_busy(error) else ""
        logger.error("Conversation database unavailable (%s failed: %s%s).", what, type(error).__name__, busy)
        return ConversationStoreUnavailable(f"conversation database unavailable ({what})")


def write_records(session: Any, recorded: record.Records) -> None:
    """One INSERT per insights table with rows, and the comments of earlier "not helpful" items."""
    for table, rows in (
        (schema.turns, recorded.turns),
        (schema.feedback, recorded.feedback),
        (schema.queue, recorded.queue),
    ):
        if rows:
            session.execute(table.insert(), rows)
    queue = schema.queue.c
    for comment in recorded.comments:
        session.execute(
            schema.queue.update()
            .where(
                queue.conversation == comment.conversation,
                queue.reason == schema.REASON_NOT_HELPFUL,
                queue.ts == comment.ts,
                queue.comment.is_(None),
            )
            .values(comment=comment.text)
        )


def is_busy(error: Exception) -> bool:
    """A SQLite 'locked' or 'busy' error: another process is writing; trying again may succeed."""
    return isinstance(error, sqlalchemy.exc.OperationalError) and any(
        text in str(error.orig) for text in BUSY_MESSAGES
    )


class IncrementalPrivateSQLTrackerStore(IncrementalReads, PrivateSQLTrackerStore):
    """The project's store (redaction, retention, loud failures) with incremental reads
    (overrides/incremental_store.py): the `tracker_store` type in endpoints.yml."""
