"""The tables that record what the assistant did with each message, in the conversation database.

They live beside Rasa's `events` table (SQLite in development, PostgreSQL in production), are written
by the tracker store in the same transaction as the conversation's events, and are covered by the
same retention (`make purge`). Text is stored only after redaction (storage/redaction.py), and the
text of a message that looked like a crisis is never stored here at all.

- `faq_turns`: one row per message the assistant handled: when, which channel, what it understood
  and what kind of reply it gave. The dashboard and the metrics count these.
- `faq_feedback`: one row per "Was this helpful?" answer.
- `faq_queue`: the unanswered-questions queue a curator works through in the operator console.

Every row has the conversation's language at that message (`language`, "en" or "es"). A column added
after a table was first released is added to an existing database by `create_tables` (ALTER TABLE
... ADD COLUMN, with the column's server default for the rows already there), so an upgraded
server, console or test works on the database an older version wrote.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import sqlalchemy as sa

logger = logging.getLogger(__name__)

metadata = sa.MetaData()

# The languages the assistant answers in (the `language` slot's values in domain.yml; the same as
# content.LANGUAGES, which tests/test_insights_record.py checks: this layer imports no content).
ENGLISH = "en"
LANGUAGES = (ENGLISH, "es")

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
    # The conversation's language at this message ("en", "es"); rows recorded before the column
    # existed are English (the versions that wrote them answered in English only).
    sa.Column("language", sa.String(8), nullable=False, default=ENGLISH, server_default=ENGLISH),
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
    # The language of the answer: the conversation's at the message that got it.
    sa.Column("language", sa.String(8), nullable=False, default=ENGLISH, server_default=ENGLISH),
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
    # The language of the message shown (the conversation's at that message).
    sa.Column("language", sa.String(8), nullable=False, default=ENGLISH, server_default=ENGLISH),
)

TABLES = (turns, feedback, queue)


def conversation_key(sender_id: str) -> str:
    """A stable one-way key for a sender id: counts conversations without keeping who it was."""
    return hashlib.sha256(f"faq-insights:{sender_id}".encode()).hexdigest()[:32]


# Tries at creating and upgrading the tables: another process starting at the same moment can create
# a table or add a column between our check and our statement, which then fails; the next try sees it.
CREATE_TRIES = 3


def create_tables(engine: sa.engine.Engine) -> None:
    """Creates the tables that do not exist yet and adds the columns an existing table lacks; safe
    when several servers (and the console) start at once."""
    for attempt in range(CREATE_TRIES):
        try:
            metadata.create_all(engine, checkfirst=True)
            add_missing_columns(engine)
            return
        except sa.exc.SQLAlchemyError:
            if attempt + 1 == CREATE_TRIES:
                raise
            time.sleep(0.1 * (attempt + 1))


def add_missing_columns(engine: sa.engine.Engine) -> list[str]:
    """Adds to each existing table the columns defined here that it lacks, in one transaction;
    returns them as "table.column". The way this project migrates its tables: columns are only ever
    added, each with a server default (or nullable), so the rows already there get a value. The
    same statement works on SQLite and PostgreSQL."""
    added = []
    with engine.begin() as connection:
        inspector = sa.inspect(connection)
        for table in TABLES:
            if not inspector.has_table(table.name):
                continue
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                definition = sa.schema.CreateColumn(column).compile(dialect=connection.dialect)
                connection.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {definition}"))
                added.append(f"{table.name}.{column.name}")
    if added:
        logger.info("Added to the conversation database: %s.", ", ".join(added))
    return added


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
