"""/metrics counts what the real servers did: two Rasa workers (as `make run` starts them) and the
exporter, messages over REST, some refused; the exporter's sums match what the client saw."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from servers import MODEL, Servers, running_servers, shipped_storage

from insights import metrics, schema

pytestmark = pytest.mark.server

# Texts whose reply kind does not depend on the classifier's mood: the safety net forces crisis and
# dosing, and the medication question is answered from content.
CONVERSATIONS = {
    "metrics-answer": "does valium help with opioid withdrawal",
    "metrics-crisis": "I want to kill myself",
    "metrics-dosing": "how many mg of valium should I take",
    "metrics-hello": "hello",
    "metrics-odd": "purple elephants dance on tuesdays",
    "metrics-answer-2": "what is klonopin",
    "metrics-spanish": "¿el valium ayuda con la abstinencia de los opioides?",
}


@dataclass
class Sent:
    servers: Servers
    workdir: Path
    statuses: dict[str, list[int]]  # what the client got, by what it sent

    def accepted(self) -> int:
        return sum(s.count(200) for s in self.statuses.values())

    def count(self, status: int) -> int:
        return sum(s.count(status) for s in self.statuses.values())


def post(url: str, body: bytes) -> int:
    headers = {"Content-Type": "application/json"}
    return requests.post(f"{url}/webhooks/rest/webhook", data=body, headers=headers, timeout=180).status_code


def scrape(servers: Servers) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    page = requests.get(servers.metrics_url, timeout=30)
    assert page.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(page.text)
        for sample in family.samples
    }


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def sent(tmp_path_factory) -> Iterator[Sent]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does)")
    workdir = tmp_path_factory.mktemp("metrics")
    (workdir / "run").mkdir()
    # INFO: the workers' "up and running" lines are read below (see tests/test_workers.py).
    env = {"SANIC_WORKERS": "2", "LOG_LEVEL": "INFO"}
    with running_servers(workdir / "run", shipped_storage(workdir), extra_env=env, metrics=True) as servers:
        deadline = time.monotonic() + 420
        while servers.log.read_text().count("Rasa server is up and running") < 2:
            assert time.monotonic() < deadline, servers.log.read_text()[-2000:]
            time.sleep(0.5)
        url = servers.rasa_url
        statuses: dict[str, list[int]] = {}

        def send(what: str, body: bytes) -> None:
            statuses.setdefault(what, []).append(post(url, body))

        def message(sender: str, text: str) -> bytes:
            return json.dumps({"sender": sender, "message": text}).encode()

        # Answered, several at once (so both workers take some).
        with ThreadPoolExecutor(max_workers=6) as pool:
            for sender, text in CONVERSATIONS.items():
                pool.submit(send, "conversation", message(sender, text))
        send("cut", message("metrics-long", "does valium help " + "a" * 2_500))
        # Refused before the assistant runs.
        send("not json", b'{"sender": "metrics-bad", "message": ')
        send("no sender", json.dumps({"message": "hello"}).encode())
        send("too big", message("metrics-huge", "a" * 1_100_000))  # over SANIC_REQUEST_MAX_SIZE
        # A burst to one conversation: the channel turns some away (429).
        with ThreadPoolExecutor(max_workers=8) as pool:
            for n in range(8):
                pool.submit(send, "burst", message("metrics-burst", f"burst message {n}"))
        yield Sent(servers=servers, workdir=workdir, statuses=statuses)


def test_the_requests_got_what_the_test_expects(sent):
    assert sent.statuses["conversation"] == [200] * len(CONVERSATIONS)
    assert sent.statuses["cut"] == [200]
    assert sent.statuses["not json"] == sent.statuses["no sender"] == [400]
    assert sent.statuses["too big"] == [413]
    assert set(sent.statuses["burst"]) <= {200, 429} and 200 in sent.statuses["burst"]


def test_metrics_count_the_messages_refusals_and_latency(sent):
    samples = scrape(sent.servers)
    rest = {"channel": "rest"}
    accepted = sent.accepted()
    assert accepted == len(CONVERSATIONS) + 1 + sent.statuses["burst"].count(200)
    assert sample(samples, "faq_messages_total", **rest) == accepted
    assert sample(samples, "faq_message_latency_seconds_count", **rest) == accepted
    assert sample(samples, "faq_message_latency_seconds_bucket", **rest, le="+Inf") == accepted
    assert 0 < sample(samples, "faq_message_latency_seconds_sum", **rest) < 180 * accepted
    assert sample(samples, "faq_messages_cut_total", **rest) == 1
    assert sample(samples, "faq_messages_in_flight", **rest) == 0
    assert sample(samples, "faq_refusals_total", **rest, reason="bad_request", status="400") == 2
    assert sample(samples, "faq_refusals_total", **rest, reason="too_long", status="413") == 1
    limited = sample(samples, "faq_refusals_total", **rest, reason="rate_limited", status="429")
    in_flight = sample(samples, "faq_refusals_total", **rest, reason="in_flight", status="429")
    assert limited + in_flight == sent.count(429)
    assert in_flight == sent.count(429), "8 at once is under 30 a minute: every 429 is 'in flight'"
    assert sample(samples, "faq_refusals_total", **rest, reason="store_unavailable", status="503") == 0
    assert sample(samples, "faq_errors_total", **rest, cause="exception") == 0
    assert sample(samples, "faq_errors_total", **rest, cause="no_reply") == 0
    # Declared at start-up, at zero: the socket.io and callback channels of credentials.yml.
    assert ("faq_messages_total", (("channel", "socketio"),)) in samples
    assert sample(samples, "faq_conversation_db_up") == 1


def test_the_sum_is_over_both_worker_processes(sent):
    """Each Rasa process writes its own file; more than one of them handled messages."""
    folder = sent.workdir / "run" / "metrics"
    per_process = {}
    for path in folder.glob("counter_*.db"):
        families = MultiProcessCollector.merge([str(path)])
        per_process[path.name] = sum(
            s.value for f in families for s in f.samples if s.name == "faq_messages_total"
        )
    busy = [name for name, count in per_process.items() if count > 0]
    assert len(busy) >= 2, per_process
    assert sum(per_process.values()) == sent.accepted()


def test_nothing_private_is_in_the_metrics(sent):
    page = requests.get(sent.servers.metrics_url, timeout=30).text
    for sender, text in CONVERSATIONS.items():
        assert sender not in page and text not in page
    assert "metrics-burst" not in page and "burst message" not in page


def recorded_turns(database: Path) -> tuple[int, int]:
    """faq_turns rows, and open faq_queue items, as the tracker store recorded them."""
    with sqlite3.connect(database) as connection:
        turns = connection.execute(f"SELECT count(*) FROM {schema.turns.name}").fetchone()[0]
        queue = connection.execute(
            f"SELECT count(*) FROM {schema.queue.name} WHERE status = ?", (schema.OPEN,)
        ).fetchone()[0]
    return int(turns), int(queue)


@pytest.mark.skipif(
    importlib.util.find_spec("storage.record") is None,
    reason="reply kinds are counted by the recording (storage/record.py, issue 10's REC work)",
)
def test_reply_kinds_and_the_queue_match_what_was_recorded(sent):
    samples = scrape(sent.servers)
    by_language = {
        language: {
            kind: sample(samples, "faq_replies_total", channel="rest", kind=kind, language=language)
            for kind in schema.KINDS
        }
        for language in metrics.LANGUAGE_LABELS
    }
    kinds = {kind: sum(counts[kind] for counts in by_language.values()) for kind in schema.KINDS}
    assert sum(kinds.values()) == sent.accepted(), kinds
    assert kinds["crisis"] >= 1 and kinds["dosing"] >= 1 and kinds["answer"] >= 2, kinds
    # The Spanish question is counted in Spanish (whatever its reply); nothing in a third language.
    assert sum(by_language["es"].values()) >= 1, by_language
    assert sum(by_language["other"].values()) == 0, by_language
    turns, open_items = recorded_turns(sent.workdir / "conversations.db")
    assert turns == sent.accepted()
    queue = sum(sample(samples, "faq_queue_open", reason=reason) for reason in schema.REASONS)
    assert queue == open_items
