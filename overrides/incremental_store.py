"""Incremental reads for a SQL tracker store: only the rows added since it last read a conversation.

Rasa's SQLTrackerStore re-reads every event of the conversation's session for every message, parses
each row's JSON and looks up its event class by walking all Event subclasses. At message 300 of one
conversation that was over half of the server's time (docs/performance.md).

This store keeps, per conversation, the events it has already read from the database (up to
`cached_conversations` conversations, least recently used dropped). Before each use it asks the
database how many rows the conversation has and the newest row id (one indexed query): unchanged ->
the kept events; only new rows (ids above the newest kept) -> those rows are read and appended;
anything else (rows deleted by `make purge`, a new session started, another server process wrote
in between in a way that does not add up) -> the session is read in full as Rasa does. The tracker is
always rebuilt from events that came out of the database, so it is the same tracker Rasa would
build (including the redaction applied on save); the database stays the only source of truth, and
a conversation's events are only ever returned for that conversation's sender id.
"""

from __future__ import annotations

import itertools
import json
import operator
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SessionStarted, deserialise_events
from rasa.shared.core.trackers import DialogueStateTracker

import overrides
from overrides.tracker_copy import FastCopyTracker

DEFAULT_CACHED_CONVERSATIONS = 1000


class StoredRow(Protocol):
    """A row of Rasa's events table as the store below it wrote it (storage.tracker_store.WrittenRow)."""

    @property
    def id(self) -> int: ...
    @property
    def type_name(self) -> str: ...
    @property
    def timestamp(self) -> float: ...
    @property
    def data(self) -> str: ...


def write_ahead_log(connection: Any, _record: Any) -> None:
    """SQLite in WAL mode with synchronous=NORMAL, SQLite's recommended pairing for WAL.

    A commit appends to the write-ahead log without waiting for the disk (it is synced at
    checkpoints): a conversation survives any crash or restart of the servers, and the file is never
    corrupted; only a power cut or an operating-system crash can lose the last moments' messages.
    Readers no longer wait for a writer. (The rollback journal with synchronous=FULL synced two files
    per message: 5-6 % of the server's time at 50 users.)
    """
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@dataclass
class KeptSession:
    """What was read of one conversation: its latest session's events, and how its rows stood."""

    rows: int  # rows of this sender in the database, all sessions
    newest_id: int  # highest row id of this sender
    session_start: float | None  # timestamp of the latest session_started row, if any
    events: list[Event] = field(default_factory=list)
    # The tracker these events make (built on first use, never handed out itself), and the domain
    # whose slots it was built with.
    tracker: FastCopyTracker | None = None
    domain: Domain | None = None

    def followed_by(self, rows: int, newest_id: int, events: list[Event]) -> KeptSession:
        """This session with `events` appended; the built tracker goes on by applying them."""
        tracker, self.tracker = self.tracker, None  # one owner at a time
        if tracker is not None:
            for event in events:
                tracker.update(event)
        return KeptSession(rows, newest_id, self.session_start, [*self.events, *events], tracker, self.domain)

    def tracker_for(self, sender_id: str, domain: Domain) -> DialogueStateTracker:
        """A tracker of these events: a copy of the kept one (built by replaying them, once)."""
        if not overrides.enabled("tracker_copy"):
            return DialogueStateTracker.from_events(sender_id, list(self.events), domain.slots)
        if self.tracker is None or self.domain is not domain:
            self.tracker = FastCopyTracker.from_events(sender_id, list(self.events), domain.slots)
            self.domain = domain
        return self.tracker.handout()


class IncrementalReads(SQLTrackerStore):
    """Mix in before a SQLTrackerStore subclass: `class S(IncrementalReads, SomeSQLTrackerStore)`
    (storage.tracker_store.IncrementalPrivateSQLTrackerStore). The store below calls
    `_rows_written(sender_id, rows)` after each save commits."""

    engine: sa.engine.Engine

    def __init__(self, *args: Any, cached_conversations: int = DEFAULT_CACHED_CONVERSATIONS, **kwargs: Any):
        overrides.require("incremental_store")  # loaded by Rasa from endpoints.yml, launcher or not
        # Switched off: every read and save is SQLTrackerStore's (nothing kept).
        self.cached_conversations = int(cached_conversations) if overrides.enabled("incremental_store") else 0
        self._kept: OrderedDict[str, KeptSession] = OrderedDict()
        # Per conversation being saved: the kept session its tracker's stored events are.
        self._saving_onto: dict[str, KeptSession] = {}
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            # SQLAlchemy 1.4 opens a new SQLite connection per session (NullPool): keep a few open.
            url = self.engine.url
            self.engine.dispose()
            self.engine = sa.create_engine(
                url, poolclass=sa.pool.QueuePool, connect_args={"check_same_thread": False}
            )
            sa.event.listen(self.engine, "connect", write_ahead_log)
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        # Asked before every read and every save: built once as a Core statement, which costs a
        # third of the CPU of the same query through `session.query` (80 against 280 us per call).
        event = self.SQLEvent
        self._count_and_newest = sa.select(sa.func.count(event.id), sa.func.max(event.id)).where(
            event.sender_id == sa.bindparam("sender_id")
        )

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        if fetch_events_from_all_sessions or self.cached_conversations <= 0:
            return await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        with self.session_scope() as session:
            kept = self._read_session(session, sender_id)
        if not (self.domain and kept.events):
            return None
        return kept.tracker_for(sender_id, self.domain)

    def _read_session(self, session: Any, sender_id: str) -> KeptSession:
        rows, newest_id = self._row_count_and_newest(session, sender_id)
        kept = self._kept.get(sender_id)
        if kept is not None and not (kept.rows == rows and kept.newest_id == newest_id):
            kept = self._append_new_rows(session, sender_id, kept, rows)
        if kept is None:
            kept = self._read_in_full(session, sender_id, rows, newest_id or 0)
        if rows:
            self._keep(sender_id, kept)
        return kept

    def _row_count_and_newest(self, session: Any, sender_id: str) -> tuple[int, int | None]:
        rows, newest_id = session.execute(self._count_and_newest, {"sender_id": sender_id}).one()
        return int(rows), newest_id

    def _append_new_rows(
        self, session: Any, sender_id: str, kept: KeptSession, rows: int
    ) -> KeptSession | None:
        """The kept session plus the rows written since, or None when they do not simply follow on."""
        new_rows = (
            session.query(self.SQLEvent)
            .filter(self.SQLEvent.sender_id == sender_id, self.SQLEvent.id > kept.newest_id)
            .order_by(self.SQLEvent.id)
            .all()
        )
        if kept.rows + len(new_rows) != rows or any(
            r.type_name == SessionStarted.type_name for r in new_rows
        ):
            return None
        # The same condition as SQLTrackerStore._event_query: rows of the latest session.
        in_session = [r for r in new_rows if kept.session_start is None or r.timestamp >= kept.session_start]
        events = deserialise_events([json.loads(r.data) for r in in_session])
        return kept.followed_by(rows, new_rows[-1].id, events)

    def _read_in_full(self, session: Any, sender_id: str, rows: int, newest_id: int) -> KeptSession:
        session_start = (
            session.query(sa.func.max(self.SQLEvent.timestamp))
            .filter(
                self.SQLEvent.sender_id == sender_id,
                self.SQLEvent.type_name == SessionStarted.type_name,
            )
            .scalar()
        )
        serialised = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).all()
        events = deserialise_events([json.loads(row.data) for row in serialised])
        return KeptSession(rows, newest_id, session_start, events)

    # Saving. Rasa counts the stored rows of the session (a query with a sub-query) to know which of
    # the tracker's events are new; when the kept session is still what the database holds (the same
    # cheap query as on reading) and the tracker was built from it, that count is the number of kept
    # events. After the commit, the rows just written are appended to what is kept, so the next
    # message finds its conversation unchanged instead of reading them back.

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator[Event]:
        kept = self._kept.get(tracker.sender_id)
        if (
            kept is not None
            and _built_from(tracker, kept)
            and self._is_current(session, tracker.sender_id, kept)
        ):
            self._saving_onto[tracker.sender_id] = kept
            return itertools.islice(tracker.events, len(kept.events), None)
        self._saving_onto.pop(tracker.sender_id, None)
        return super()._additional_events(session, tracker)

    def _is_current(self, session: Any, sender_id: str, kept: KeptSession) -> bool:
        rows, newest_id = self._row_count_and_newest(session, sender_id)
        return bool(kept.rows == rows and kept.newest_id == newest_id)

    def _rows_written(self, sender_id: str, rows: Sequence[StoredRow]) -> None:
        super()._rows_written(sender_id, rows)
        kept = self._saving_onto.pop(sender_id, None)
        if kept is None or self._kept.get(sender_id) is not kept:
            self._kept.pop(sender_id, None)
            return
        if not rows:
            return
        if any(r.type_name == SessionStarted.type_name for r in rows):
            self._kept.pop(sender_id, None)  # a new session: the next read takes it in full
            return
        # The same selection and parsing as when these rows are read back (_append_new_rows).
        in_session = [r for r in rows if kept.session_start is None or r.timestamp >= kept.session_start]
        events = deserialise_events([json.loads(r.data) for r in in_session])
        self._keep(sender_id, kept.followed_by(kept.rows + len(rows), max(r.id for r in rows), events))

    def _keep(self, sender_id: str, kept: KeptSession) -> None:
        self._kept[sender_id] = kept
        self._kept.move_to_end(sender_id)
        while len(self._kept) > self.cached_conversations:
            self._kept.popitem(last=False)


def _built_from(tracker: DialogueStateTracker, kept: KeptSession) -> bool:
    """Whether the tracker's first events are the kept events themselves (a tracker this store made)."""
    if len(tracker.events) < len(kept.events):
        return False
    return all(map(operator.is_, tracker.events, kept.events))
