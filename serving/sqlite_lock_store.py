"""Ticket locks in a SQLite file, so that several Rasa worker processes on one machine take turns
per conversation.

Rasa handles the messages of one conversation one at a time by a ticket lock. Its default lock
store keeps the tickets in the memory of one process, so Rasa runs a single Sanic worker (one
core) unless a shared lock store is configured; its shared option is Redis, another server to
install and run. On one machine a SQLite file is enough: every read-change-write of a
conversation's lock runs in one `BEGIN IMMEDIATE` transaction, which SQLite lets only one process
at a time hold, so two workers can never take the same ticket (the flaw of Rasa's own Redis store,
see serving/lock_store.py).

Locks live only while a message is processed (a ticket expires after Rasa's lock lifetime, 60 s,
if its worker dies), so the file needs no durability: commits are not synced to disk, and
scripts/serve.sh deletes the file before it starts the server.

endpoints.yml:
    lock_store:
      type: serving.sqlite_lock_store.SQLiteLockStore
      db: var/locks.db
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

from overrides.rasa_stores import log_lock_deletion

logger = logging.getLogger(__name__)

DEFAULT_DB = "var/locks.db"
# How long a worker waits for another worker's transaction (a few statements) before giving up.
BUSY_TIMEOUT_SECONDS = 10.0
# Rasa polls a taken lock once a second; a conversation's next message usually waits for a few
# milliseconds only (one message's processing), so poll more often.
DEFAULT_POLL_SECONDS = 0.02


class SQLiteLockStore(LockStore):
    def __init__(self, endpoint_config: EndpointConfig | None = None, db: str | None = None) -> None:
        settings: dict[str, Any] = dict(endpoint_config.kwargs) if endpoint_config else {}
        self.path = Path(db or settings.get("db") or DEFAULT_DB)
        self.poll_seconds = float(settings.get("poll_seconds", DEFAULT_POLL_SECONDS))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        with self._transaction() as db_:
            db_.execute("CREATE TABLE IF NOT EXISTS locks (conversation_id TEXT PRIMARY KEY, data TEXT)")
        super().__init__()

    # One connection per process: Sanic forks its workers, and a SQLite connection must not cross a fork.
    def _db(self) -> sqlite3.Connection:
        if self._connection is None or self._pid != os.getpid():
            connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=OFF")
            self._connection, self._pid = connection, os.getpid()
        return self._connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def get_lock(self, conversation_id: str) -> TicketLock | None:
        query = "SELECT data FROM locks WHERE conversation_id = ?"
        row = self._db().execute(query, (conversation_id,)).fetchone()
        return TicketLock.from_dict(json.loads(row[0])) if row else None

    def delete_lock(self, conversation_id: str) -> None:
        cursor = self._db().execute("DELETE FROM locks WHERE conversation_id = ?", (conversation_id,))
        log_lock_deletion(conversation_id, cursor.rowcount > 0)

    def save_lock(self, lock: TicketLock) -> None:
        self._db().execute(
            "INSERT OR REPLACE INTO locks (conversation_id, data) VALUES (?, ?)",
            (lock.conversation_id, lock.dumps()),
        )

    # Each read-change-write of a lock runs in one transaction: the base class's logic, made atomic.
    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            with self._transaction():
                return super().issue_ticket(conversation_id, lock_lifetime)
        except sqlite3.Error as error:
            raise LockError(f"Could not issue a ticket: {type(error).__name__}") from error

    def update_lock(self, conversation_id: str) -> None:
        with self._transaction():
            super().update_lock(conversation_id)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        with self._transaction():
            super().cleanup(conversation_id, ticket_number)

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float | None = None,
    ) -> AsyncGenerator[TicketLock, None]:
        wait = self.poll_seconds if wait_time_in_seconds is None else wait_time_in_seconds
        async with super().lock(conversation_id, lock_lifetime, wait) as ticket_lock:
            yield ticket_lock
