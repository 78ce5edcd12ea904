"""The production profile (scripts/prod.sh): PostgreSQL, Redis, two Rasa servers, actions, nginx.

Runs with `make test-prod` (marker `prod`, left out of plain `pytest`). The tests share one stack and
build on each other in file order: conversations held by the earlier ones are read back after the
restart in the last one. Figures go to results/prod-profile.json (docs/deployment.md quotes them).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import redis
import requests
import socketio
import yaml
from prod_stack import ProdStack, client_from
from servers import ROOT

pytestmark = [pytest.mark.prod, pytest.mark.timeout(1200)]

# Medicines whose answers differ from each other: a reply names the conversation it belongs to.
MEDICATIONS = ("valium", "klonopin", "xanax", "ativan", "suboxone", "methadone", "naltrexone", "clonidine")
CONCURRENT_CONVERSATIONS = 50
FAILOVER_CONVERSATIONS = 10
SOCKETIO_CLIENTS = 16
LOCK_TRIES = 12


def turns(a: str, b: str, c: str) -> list[tuple[str, tuple[str, str]]]:
    """One conversation about medicines a, b, c: (message, (question, medicine) its answer is for).

    The follow-ups name no medicine or no question: only the conversation's own history (the
    tracker) can answer them right.
    """
    return [
        (f"does {a} help with opioid withdrawal", ("helps", a)),
        ("what are its risks?", ("risks", a)),
        (f"what about {b}?", ("risks", b)),
        (f"what about {c}?", ("risks", c)),
        ("does it help with withdrawal?", ("helps", c)),
    ]


AFTER_RESTART = ("what are its risks?", "risks")  # about the last medicine of each conversation


def triples(count: int, offset: int = 0) -> list[tuple[str, str, str]]:
    """`count` different ordered triples of medicines; another offset gives triples not given before."""
    every = list(itertools.permutations(MEDICATIONS, 3))
    chosen = every[offset::5][:count]
    assert len(chosen) == count
    return chosen


def scripts_for(prefix: str, count: int, offset: int = 0) -> dict[str, list[tuple[str, tuple[str, str]]]]:
    """`count` conversations named <prefix>-NN, each about its own ordered triple of medicines."""
    medicines = triples(count, offset)
    return {f"{prefix}-{n:02d}": turns(*medicines[n]) for n in range(count)}


# The disclaimer follows the first reply of every conversation (components/footer_policy.py): the
# reference answers are compared without it, whichever message of a conversation came first.
DISCLAIMER = next(
    v["text"]
    for v in yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"][
        "utter_disclaimer"
    ]
    if "condition" not in v
).split("{")[0]


def is_disclaimer(text: str | None) -> bool:
    return bool(text) and text.startswith(DISCLAIMER)  # type: ignore[union-attr]


def without_recipient(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The replies as compared with the reference: without the recipient, without the disclaimer."""
    return [
        {k: v for k, v in reply.items() if k != "recipient_id"}
        for reply in replies
        if not is_disclaimer(reply.get("text"))
    ]


@dataclass
class Ledger:
    """What each conversation sent and received, to compare with what PostgreSQL holds."""

    exchanges: dict[str, list[tuple[str, list[dict[str, Any]]]]] = field(default_factory=dict)
    last_medication: dict[str, str] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)

    def expected_history(self, sender: str) -> list[tuple[str, str]]:
        history = []
        for message, replies in self.exchanges[sender]:
            history.append(("user", message))
            # The "Was this helpful?" prompt is the channel's, not a stored bot message.
            history.extend(("bot", reply.get("text") or "") for reply in replies if "feedback" not in reply)
        return history


@pytest.fixture(scope="module")
def stack(model, tmp_path_factory):
    stack = ProdStack.create(tmp_path_factory.mktemp("prod") / "var")
    started = time.monotonic()
    try:
        stack.up()
        stack.started_in = time.monotonic() - started
        yield stack
    finally:
        stack.run("purge", timeout=180)


@pytest.fixture(scope="module")
def ledger(stack):
    ledger = Ledger(figures={"first_start_seconds": round(stack.started_in, 1)})
    yield ledger
    out = ROOT / "results" / "prod-profile.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(ledger.figures, indent=2) + "\n")
    print(f"\nproduction profile figures ({out}):\n{json.dumps(ledger.figures, indent=2)}")


@pytest.fixture(scope="module")
def answers(stack) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The reply to each (question, medicine), from one conversation at a time: the reference."""
    reference = {}
    for medication in MEDICATIONS:
        sender = f"reference-{medication}"
        for message, key in turns(medication, medication, medication)[:2]:
            response = stack.say(sender, message)
            response.raise_for_status()
            reference[key] = without_recipient(response.json())
            assert reference[key], f"no reply to {message!r}"
    return reference


def converse(
    stack: ProdStack,
    ledger: Ledger,
    answers: dict,
    sender: str,
    script: list[tuple[str, tuple[str, str]]],
) -> list[str]:
    """Sends a conversation's messages in order; returns what went wrong (nothing, when all is well)."""
    problems = []
    exchanges = ledger.exchanges.setdefault(sender, [])
    for message, key in script:
        try:
            response = stack.say(sender, message)
        except requests.RequestException as error:
            problems.append(f"{sender}: {message!r}: {error}")
            continue
        if response.status_code != 200:
            problems.append(f"{sender}: {message!r}: HTTP {response.status_code}")
            continue
        replies = response.json()
        exchanges.append((message, replies))
        ledger.last_medication[sender] = key[1]
        strangers = {reply.get("recipient_id") for reply in replies} - {sender}
        if strangers:
            problems.append(f"{sender}: {message!r}: replies addressed to {strangers}")
        if without_recipient(replies) != answers[key]:
            got = [reply.get("text", "")[:60] for reply in replies]
            problems.append(f"{sender}: {message!r}: expected the answer on {key}, got {got}")
    return problems


def run_concurrently(stack, ledger, answers, scripts: dict[str, list]) -> list[str]:
    with ThreadPoolExecutor(max_workers=len(scripts)) as pool:
        results = pool.map(lambda item: converse(stack, ledger, answers, *item), scripts.items())
        return [problem for problems in results for problem in problems]


def server_errors(lines) -> int:
    return sum(1 for line in lines if line.status >= 500)


def test_only_the_public_webhooks_are_exposed(stack):
    assert requests.get(f"{stack.url}/health", timeout=10).json() == {"status": "ok"}
    # Rasa's HTTP API and the action server are not reachable through nginx...
    for method, path in [
        ("GET", "/"),
        ("GET", "/version"),
        ("GET", "/status"),
        ("GET", "/conversations/someone/tracker"),
        ("POST", "/model/parse"),
        ("PUT", "/model"),
        ("POST", "/webhook"),
        ("GET", "/actions"),
    ]:
        assert requests.request(method, f"{stack.url}{path}", timeout=10).status_code == 404, path
    # ...though the Rasa servers are up behind it (and answer on loopback only).
    assert requests.get(f"{stack.rasa_url(1)}/", timeout=10).ok
    # Bodies over the limit (64 kB) never reach Rasa; a long message under it reaches the channel,
    # which cuts it and answers.
    assert stack.say("too-big", "x" * 100_000).status_code == 413
    assert stack.say("long", "does valium help " * 1_500).status_code == 200


def test_one_address_past_its_burst_gets_429_and_other_addresses_do_not(stack, ledger):
    """nginx's limit_req per client address (deploy/nginx.conf.tmpl): a burst from one address is
    answered up to the burst, the rest get 429 without reaching Rasa; another address is served."""
    burst = int(stack.env["PROD_RATE_BURST"])
    count = 3 * burst
    log_start = stack.access_log_length()
    with client_from("127.2.0.1") as client, ThreadPoolExecutor(max_workers=count) as pool:
        statuses = list(
            pool.map(lambda _: client.get(f"{stack.url}/health", timeout=30).status_code, range(count))
        )
    served, limited = statuses.count(200), statuses.count(429)
    ledger.figures["rate_limit"] = {"burst": burst, "sent_at_once": count, "served": served, "429": limited}
    assert served + limited == count, Counter(statuses)
    # The burst and its first request are served; the rate adds one more every 1/rate seconds.
    assert burst <= served <= burst + 6
    assert limited >= count - burst - 6
    # The refused ones never reached a Rasa server.
    refused = [line for line in stack.access_log(log_start) if line.status == 429]
    assert len(refused) == limited and all(line.upstream == "-" for line in refused)
    with client_from("127.2.0.2") as other:
        assert other.get(f"{stack.url}/health", timeout=30).status_code == 200
    # A message from the limited address once its burst has drained: answered.
    time.sleep(2 * burst / 5 + 1)
    with client_from("127.2.0.1") as client:
        response = client.post(
            f"{stack.url}/webhooks/rest/webhook", json={"sender": "limited", "message": "hello"}, timeout=60
        )
    assert response.status_code == 200


def test_the_widget_is_served_at_the_documented_url_under_a_content_hash(stack):
    """/widget/rasa-widget.js (README) redirects, uncached, to a file named after its content's hash
    and cached for good: new help numbers make a new name, so no cache keeps the old ones."""
    built = (ROOT / "widget" / "dist" / "rasa-widget.js").read_bytes()
    name = f"rasa-widget.{hashlib.sha256(built).hexdigest()[:16]}.js"
    redirect = requests.get(f"{stack.url}/widget/rasa-widget.js", allow_redirects=False, timeout=10)
    assert redirect.status_code == 302
    assert redirect.headers["Location"] == f"/widget/{name}"
    assert redirect.headers["Cache-Control"] == "no-cache"
    served = requests.get(f"{stack.url}/widget/rasa-widget.js", timeout=10)
    assert served.status_code == 200 and served.content == built
    assert served.headers["Content-Type"] == "application/javascript"
    assert "immutable" in served.headers["Cache-Control"]
    # The help lines (numbers from the resource slots in domain.yml) are in the file that is served.
    help_panel = json.loads((ROOT / "widget" / "build" / "help.json").read_text(encoding="utf-8"))
    assert all(json.dumps(line).encode() in served.content for line in help_panel["lines"])
    # Only the current file exists under /widget/.
    assert requests.get(f"{stack.url}/widget/rasa-widget.0000000000000000.js", timeout=10).status_code == 404


def test_logs_rotate_and_every_service_writes_on(stack):
    """scripts/prod.sh rotate-logs: each log is copied to .1 (older ones compressed) and emptied in
    place, and every service keeps logging into it."""
    logs = stack.prod_dir / "log"
    before = {path.name: path.stat().st_size for path in logs.glob("*.log")}
    assert {"nginx-access.log", "rasa1.log"} <= before.keys()
    for _ in range(2):  # twice: the first .1 becomes .2.gz
        stack.run("rotate-logs")
    assert (logs / "nginx-access.log.1").exists() and (logs / "nginx-access.log.2.gz").exists()
    assert (logs / "rasa1.log.2.gz").exists()
    assert stack.say("after-rotation", "hello").status_code == 200
    # nginx writes the line once the reply has gone out: give it a moment.
    deadline = time.monotonic() + 10
    while not any(line.path == "/webhooks/rest/webhook" for line in stack.access_log()):
        assert time.monotonic() < deadline, "nothing logged after the rotation"
        time.sleep(0.2)
    assert (logs / "nginx-access.log").stat().st_size > 0
    assert "after-rotation" not in (logs / "nginx-access.log.1").read_text()


def test_fifty_concurrent_conversations_get_their_own_replies(stack, ledger, answers):
    scripts = scripts_for("concurrent", CONCURRENT_CONVERSATIONS)
    senders = list(scripts)
    log_start = stack.access_log_length()
    counted_before = stack.metric("faq_messages_total")

    started = time.monotonic()
    problems = run_concurrently(stack, ledger, answers, scripts)
    elapsed = time.monotonic() - started

    lines = [line for line in stack.access_log(log_start) if line.path == "/webhooks/rest/webhook"]
    sent = sum(len(script) for script in scripts.values())
    answered = sum(len(ledger.exchanges[sender]) for sender in senders)
    ledger.figures["concurrent"] = {
        "conversations": len(senders),
        "messages_sent": sent,
        "messages_answered": answered,
        "problems": len(problems),
        "http_5xx": server_errors(lines),
        "requests_per_rasa_server": dict(Counter(line.upstream for line in lines)),
        "seconds": round(elapsed, 1),
    }
    assert not problems, "\n".join(problems[:20])
    assert answered == sent
    assert server_errors(lines) == 0
    # Both servers took part: the conversations moved between them from message to message.
    assert {line.upstream for line in lines} == {stack.upstream(1), stack.upstream(2)}
    # The exporter sums both servers' counts (insights/exporter.py).
    assert stack.metric("faq_messages_total") - counted_before == sent

    # PostgreSQL holds each conversation exactly as it went: every message once, every reply once,
    # in order, none from another conversation.
    stored = stack.stored_events(senders)
    wrong = [s for s in senders if [e for e in stored[s] if e[0] != "action"] != ledger.expected_history(s)]
    ledger.figures["concurrent"]["conversations_stored_wrong"] = len(wrong)
    assert not wrong, f"stored history differs for {wrong[:5]}"


def test_one_conversation_on_both_servers_at_once_is_serialised(stack, answers, ledger):
    """Messages of one conversation arriving at both servers at the same moment run one at a time.

    The lock store's job. Without a shared lock both servers read the same tracker and one's events
    overwrite the other's (here: 2 of 4 messages lost, every time). Rasa's stock Redis lock store
    updates its tickets non-atomically: 1 of 4 lost in 6 of 20 tries made one at a time (fewer when
    tries overlap); serving.lock_store.AtomicRedisLockStore: none in 60. Hence many tries, one at a
    time: at that rate the stock store fails this test 98 times in 100 (1 - 0.7^12).
    """
    client = redis.Redis(
        host="127.0.0.1", port=int(stack.env["REDIS_PORT"]), password=stack.env["REDIS_PASSWORD"]
    )
    sets_before = client.info("commandstats").get("cmdstat_set", {}).get("calls", 0)
    # Two at a time on each server: the channels allow a sender two unanswered messages per server.
    messages = [(f"does {m} help with opioid withdrawal", m) for m in MEDICATIONS[:4]]
    senders = [f"both-servers-{n:02d}" for n in range(LOCK_TRIES)]

    def send(item: tuple[str, int]):
        sender, index = item
        message, medication = messages[index]
        return stack.say(sender, message, base_url=stack.rasa_url(1 + index % 2)), medication

    for sender in senders:
        with ThreadPoolExecutor(max_workers=len(messages)) as pool:
            results = list(pool.map(send, [(sender, index) for index in range(len(messages))]))
        for response, medication in results:
            assert response.status_code == 200
            assert without_recipient(response.json()) == answers[("helps", medication)]

    sets_after = client.info("commandstats").get("cmdstat_set", {}).get("calls", 0)
    assert sets_after > sets_before, "the Rasa servers did not take their locks in Redis"

    # Stored: each message once, directly followed by its own answer.
    by_text = {message: answers[("helps", medication)][0]["text"] for message, medication in messages}
    stored = stack.stored_events(senders)
    broken = []
    for sender in senders:
        turns_ = [
            e for e in stored[sender] if e[0] != "action" and not (e[0] == "bot" and is_disclaimer(e[1]))
        ]
        pairs = list(zip(turns_[::2], turns_[1::2], strict=False))
        complete = len(turns_) == 2 * len(messages) and sorted(u for (_, u), _ in pairs) == sorted(by_text)
        in_order = all(k == "user" and b == ("bot", by_text.get(u)) for (k, u), b in pairs)
        if not (complete and in_order):
            broken.append(sender)
    ledger.figures["same_conversation_both_servers"] = {
        "conversations": len(senders),
        "messages": len(senders) * len(messages),
        "conversations_stored_wrong": len(broken),
    }
    assert not broken, f"stored out of turn or incomplete: {broken}"


def test_a_conversation_goes_on_when_a_rasa_server_dies(stack, ledger, answers):
    scripts = scripts_for("failover", FAILOVER_CONVERSATIONS, offset=2)
    senders = list(scripts)
    before = {sender: script[:2] for sender, script in scripts.items()}
    after = {sender: script[2:] for sender, script in scripts.items()}

    log_start = stack.access_log_length()
    problems = run_concurrently(stack, ledger, answers, before)
    assert not problems, "\n".join(problems)
    assert {line.upstream for line in stack.access_log(log_start)} == {stack.upstream(1), stack.upstream(2)}

    services = ("postgres", "redis", "actions", "rasa2", "metrics", "nginx")
    pids = {service: stack.pid(service) for service in services}
    counted_before_kill = stack.metric("faq_messages_total")
    stack.kill("rasa1")  # mid-conversation: each has had two of its five messages answered
    log_after_kill = stack.access_log_length()
    problems = run_concurrently(stack, ledger, answers, after)
    lines = stack.access_log(log_after_kill)
    ledger.figures["failover"] = {
        "conversations": len(senders),
        "messages_before_kill": sum(map(len, before.values())),
        "messages_after_kill": sum(map(len, after.values())),
        "problems_after_kill": len(problems),
        "http_5xx_after_kill": server_errors(lines),
    }
    assert not problems, "\n".join(problems)
    assert server_errors(lines) == 0
    assert {line.upstream for line in lines} == {stack.upstream(2)}
    # What the killed server counted is still in the sums: its files stay until the next full start.
    after_kill = sum(map(len, after.values()))
    assert stack.metric("faq_messages_total") == counted_before_kill + after_kill
    assert stack.metric("faq_messages_in_flight") == 0

    stored = stack.stored_events(senders)
    assert all([e for e in stored[s] if e[0] != "action"] == ledger.expected_history(s) for s in senders)

    # `up` again starts only what is missing: the dead server, nothing else.
    stack.up()
    assert {service: stack.pid(service) for service in pids} == pids
    assert requests.get(f"{stack.rasa_url(1)}/", timeout=10).ok


async def socketio_conversation(stack: ProdStack, answers: dict, client_number: int) -> str:
    """A widget-like client from its own loopback address, long-polling only (the transport that needs
    every request of a session to reach the same server); returns the address it came from."""
    address = f"127.0.0.{client_number + 2}"
    medication = MEDICATIONS[client_number % len(MEDICATIONS)]
    session_id = f"socketio-{client_number:02d}"
    replies: asyncio.Queue = asyncio.Queue()
    confirmed: asyncio.Queue = asyncio.Queue()
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))
    client = socketio.AsyncClient(reconnection=False, http_session=http)
    feedback: list[dict[str, Any]] = []

    async def bot_uttered(data: dict[str, Any]) -> None:
        # The "Was this helpful?" prompt after an answer is checked apart from the answer's text; the
        # disclaimer after the conversation's first reply is not part of the answer.
        if "feedback" in data:
            feedback.append(data)
        elif "text" not in data and "language" in data:
            pass  # the language the turn ended in, for the widget's own words
        elif not is_disclaimer(data.get("text")):
            await replies.put(data)

    client.on("bot_uttered", bot_uttered)
    client.on("session_confirm", confirmed.put)
    try:
        await client.connect(stack.url, transports=["polling"], wait_timeout=30)
        await client.emit("session_request", {"session_id": session_id})
        assert await asyncio.wait_for(confirmed.get(), 30) == session_id
        for message, key in turns(medication, medication, medication)[:2]:
            await client.emit("user_uttered", {"message": message, "session_id": session_id})
            # Rasa's socket.io channel sends each paragraph of a reply as a message of its own.
            texts = [reply["text"] for reply in answers[key] if "text" in reply]
            expected = [part for text in texts for part in text.strip().split("\n\n")]
            got = [(await asyncio.wait_for(replies.get(), 120)).get("text") for _ in expected]
            assert got == expected, f"{session_id}: {message!r}"
        assert feedback, f"{session_id}: no 'Was this helpful?' after the answers"
    finally:
        await client.disconnect()
        await http.close()
    return address


async def test_socketio_sessions_stick_to_one_server(stack, answers, ledger):
    log_start = stack.access_log_length()
    addresses = await asyncio.gather(
        *(socketio_conversation(stack, answers, n) for n in range(SOCKETIO_CLIENTS))
    )
    lines = [line for line in stack.access_log(log_start) if line.path.startswith("/socket.io/")]
    servers_by_client = {a: {line.upstream for line in lines if line.remote == a} for a in addresses}
    ledger.figures["socketio"] = {
        "clients": len(addresses),
        "requests": len(lines),
        "statuses": dict(Counter(line.status for line in lines)),
        "clients_per_rasa_server": dict(Counter(next(iter(s)) for s in servers_by_client.values())),
    }
    # Every request of a session reached the server that opened it. A request reaching another
    # server would get 400 ("Invalid session"); 499 is nginx noting that a client, disconnecting,
    # dropped its pending long-poll.
    assert all(len(servers) == 1 for servers in servers_by_client.values()), servers_by_client
    # While a session is open every request succeeds. Only as the client closes it may a request get
    # a 400 from the same server: the client's next long-poll can be on its way beside the close
    # packet, and python-engineio answers "Invalid session" to a request that arrives after it has
    # closed the session (seen once in about 200 requests, in CI). nginx logs requests as they end,
    # so that long-poll is one of the client's last two lines.
    for address in addresses:
        statuses = [line.status for line in lines if line.remote == address and line.status != 499]
        assert all(200 <= status < 300 for status in statuses[:-2]), (address, statuses)
        assert all(200 <= status < 300 or status == 400 for status in statuses[-2:]), (address, statuses)
    # Different clients were spread over both servers.
    assert set().union(*servers_by_client.values()) == {stack.upstream(1), stack.upstream(2)}


def test_every_conversation_survives_a_full_restart(stack, ledger, answers):
    senders = [s for s in ledger.exchanges if s.startswith(("concurrent-", "failover-"))]
    assert len(senders) == CONCURRENT_CONVERSATIONS + FAILOVER_CONVERSATIONS, "run the whole module"
    before = stack.stored_events(senders)
    old_pids = {service: stack.pid(service) for service in ("postgres", "redis", "rasa1", "nginx")}

    started = time.monotonic()
    stack.run("down", timeout=300)
    assert all(stack.pid(service) is None for service in old_pids), "pid files left behind"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{stack.url}/health", timeout=5)
    stack.up()
    restart_seconds = time.monotonic() - started

    # Read back from PostgreSQL: every conversation's history exactly as it was, and as it went.
    after = stack.stored_events(senders)
    assert after == before
    assert all([e for e in after[s] if e[0] != "action"] == ledger.expected_history(s) for s in senders)

    # And the servers carry on from it: "its risks" needs the medicine each conversation was about.
    message, question = AFTER_RESTART
    scripts = {s: [(message, (question, ledger.last_medication[s]))] for s in senders}
    log_start = stack.access_log_length()
    problems = run_concurrently(stack, ledger, answers, scripts)
    lines = stack.access_log(log_start)
    ledger.figures["restart"] = {
        "conversations_checked": len(senders),
        "histories_intact": sum(1 for s in senders if after[s] == before[s]),
        "messages_after_restart": len(senders),
        "problems_after_restart": len(problems),
        "http_5xx_after_restart": server_errors(lines),
        "down_and_up_seconds": round(restart_seconds, 1),
    }
    assert not problems, "\n".join(problems[:20])
    assert server_errors(lines) == 0
