"""The tables that record what the assistant did with each message, in the conversation database.

They live beside Rasa's `events` table (SQLite in development, PostgreSQL in production), are written
by the tracker store in the same transaction as the conversation's events, and are covered by the
same retention (`make purge`). Text is stored only after redaction (storage/redaction.py), and the
text of a message that looked like a crisis is never stored here at all.

- `faq_turns`: one row per message the assistant handled: when, which channel, what it understood
  and what kind of reply it gave. The dashboard and the metrics count these.
- `faq_feedback`: one row per "Was this helpful?" answer.
- `faq_queue`: the unanswered-questions queue a curator works through in the operator console.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

# Reply kinds (faq_turns.kind, and the metrics' `kind` label).
ANSWER = "answer"  # a curated answer from the sources
DID_YOU_MEAN = "did_you_mean"  # "did you mean one of these?" with suggested questions
FALLBACK = "fallback"  # not understood, routed to professional help
OUT_OF_SCOPE = "out_of_scope"
CRISIS = "crisis"  # emergency numbers first
DOSING = "dosing"  # a dose or schedule asked for: refused, routed to a prescriber
HELP = "help"  # where to find help
CLARIFY = "clarify"  # "which medication do you mean?"
FEEDBACK = "feedback"  # a "Was this helpful?" answer
OTHER = "other"  # greeting, thanks, goodbye, topic menu, "are you a bot"
KINDS = (ANSWER, DID_YOU_MEAN, FALLBACK, OUT_OF_SCOPE, CRISIS, DOSING, HELP, CLARIFY, FEEDBACK, OTHER)

# Why a message is in the queue (faq_queue.reason).
REASON_DID_YOU_MEAN = "did_you_mean"
REASON_NONE_OF_THESE = "none_of_these"  # the person said none of the suggestions fit
REASON_OUT_OF_SCOPE = "out_of_scope"
REASON_NOT_HELPFUL = "not_helpful"  # "no" to "Was this helpful?"
# Not understood and no suggestions offered (unsure again right after a did-you-mean, or no likely
# question at all): the person was routed to help.
REASON_NOT_UNDERSTOOD = "not_understood"
REASONS = (
    REASON_DID_YOU_MEAN,
    REASON_NONE_OF_THESE,
    REASON_OUT_OF_SCOPE,
    REASON_NOT_HELPFUL,
    REASON_NOT_UNDERSTOOD,
)

# What a curator did with a queue item (faq_queue.status); only "open" items are in the queue.
OPEN = "open"
ADDED = "added"  # its wording became training examples of an existing intent
MARKED_OUT_OF_SCOPE = "out_of_scope"
NEW_ANSWER = "new_answer"  # an answer is needed that does not exist yet
STATUSES = (OPEN, ADDED, MARKED_OUT_OF_SCOPE, NEW_ANSWER)

turns = sa.Table(
    "faq_turns",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.Float, nullable=False, index=True),  # Unix time of the user's message
    # A one-way hash of the sender id, to count conversations; never shown anywhere.
    sa.Column("conversation", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("intent", sa.String(64)),
    sa.Column("confidence", sa.Float),
    sa.Column("kind", sa.String(16), nullable=False),
    # The curated answer's name: the topic ("withdrawal_symptoms") or question.medication ("helps.valium").
    sa.Column("answer", sa.String(64)),
)

feedback = sa.Table(
    "faq_feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.Float, nullable=False, index=True),
    sa.Column("conversation", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("answer", sa.String(64), nullable=False),
    sa.Column("helpful", sa.Boolean, nullable=False),
    # Intent and confidence of the message that got the answer.
    sa.Column("intent", sa.String(64)),
    sa.Column("confidence", sa.Float),
)

queue = sa.Table(
    "faq_queue",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.Float, nullable=False, index=True),
    sa.Column("conversation", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(16), nullable=False),
    # The person's message, redacted; NULL when it looked like a crisis (counted, never shown).
    sa.Column("text", sa.Text),
    # The assistant's three likeliest intents: JSON [{"intent": ..., "confidence": ...}, ...].
    sa.Column("guesses", sa.Text, nullable=False, default="[]"),
    sa.Column("answer", sa.String(64)),  # for "not helpful": the answer that did not help
    sa.Column("comment", sa.Text),  # for "not helpful": what they were looking for (optional, redacted)
    sa.Column("status", sa.String(16), nullable=False, default=OPEN, index=True),
    sa.Column("resolved_ts", sa.Float),
    # What the curator did, e.g. "added to ask_med_helps (data/nlu/medications.yml)".
    sa.Column("resolution", sa.Text),
)

TABLES = (turns, feedback, queue)


def conversation_key(sender_id: str) -> str:
    """A stable one-way key for a sender id: counts conversations without keeping who it was."""
    return hashlib.sha256(f"faq-insights:{sender_id}".encode()).hexdigest()[:32]


def create_tables(engine: sa.engine.Engine) -> None:
    """Creates the tables that do not exist yet; safe when several servers start at once."""
    try:
        metadata.create_all(engine, checkfirst=True)
    except sa.exc.SQLAlchemyError:
        # Another server created them between our check and our CREATE: check again.
        metadata.create_all(engine, checkfirst=True)


def engine_from_tracker_store(config: dict[str, Any]) -> sa.engine.Engine:
    """An engine on the database a `tracker_store` entry of an endpoints file names (as Rasa builds it)."""
    from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs

    url = SQLTrackerStore.get_db_url(
        dialect=config.get("dialect", "sqlite"),
        host=config.get("url"),
        port=config.get("port"),
        db=config.get("db", "rasa.db"),
        username=config.get("username"),
        password=config.get("password"),
        query=config.get("query"),
    )
    return sa.create_engine(url, **create_engine_kwargs(url))


def purge_older_than(connection: sa.engine.Connection, cutoff: float) -> int:
    """Deletes every row older than `cutoff` (Unix time) from these tables; returns how many."""
    deleted = 0
    for table in TABLES:
        deleted += connection.execute(table.delete().where(table.c.ts < cutoff)).rowcount or 0
    return deleted
