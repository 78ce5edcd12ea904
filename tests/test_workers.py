"""Several Rasa worker processes (as `make run` starts them) keep every conversation whole.

Unit: the SQLite lock store issues each ticket once even when processes race for it, and its lock
lets one holder in at a time. End to end: two Sanic workers with the SQLite conversation store and
lock store; many conversations at once and bursts to one conversation lose, duplicate or mix
nothing, and a context-dependent follow-up is answered from its own conversation; what is recorded of
each message (turns, feedback, queue items) is recorded once, whichever worker took it.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from servers import MODEL, running_servers, shipped_storage

from insights import schema
from serving.sqlite_lock_store import SQLiteLockStore

FORK = multiprocessing.get_context("fork")


def _issue_tickets(db: str, count: int, out: multiprocessing.Queue) -> None:
    store = SQLiteLockStore(db=db)
    out.put([store.issue_ticket("shared") for _ in range(count)])


def test_racing_processes_never_get_the_same_ticket(tmp_path):
    db = str(tmp_path / "locks.db")
    SQLiteLockStore(db=db)
    out: multiprocessing.Queue = FORK.Queue()
    workers = [FORK.Process(target=_issue_tickets, args=(db, 50, out)) for _ in range(4)]
    for worker in workers:
        worker.start()
    tickets = [t for _ in workers for t in out.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(tickets) == list(range(200))


def _count_under_lock(db: str, counter: str, rounds: int) -> None:
    store = SQLiteLockStore(db=db)

    async def main() -> None:
        for _ in range(rounds):
            async with store.lock("shared"):
                value = int(Path(counter).read_text())
                await asyncio.sleep(0.001)  # a read-change-write that others would interleave with
                Path(counter).write_text(str(value + 1))

    asyncio.run(main())


def test_the_lock_lets_one_process_in_at_a_time(tmp_path):
    db, counter = str(tmp_path / "locks.db"), tmp_path / "counter"
    counter.write_text("0")
    SQLiteLockStore(db=db)
    workers = [FORK.Process(target=_count_under_lock, args=(db, str(counter), 25)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    assert counter.read_text() == "75"
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM locks").fetchone() == (0,)  # all cleaned up


# --- two Sanic workers, end to end -------------------------------------------------------------


def say(url: str, sender: str, text: str) -> list[dict]:
    reply = requests.post(
        f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=120
    )
    assert reply.status_code == 200, reply.text
    return list(reply.json())


def stored_user_texts(db: Path) -> dict[str, list[str]]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT sender_id, data FROM events WHERE type_name = 'user' ORDER BY id"
        ).fetchall()
    by_sender: dict[str, list[str]] = {}
    for sender, data in rows:
        by_sender.setdefault(sender, []).append(json.loads(data)["text"])
    return by_sender


@pytest.mark.server
def test_two_workers_keep_every_conversation_whole(tmp_path):
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does)")
    (tmp_path / "run").mkdir()
    storage = shipped_storage(tmp_path)
    assert "IncrementalPrivateSQLTrackerStore" in storage and "SQLiteLockStore" in storage
    # INFO: the workers' "up and running" lines are read below (Rasa's logging set-up, run by other
    # tests in this process, leaves LOG_LEVEL=WARNING in the environment servers inherit).
    env = {"SANIC_WORKERS": "2", "LOG_LEVEL": "INFO"}
    with running_servers(tmp_path / "run", storage, extra_env=env) as servers:
        # Both workers load the model (each says so once) before the load starts; on a busy machine
        # the second can take minutes (seen in CI: over 2 minutes while another job trained).
        deadline = time.monotonic() + 420
        while servers.log.read_text().count("Rasa server is up and running") < 2:
            assert time.monotonic() < deadline, servers.log.read_text()[-2000:]
            time.sleep(0.5)
        senders = [f"worker-test-{n}" for n in range(16)]
        script = [
            "hello",
            "does valium help with opioid withdrawal",
            "what are its risks?",
            '/feedback_no{"answer":"risks.valium"}',
            "i wanted to know how long it lasts",
            "thanks",
        ]

        def conversation(sender: str) -> list[list[dict]]:
            return [say(servers.rasa_url, sender, text) for text in script]

        with ThreadPoolExecutor(max_workers=16) as pool:
            replies = dict(zip(senders, pool.map(conversation, senders), strict=True))
        for sender, answers in replies.items():
            assert all(answers), f"{sender} got an empty reply"
            # The follow-up "what are its risks?" is answered about Valium, from its own conversation.
            risks = "\n".join(m.get("text") or "" for m in answers[2])
            assert "Valium" in risks or "diazepam" in risks, (sender, risks)

        # A burst to one conversation: the channel turns some away (429, its per-sender limit, per
        # worker); every message it accepted is processed one at a time, none lost or repeated.
        burst = [f"burst message {n}" for n in range(8)]

        def post(text: str) -> int:
            body = {"sender": "worker-burst", "message": text}
            return requests.post(
                f"{servers.rasa_url}/webhooks/rest/webhook", json=body, timeout=120
            ).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = dict(zip(burst, pool.map(post, burst), strict=True))
        assert set(statuses.values()) <= {200, 429}
        accepted = sorted(text for text, status in statuses.items() if status == 200)
        assert accepted

    stored = stored_user_texts(tmp_path / "conversations.db")
    for sender in senders:
        assert stored[sender] == script, sender
    assert sorted(stored["worker-burst"]) == accepted

    # What was recorded of them (storage/record.py): each message once, whichever worker took it.
    recorded = recorded_rows(tmp_path / "conversations.db")
    for sender in senders:
        turns, feedback, not_helpful = recorded.get(schema.conversation_key(sender), ([], [], []))
        assert len(turns) == len(script), sender
        assert feedback == [("risks.valium", 0)], sender
        assert not_helpful == [("what are its risks?", "i wanted to know how long it lasts")], sender
    assert len(recorded[schema.conversation_key("worker-burst")][0]) == len(accepted)


def recorded_rows(db: Path) -> dict[str, tuple[list, list, list]]:
    """Per conversation: its turns, its feedback (answer, helpful) and its not-helpful queue items
    (text, comment)."""
    queries = (
        "SELECT conversation, kind FROM faq_turns",
        "SELECT conversation, answer, helpful FROM faq_feedback",
        "SELECT conversation, text, comment FROM faq_queue WHERE reason = 'not_helpful'",
    )
    found: dict[str, tuple[list, list, list]] = {}
    with sqlite3.connect(db) as connection:
        for position, query in enumerate(queries):
            for conversation, *row in connection.execute(query):
                found.setdefault(conversation, ([], [], []))[position].append(tuple(row))
    return found
