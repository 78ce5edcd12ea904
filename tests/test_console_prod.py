"""The operator console in the production profile (make test-prod): started by prod.sh on loopback
beside nginx (never through it), on the servers' PostgreSQL, stopped with the rest."""

from __future__ import annotations

import json
import re
import time

import pytest
import requests
import sqlalchemy as sa
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


def test_rows_from_both_servers_show_once_from_postgresql(stack):
    engine = sa.create_engine(
        f"postgresql://{stack.env['DB_USER']}:{stack.env['DB_PASSWORD']}@127.0.0.1:{stack.env['DB_PORT']}/"
        f"{stack.env['DB_NAME']}"
    )
    now = time.time()
    guesses = json.dumps([{"intent": "ask_med_helps", "confidence": 0.4}])
    # As the two Rasa servers record them: one database, rows of both.
    with engine.begin() as connection:
        for server in (1, 2):
            key = schema.conversation_key(f"server{server}")
            connection.execute(
                schema.turns.insert().values(
                    ts=now, conversation=key, channel="rest", intent="ask_med_helps", kind=schema.DID_YOU_MEAN
                )
            )
            connection.execute(
                schema.queue.insert().values(
                    ts=now,
                    conversation=key,
                    channel="rest",
                    reason=schema.REASON_DID_YOU_MEAN,
                    guesses=guesses,
                    text=f"can valium stop the shakes from server {server}",
                )
            )
    engine.dispose()
    http, queue = logged_in(stack)
    phrasings = re.findall(r'<span class="text">([^<]*)</span>', queue)
    assert sorted(p for p in phrasings if "shakes from server" in p) == [
        "can valium stop the shakes from server 1",
        "can valium stop the shakes from server 2",
    ]  # each once, in one group of the two alike wordings
    assert "asked 2\u00d7" in queue
    stats = http.get(console_url(stack) + "/api/stats?days=7", timeout=10).json()
    assert stats["totals"]["messages"] >= 2 and stats["totals"]["queue_open"] >= 2


def test_prod_down_stops_the_console(stack):
    pid = stack.pid("console")
    assert pid is not None
    stack.run("down", timeout=180)
    assert gone(pid, 30), f"console ({pid}) still running after prod.sh down"
