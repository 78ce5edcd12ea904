"""The operator console in the production profile (make test-prod): started by prod.sh on loopback
beside nginx (never through it), on the servers' PostgreSQL, stopped with the rest."""

from __future__ import annotations

import re

import pytest
import requests
from channel_harness import FEEDBACK_NO_REPLY
from console_data import log_in
from prod_stack import ProdStack, gone

from insights import schema

pytestmark = [pytest.mark.prod, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def stack(model, tmp_path_factory):
    stack = ProdStack.create(tmp_path_factory.mktemp("prod") / "var")
    try:
        stack.up()
        yield stack
    finally:
        stack.run("purge", timeout=180)


def console_url(stack: ProdStack) -> str:
    return f"http://127.0.0.1:{stack.env['PROD_CONSOLE_PORT']}"


def logged_in(stack: ProdStack) -> tuple[requests.Session, str]:
    http, reply = log_in(console_url(stack), stack.env["CONSOLE_PASSWORD"])
    assert reply.status_code == 200 and reply.url == console_url(stack) + "/"
    return http, reply.text


def test_console_runs_on_loopback_with_a_generated_password_and_not_through_nginx(stack):
    assert len(stack.env["CONSOLE_PASSWORD"]) >= 32  # generated into prod.env
    assert (
        "console" in stack.run("status")
        and "running" in stack.run("status").split("console")[1].splitlines()[0]
    )
    with pytest.raises(requests.ConnectionError):  # bound to 127.0.0.1 only
        requests.get(f"http://127.0.0.2:{stack.env['PROD_CONSOLE_PORT']}/login", timeout=5)
    for path in ("/login", "/", "/dashboard", "/api/stats", "/new-answers.yml"):
        assert requests.get(stack.url + path, timeout=10).status_code == 404, path
    assert requests.get(console_url(stack) + "/api/stats", timeout=10).status_code == 401


CRISIS = "my friend took too many pills and is not breathing"
COMMENT = "i wanted to know if it helps me sleep"


def recorded(stack: ProdStack, table: str, sender: str) -> list[dict]:
    with stack.database() as connection, connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM {table} WHERE conversation = %s ORDER BY id", (schema.conversation_key(sender),)
        )
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_one_conversation_on_both_servers_is_recorded_once_in_postgresql_and_shown_in_the_console(stack):
    """Real messages, each sent to the other Rasa server than the last: every turn, the feedback and
    every queue item land once in PostgreSQL (with the events, in the server's transaction), and the
    console shows them; the crisis message is counted, and its text is on no console page."""
    sender = "prod-recording"
    servers = [stack.rasa_url(1), stack.rasa_url(2)]

    def say(number: int, message: str) -> list[dict]:
        reply = stack.say(sender, message, base_url=servers[number % 2])
        assert reply.status_code == 200, reply.text
        return reply.json()

    answer = say(0, "does valium help with opioid withdrawal")
    prompt = answer[-1]["feedback"]
    assert prompt["answer"] == "helps.valium"
    assert [m.get("text") for m in say(1, prompt["no"]["payload"])] == [FEEDBACK_NO_REPLY]
    say(2, COMMENT)
    assert any(
        b["payload"] == "/none_of_these"
        for m in say(3, "withdrawal pills thing")
        for b in m.get("buttons") or []
    )
    say(4, "/none_of_these")
    say(5, "how do i file my taxes")
    assert "911" in say(6, CRISIS)[0]["text"]

    kinds = [t["kind"] for t in recorded(stack, "faq_turns", sender)]
    assert len(kinds) == 7, kinds  # one row per message, though two servers handled them
    assert kinds[:2] + kinds[3:] == [
        schema.ANSWER,
        schema.FEEDBACK,
        schema.DID_YOU_MEAN,
        schema.FALLBACK,
        schema.OUT_OF_SCOPE,
        schema.CRISIS,
    ]
    (feedback,) = recorded(stack, "faq_feedback", sender)
    assert (feedback["answer"], feedback["helpful"], feedback["intent"]) == (
        "helps.valium",
        False,
        "ask_med_helps",
    )
    # The comment is answered as any message is, and may itself be queued: left out here.
    queue = [q for q in recorded(stack, "faq_queue", sender) if q["text"] != COMMENT]
    assert [(q["reason"], q["text"], q["comment"]) for q in queue] == [
        (schema.REASON_NOT_HELPFUL, "does valium help with opioid withdrawal", COMMENT),
        (schema.REASON_DID_YOU_MEAN, "withdrawal pills thing", None),
        (schema.REASON_NONE_OF_THESE, "withdrawal pills thing", None),
        (schema.REASON_OUT_OF_SCOPE, "how do i file my taxes", None),
    ]
    with stack.database() as connection, connection.cursor() as cursor:
        for table in schema.TABLES:
            cursor.execute(f"SELECT * FROM {table.name}")
            assert "breathing" not in repr(cursor.fetchall()), table.name

    http, page = logged_in(stack)
    phrasings = re.findall(r'<span class="text">([^<]*)</span>', page)
    assert phrasings.count("how do i file my taxes") == 1
    assert phrasings.count("withdrawal pills thing") == 2 and "asked 2\u00d7" in page  # one group of two
    assert phrasings.count("does valium help with opioid withdrawal") == 1
    assert f"They were looking for: {COMMENT}" in page
    stats = http.get(console_url(stack) + "/api/stats?days=7", timeout=10).json()
    assert stats["totals"]["messages"] >= 7 and stats["totals"]["queue_open"] >= 4
    for path in ("/", "/done", "/dashboard", "/api/stats?days=7", "/new-answers.yml"):
        shown = http.get(console_url(stack) + path, timeout=10)
        assert shown.status_code == 200, path
        assert "breathing" not in shown.text and "too many pills" not in shown.text, path


def test_prod_down_stops_the_console(stack):
    pid = stack.pid("console")
    assert pid is not None
    stack.run("down", timeout=180)
    assert gone(pid, 30), f"console ({pid}) still running after prod.sh down"
