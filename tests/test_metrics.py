"""The operations metrics (insights/metrics.py), the guard that counts them, and the exporter
(insights/exporter.py): counts of several processes are summed, a dead process's in-flight gauge is
forgotten while its counts stay, the queue size comes from the database, and the exporter serves
/metrics on loopback only."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from servers import ROOT, free_port

from channels.guard import Guard
from insights import metrics, schema
from insights.exporter import OpenQueue, build_registry, forget_dead_processes
from storage.tracker_store import ConversationStoreUnavailable


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


# --- without PROMETHEUS_MULTIPROC_DIR: this process's own registry --------------------------------


def test_the_functions_work_in_one_process_without_a_folder():
    assert not metrics.multiprocess(), "pytest runs without PROMETHEUS_MULTIPROC_DIR"
    r = metrics.registry()
    metrics.declare_channel("unit-one")
    assert value(r, "faq_refusals_total", channel="unit-one", reason="too_long", status="413") == 0
    for language in ("en", "es", "other"):
        labels = {"channel": "unit-one", "kind": "crisis", "language": language}
        assert r.get_sample_value("faq_replies_total", labels) == 0
    metrics.accepted("unit-one")
    assert value(r, "faq_messages_in_flight", channel="unit-one") == 1
    metrics.finished("unit-one", 0.3)
    metrics.turn("answer", "unit-one", "en")
    metrics.turn("no such kind", "unit-one")  # a label outside the fixed list would grow without bound
    metrics.turn("answer", "unit-one", "es")
    metrics.turn("answer", "unit-one", "fr")  # nor may a language: "other"
    metrics.refused(metrics.RATE_LIMITED, 429, "unit-one")
    metrics.error("unit-one")
    assert value(r, "faq_messages_total", channel="unit-one") == 1
    assert value(r, "faq_messages_in_flight", channel="unit-one") == 0
    assert value(r, "faq_message_latency_seconds_count", channel="unit-one") == 1
    assert value(r, "faq_message_latency_seconds_bucket", channel="unit-one", le="0.25") == 0
    assert value(r, "faq_message_latency_seconds_bucket", channel="unit-one", le="0.5") == 1
    assert value(r, "faq_replies_total", channel="unit-one", kind="answer", language="en") == 1
    assert value(r, "faq_replies_total", channel="unit-one", kind="other", language="en") == 1
    assert value(r, "faq_replies_total", channel="unit-one", kind="answer", language="es") == 1
    assert value(r, "faq_replies_total", channel="unit-one", kind="answer", language="other") == 1
    languages = {s.labels["language"] for m in r.collect() if m.name == "faq_replies" for s in m.samples}
    assert languages == {"en", "es", "other"}
    assert value(r, "faq_refusals_total", channel="unit-one", reason="rate_limited", status="429") == 1
    assert value(r, "faq_errors_total", channel="unit-one", cause="exception") == 1


def test_a_call_costs_microseconds():
    metrics.declare_channel("unit-speed")
    started = time.perf_counter()
    for _ in range(10_000):
        metrics.accepted("unit-speed")
        metrics.finished("unit-speed", 0.02)
        metrics.turn("answer", "unit-speed", "es")
    per_message = (time.perf_counter() - started) / 10_000
    assert per_message < 200e-6, f"{per_message * 1e6:.0f} µs per message"


# --- several processes: prometheus_client's multiprocess mode -------------------------------------

# As the Rasa server does it: the main process declares its channels, then Sanic forks the workers,
# each of which counts its own messages.
FORKED_WORKERS = textwrap.dedent(
    """
    import os, sys
    from insights import metrics
    assert metrics.multiprocess()
    metrics.declare_channel("rest")
    messages = int(sys.argv[1])
    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            for n in range(messages):
                metrics.accepted("rest")
                metrics.finished("rest", 0.01 * (n + 1))
                metrics.turn("answer" if n % 2 else "crisis", "rest", "es" if n == 0 else "en")
            metrics.refused(metrics.IN_FLIGHT, 429, "rest")
            metrics.error("rest", metrics.NO_REPLY)
            os._exit(0)
        children.append(pid)
    for pid in children:
        assert os.waitpid(pid, 0)[1] == 0
    """
)


def run_python(code: str, folder: Path, *args: str) -> None:
    env = {**os.environ, metrics.MULTIPROC_VARIABLE: str(folder)}
    subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, check=True, timeout=120)


def test_the_counts_of_every_process_are_summed(tmp_path):
    run_python(FORKED_WORKERS, tmp_path, "3")  # a server with two workers, 3 messages each
    run_python(FORKED_WORKERS, tmp_path, "5")  # a second server, 5 each
    assert len(list(tmp_path.glob("counter_*.db"))) == 6  # two main processes and four workers
    r = build_registry(str(tmp_path), None)
    assert value(r, "faq_messages_total", channel="rest") == 16
    assert value(r, "faq_replies_total", channel="rest", kind="answer", language="en") == 2 * 1 + 2 * 2
    # Each worker's first message is in Spanish (a crisis), the others in English.
    assert value(r, "faq_replies_total", channel="rest", kind="crisis", language="es") == 4
    assert value(r, "faq_replies_total", channel="rest", kind="crisis", language="en") == 2 * 1 + 2 * 2
    assert value(r, "faq_replies_total", channel="rest", kind="dosing", language="es") == 0  # declared
    assert value(r, "faq_message_latency_seconds_count", channel="rest") == 16
    assert value(r, "faq_message_latency_seconds_sum", channel="rest") == pytest.approx(
        2 * (0.01 + 0.02 + 0.03) + 2 * (0.01 + 0.02 + 0.03 + 0.04 + 0.05)
    )
    assert value(r, "faq_message_latency_seconds_bucket", channel="rest", le="0.025") == 2 * 2 + 2 * 2
    assert value(r, "faq_refusals_total", channel="rest", reason="in_flight", status="429") == 4
    assert value(r, "faq_refusals_total", channel="rest", reason="too_long", status="413") == 0
    assert value(r, "faq_errors_total", channel="rest", cause="no_reply") == 4
    assert value(r, "faq_messages_in_flight", channel="rest") == 0


DIES_MID_MESSAGE = textwrap.dedent(
    """
    import os
    from insights import metrics
    metrics.accepted("rest")  # and then the worker is killed before it finishes
    os._exit(1)
    """
)


def test_a_dead_process_leaves_its_counts_and_not_its_messages_in_flight(tmp_path):
    with pytest.raises(subprocess.CalledProcessError):
        run_python(DIES_MID_MESSAGE, tmp_path)
    [live] = tmp_path.glob("gauge_livesum_*.db")
    dead_pid = int(live.stem.rsplit("_", 1)[1])
    r = build_registry(str(tmp_path), None)  # each scrape forgets the processes that are gone
    assert value(r, "faq_messages_in_flight", channel="rest") == 0
    assert value(r, "faq_messages_total", channel="rest") == 1
    assert not live.exists()
    assert forget_dead_processes(str(tmp_path)) == []
    # A running process keeps its gauge: only the dead are forgotten.
    (tmp_path / f"gauge_livesum_{os.getpid()}.db").write_bytes(b"")
    (tmp_path / f"gauge_livesum_{dead_pid}.db").write_bytes(b"")
    assert forget_dead_processes(str(tmp_path)) == [dead_pid]
    assert (tmp_path / f"gauge_livesum_{os.getpid()}.db").exists()


# --- the queue size, from the conversation database ----------------------------------------------


def sqlite_engine(path: Path) -> sa.engine.Engine:
    return schema.engine_from_tracker_store({"dialect": "sqlite", "db": str(path)})


def add_queue_item(engine: sa.engine.Engine, reason: str, status: str = schema.OPEN) -> None:
    with engine.begin() as connection:
        connection.execute(
            schema.queue.insert().values(
                ts=time.time(), conversation="c" * 32, channel="rest", reason=reason, status=status
            )
        )


def queue_sizes(engine: sa.engine.Engine) -> tuple[float, dict[str, float]]:
    r = CollectorRegistry()
    r.register(OpenQueue(engine))
    sizes = {reason: value(r, "faq_queue_open", reason=reason) for reason in schema.REASONS}
    return value(r, "faq_conversation_db_up"), sizes


def test_the_queue_size_counts_open_items_by_reason(tmp_path):
    engine = sqlite_engine(tmp_path / "conversations.db")
    assert queue_sizes(engine) == (1, dict.fromkeys(schema.REASONS, 0))
    assert not (tmp_path / "conversations.db").exists(), "scraping created the database"
    sa.create_engine(f"sqlite:///{tmp_path / 'conversations.db'}").connect().close()
    assert queue_sizes(engine) == (1, dict.fromkeys(schema.REASONS, 0)), "no tables yet"
    schema.create_tables(engine)
    for reason in ("did_you_mean", "did_you_mean", "out_of_scope", "not_helpful"):
        add_queue_item(engine, reason)
    add_queue_item(engine, "did_you_mean", status=schema.ADDED)  # done: out of the queue
    up, sizes = queue_sizes(engine)
    assert up == 1
    assert sizes == {
        "did_you_mean": 2,
        "none_of_these": 0,
        "out_of_scope": 1,
        "not_helpful": 1,
        "not_understood": 0,
    }


def test_a_database_that_does_not_answer_is_reported_not_raised(tmp_path):
    broken = tmp_path / "conversations.db"
    broken.write_bytes(b"this is not a database" * 100)
    assert queue_sizes(sqlite_engine(broken)) == (0, dict.fromkeys(schema.REASONS, 0))


# --- the exporter process --------------------------------------------------------------------------


def test_the_exporter_serves_the_sum_on_loopback_and_stops_on_sigterm(tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    run_python(FORKED_WORKERS, folder, "2")
    engine = sqlite_engine(tmp_path / "conversations.db")
    schema.create_tables(engine)
    add_queue_item(engine, "none_of_these")
    endpoints = tmp_path / "endpoints.yml"
    database = tmp_path / "conversations.db"
    endpoints.write_text(f"tracker_store:\n  type: sql\n  dialect: sqlite\n  db: {database}\n")
    port = free_port()
    log = tmp_path / "exporter.log"
    command = [sys.executable, "-m", "insights.exporter", "--endpoints", str(endpoints), "--port", str(port)]
    env = {**os.environ, metrics.MULTIPROC_VARIABLE: str(folder)}
    with log.open("w") as out:
        exporter = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert exporter.poll() is None, log.read_text()
            try:
                page = requests.get(f"{url}/metrics", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/plain")
        text = page.text
        assert 'faq_messages_total{channel="rest"} 4.0' in text
        assert 'faq_queue_open{reason="none_of_these"} 1.0' in text
        assert "faq_conversation_db_up 1.0" in text
        assert requests.get(f"{url}/", timeout=5).status_code == 404
        assert requests.get(f"{url}/metrics/../etc/passwd", timeout=5).status_code == 404
        # Listening on loopback only: this machine's other addresses do not answer.
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect(("192.0.2.1", 9))  # no packet is sent: only picks the outgoing address
                own = probe.getsockname()[0]
            except OSError:
                own = "127.0.0.1"
        if not own.startswith("127."):
            with pytest.raises(requests.ConnectionError):
                requests.get(f"http://{own}:{port}/metrics", timeout=5)
    finally:
        exporter.send_signal(signal.SIGTERM)
        assert exporter.wait(timeout=20) == 0, log.read_text()


def test_the_exporter_needs_the_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != metrics.MULTIPROC_VARIABLE}
    result = subprocess.run(
        [sys.executable, "-m", "insights.exporter", "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert metrics.MULTIPROC_VARIABLE in result.stderr


# --- the guard counts every outcome, on every channel ---------------------------------------------


def run_guard(guard: Guard, channel: str, payloads: list[object], on_new_message) -> list[object]:
    async def send_all() -> list[object]:
        outputs = [CollectingOutputChannel() for _ in payloads]
        return list(
            await asyncio.gather(
                *(guard.handle(p, o, on_new_message, channel) for p, o in zip(payloads, outputs, strict=True))
            )
        )

    return asyncio.run(send_all())


async def answers(message: UserMessage) -> None:
    await asyncio.sleep(0.05)
    await message.output_channel.send_response(message.sender_id, {"text": "an answer"})


def test_the_guard_counts_answers_refusals_and_latency():
    r, channel = metrics.registry(), "unit-guard"
    guard = Guard(max_message_chars=10, messages_per_minute=3, in_flight_per_sender=1)
    payloads: list[object] = [
        {"sender": "a", "message": "hello"},
        {"sender": "a", "message": "hello again"},  # while the first is unanswered: in flight
        {"sender": "b", "message": "x" * 50},  # cut to 10 characters, answered
        {"sender": "c"},  # no message: bad request
        "not an object",
    ]
    refusals = run_guard(guard, channel, payloads, answers)
    assert [getattr(x, "status", None) for x in refusals] == [None, 429, None, 400, 400]
    for _ in range(3):  # "b" has now sent 4 in a minute
        run_guard(guard, channel, [{"sender": "b", "message": "hi"}], answers)
    assert value(r, "faq_messages_total", channel=channel) == 4
    assert value(r, "faq_messages_cut_total", channel=channel) == 1
    assert value(r, "faq_message_latency_seconds_count", channel=channel) == 4
    # each answer sleeps 0.05 s; asyncio may wake a sleeper up to its clock resolution early,
    # so the floor leaves 10 % for that (a latency taken outside the handler would be ~0)
    assert value(r, "faq_message_latency_seconds_sum", channel=channel) >= 4 * 0.045
    assert value(r, "faq_messages_in_flight", channel=channel) == 0
    assert value(r, "faq_refusals_total", channel=channel, reason="in_flight", status="429") == 1
    assert value(r, "faq_refusals_total", channel=channel, reason="rate_limited", status="429") == 1
    assert value(r, "faq_refusals_total", channel=channel, reason="bad_request", status="400") == 2
    assert value(r, "faq_errors_total", channel=channel, cause="exception") == 0


def test_the_guard_counts_failures():
    r, channel = metrics.registry(), "unit-guard-faults"
    guard = Guard()

    async def store_down(message: UserMessage) -> None:
        raise ConversationStoreUnavailable

    async def crashes(message: UserMessage) -> None:
        raise RuntimeError("boom")

    async def says_nothing(message: UserMessage) -> None:
        return None

    [refusal] = run_guard(guard, channel, [{"sender": "s", "message": "hi"}], store_down)
    assert getattr(refusal, "status", None) == 503
    run_guard(guard, channel, [{"sender": "s", "message": "hi"}], crashes)
    run_guard(guard, channel, [{"sender": "s", "message": "hi"}], says_nothing)
    assert value(r, "faq_refusals_total", channel=channel, reason="store_unavailable", status="503") == 1
    assert value(r, "faq_errors_total", channel=channel, cause="exception") == 1  # not also no_reply
    assert value(r, "faq_errors_total", channel=channel, cause="no_reply") == 1
    assert value(r, "faq_messages_total", channel=channel) == 3
    assert value(r, "faq_message_latency_seconds_count", channel=channel) == 3
    assert value(r, "faq_messages_in_flight", channel=channel) == 0
