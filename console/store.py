"""What the console reads from and writes to the conversation database (insights/schema.py tables)."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from insights import schema

# The queue page shows at most this many open items (the newest); the rest wait their turn.
MAX_OPEN = 2000
MAX_DONE = 300


def engine_from_endpoints(path: Path) -> sa.engine.Engine:
    """The engine on the database of the endpoints file's `tracker_store`, `${VAR}`s expanded as Rasa does."""
    from rasa.shared.utils.io import read_config_file

    config = read_config_file(str(path)).get("tracker_store")
    if not isinstance(config, dict):
        raise SystemExit(f"{path}: no tracker_store entry; the console reads the conversation database")
    return schema.engine_from_tracker_store(config)


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def language_key(value: str | None) -> str:
    """A language as the console groups it: one the assistant speaks, else "other"."""
    return value if value in schema.LANGUAGES else OTHER_LANGUAGE


def _guesses(raw: str | None) -> list[dict[str, Any]]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    if not isinstance(value, list):
        return []
    return [
        {"intent": str(g["intent"]), "confidence": float(g.get("confidence") or 0.0)}
        for g in value
        if isinstance(g, dict) and isinstance(g.get("intent"), str)
    ]


# Never the `conversation` column: it identifies a sender, and no page needs it.
ITEM_COLUMNS = [
    schema.queue.c.id,
    schema.queue.c.ts,
    schema.queue.c.channel,
    schema.queue.c.reason,
    schema.queue.c.text,
    schema.queue.c.guesses,
    schema.queue.c.answer,
    schema.queue.c.comment,
    schema.queue.c.status,
    schema.queue.c.resolved_ts,
    schema.queue.c.resolution,
    schema.queue.c.language,
]
# How the console names each language (insights.schema.LANGUAGES); a value outside them is "other".
LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}
OTHER_LANGUAGE = "other"


def _item(row: Any) -> dict[str, Any]:
    item = dict(row._mapping)
    item["guesses"] = _guesses(item["guesses"])
    if item["text"] is None:  # crisis language: nothing of the message is shown, its comment neither
        item["comment"] = None
    return item


class Store:
    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine
        schema.create_tables(engine)  # before the first message has created them, the pages are empty

    def open_items(self, language: str | None = None) -> list[dict[str, Any]]:
        """The newest open items; only those in `language` when it is given."""
        query = sa.select(*ITEM_COLUMNS).where(schema.queue.c.status == schema.OPEN)
        if language is not None:
            query = query.where(schema.queue.c.language == language)
        query = query.order_by(schema.queue.c.ts.desc()).limit(MAX_OPEN)
        with self.engine.connect() as connection:
            return [_item(row) for row in connection.execute(query)]

    def open_by_language(self) -> dict[str, int]:
        """Open items per language: every language the assistant speaks, at zero when none."""
        query = (
            sa.select(schema.queue.c.language, sa.func.count())
            .where(schema.queue.c.status == schema.OPEN)
            .group_by(schema.queue.c.language)
        )
        counts = dict.fromkeys(schema.LANGUAGES, 0)
        with self.engine.connect() as connection:
            for language, count in connection.execute(query):
                key = language_key(language)
                counts[key] = counts.get(key, 0) + int(count)
        return counts

    def open_count(self) -> int:
        query = sa.select(sa.func.count()).where(schema.queue.c.status == schema.OPEN)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar() or 0)

    def items(self, ids: list[int]) -> list[dict[str, Any]]:
        """The open items among `ids`."""
        query = sa.select(*ITEM_COLUMNS).where(
            schema.queue.c.id.in_(ids), schema.queue.c.status == schema.OPEN
        )
        with self.engine.connect() as connection:
            return [_item(row) for row in connection.execute(query)]

    def done_items(self) -> list[dict[str, Any]]:
        query = (
            sa.select(*ITEM_COLUMNS)
            .where(schema.queue.c.status != schema.OPEN)
            .order_by(schema.queue.c.resolved_ts.desc(), schema.queue.c.id.desc())
            .limit(MAX_DONE)
        )
        with self.engine.connect() as connection:
            return [_item(row) for row in connection.execute(query)]

    def resolve(self, connection: sa.engine.Connection, ids: list[int], status: str, resolution: str) -> int:
        """Marks the still-open items among `ids` done; returns how many (inside the caller's transaction)."""
        update = (
            schema.queue.update()
            .where(schema.queue.c.id.in_(ids), schema.queue.c.status == schema.OPEN)
            .values(status=status, resolution=resolution, resolved_ts=time.time())
        )
        return int(connection.execute(update).rowcount or 0)

    def reopen(self, connection: sa.engine.Connection, ids: list[int]) -> int:
        """Puts items marked out of scope or as needing a new answer back in the queue; returns how
        many. Items added as training examples stay done: their examples are in data/nlu (revert the
        change there, docs/curation.md)."""
        update = (
            schema.queue.update()
            .where(
                schema.queue.c.id.in_(ids),
                schema.queue.c.status.in_([schema.MARKED_OUT_OF_SCOPE, schema.NEW_ANSWER]),
            )
            .values(status=schema.OPEN, resolution=None, resolved_ts=None)
        )
        return int(connection.execute(update).rowcount or 0)

    def new_answers(self) -> list[dict[str, Any]]:
        query = (
            sa.select(*ITEM_COLUMNS)
            .where(schema.queue.c.status == schema.NEW_ANSWER)
            .order_by(schema.queue.c.resolved_ts, schema.queue.c.id)
        )
        with self.engine.connect() as connection:
            return [_item(row) for row in connection.execute(query)]

    def stats(self, days: int, topics: dict[str, str], now: float | None = None) -> dict[str, Any]:
        """The dashboard's figures over the last `days` days (UTC), each series one value per day."""
        now = time.time() if now is None else now
        today = datetime.fromtimestamp(now, timezone.utc).date()
        first = today - timedelta(days=days - 1)
        since = datetime(first.year, first.month, first.day, tzinfo=timezone.utc).timestamp()
        labels = [(first + timedelta(days=n)).isoformat() for n in range(days)]
        turns = schema.turns.c
        feedback = schema.feedback.c
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(turns.ts, turns.conversation, turns.kind, turns.intent, turns.language).where(
                    turns.ts >= since
                )
            ).all()
            votes = connection.execute(
                sa.select(feedback.answer, feedback.helpful, feedback.language, sa.func.count())
                .where(feedback.ts >= since)
                .group_by(feedback.answer, feedback.helpful, feedback.language)
            ).all()
        open_by_language = self.open_by_language()

        def day(ts: float) -> str:
            return datetime.fromtimestamp(ts, timezone.utc).date().isoformat()

        messages: Counter[str] = Counter()
        conversations: dict[str, set[str]] = defaultdict(set)
        kinds: dict[str, Counter[str]] = defaultdict(Counter)
        by_topic: Counter[str] = Counter()
        hours = [0] * 24
        everyone: set[str] = set()
        languages = [*schema.LANGUAGES]
        per_language: dict[str, Counter[str]] = defaultdict(Counter)  # language -> kind -> messages
        daily_by_language: dict[str, Counter[str]] = defaultdict(Counter)  # language -> day -> messages
        talkers: dict[str, set[str]] = defaultdict(set)  # language -> conversations
        for ts, conversation, kind, intent, language in rows:
            d = day(ts)
            messages[d] += 1
            conversations[d].add(conversation)
            everyone.add(conversation)
            kinds[kind][d] += 1
            hours[datetime.fromtimestamp(ts, timezone.utc).hour] += 1
            if kind == schema.ANSWER:
                by_topic[topics.get(intent or "", "other")] += 1
            key = language_key(language)
            if key not in languages:
                languages.append(key)
            per_language[key][kind] += 1
            daily_by_language[key][d] += 1
            talkers[key].add(conversation)

        def rate(kind: str, d: str) -> float | None:
            return share(kinds[kind][d], messages[d])

        helpful: dict[str, dict[str, int]] = defaultdict(lambda: {"yes": 0, "no": 0})
        helpful_by_language: dict[str, dict[str, int]] = defaultdict(lambda: {"yes": 0, "no": 0})
        for answer, was_helpful, language, count in votes:
            helpful[answer]["yes" if was_helpful else "no"] += int(count)
            helpful_by_language[language_key(language)]["yes" if was_helpful else "no"] += int(count)
        for key in [*helpful_by_language, *open_by_language]:
            if key not in languages:
                languages.append(key)

        def breakdown(language: str) -> dict[str, Any]:
            counted = per_language[language]
            handled = sum(counted.values())
            votes_of = helpful_by_language[language]
            return {
                "name": LANGUAGE_NAMES.get(language, "Other"),
                "messages": handled,
                "conversations": len(talkers[language]),
                "answers": counted[schema.ANSWER],
                "did_you_mean_rate": share(counted[schema.DID_YOU_MEAN], handled),
                "out_of_scope_rate": share(counted[schema.OUT_OF_SCOPE], handled),
                "crisis": counted[schema.CRISIS],
                "helpful_rate": share(votes_of["yes"], votes_of["yes"] + votes_of["no"]),
                "queue_open": open_by_language.get(language, 0),
            }

        total = len(rows)
        yes = sum(v["yes"] for v in helpful.values())
        no = sum(v["no"] for v in helpful.values())
        return {
            "days": labels,
            "timezone": "UTC",
            "messages": [messages[d] for d in labels],
            "conversations": [len(conversations[d]) for d in labels],
            "did_you_mean_rate": [rate(schema.DID_YOU_MEAN, d) for d in labels],
            "out_of_scope_rate": [rate(schema.OUT_OF_SCOPE, d) for d in labels],
            "crisis": [kinds[schema.CRISIS][d] for d in labels],
            "answers_by_topic": dict(by_topic.most_common()),
            "helpfulness": dict(sorted(helpful.items(), key=lambda pair: -(pair[1]["yes"] + pair[1]["no"]))),
            "hours": hours,
            # Each language's figures over the period, and its messages per day (English and Spanish
            # always; "other" only when a row has another value).
            "by_language": {language: breakdown(language) for language in languages},
            "messages_by_language": {
                language: [daily_by_language[language][d] for d in labels] for language in languages
            },
            "totals": {
                "messages": total,
                "conversations": len(everyone),
                "did_you_mean_rate": share(sum(kinds[schema.DID_YOU_MEAN].values()), total),
                "out_of_scope_rate": share(sum(kinds[schema.OUT_OF_SCOPE].values()), total),
                "crisis": sum(kinds[schema.CRISIS].values()),
                "helpful_rate": share(yes, yes + no),
                "queue_open": sum(open_by_language.values()),
            },
        }
