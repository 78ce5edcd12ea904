"""Slack over loopback: signed Events API and interactivity requests posted to the real server are
answered through chat.postMessage (a local stand-in); unsigned, wrongly signed or stale ones are not;
the guard's limits apply."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
import requests
from channel_harness import (
    SLACK,
    check_a_flood_is_limited,
    check_an_over_long_message_is_cut,
    prompt_as_buttons,
)

pytestmark = pytest.mark.server

WEBHOOK = "/webhooks/slack/webhook"


def signed_headers(secret: str, body: bytes, content_type: str, timestamp: int | None = None) -> dict:
    # Slack's v0 signature: HMAC-SHA256 over "v0:<timestamp>:<body>" with the signing secret.
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
    }


def direct_message(user: str, channel: str, text: str) -> bytes:
    event = {"type": "message", "channel_type": "im", "channel": channel, "user": user, "text": text}
    envelope = {"type": "event_callback", "team_id": "T0TEST", "event": {**event, "ts": f"{time.time():.6f}"}}
    return json.dumps(envelope).encode()


def button_click(user: str, channel: str, value: str) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "channel": {"id": channel},
        "message": {"ts": f"{time.time():.6f}"},
        "actions": [{"type": "button", "value": value, "action_id": "a1"}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def post(messaging, body: bytes, headers: dict) -> requests.Response:
    return requests.post(f"{messaging.rasa_url}{WEBHOOK}", data=body, headers=headers, timeout=60)


def posted_to(channel: str):
    return lambda r: r.path == "/slack/api/chat.postMessage" and r.json().get("channel") == channel


def as_posted(expected: list[dict]) -> list[str]:
    # Rasa's Slack output sends a text in parts split at blank lines, unless it carries buttons.
    return [
        p for m in expected for p in ([m["text"]] if m.get("buttons") else m["text"].strip().split("\n\n"))
    ]


@pytest.mark.parametrize(
    ("user", "text"),
    [("U0SAM1", "does valium help with opioid withdrawal"), ("U0SAM3", "/help_menu")],
    ids=["answer", "topics-menu-7-buttons"],
)
def test_a_direct_message_is_answered_with_buttons(messaging, user, text):
    secret = messaging.env["SLACK_SIGNING_SECRET"]
    # An answer ends with "Was this helpful?" and Yes / No buttons; the topics menu has none.
    expected = prompt_as_buttons(messaging.servers.say(f"slack-expected-{user}", text))
    assert (expected[-1]["text"] == "Was this helpful?") == (user == "U0SAM1")
    channel = f"D{user}"
    body = direct_message(user, channel, text)

    reply = post(messaging, body, signed_headers(secret, body, "application/json"))
    assert reply.status_code == 200, reply.text

    sent = messaging.platforms.settle(posted_to(channel))
    assert all(r.headers["authorization"] == f"Bearer {messaging.env['SLACK_TOKEN']}" for r in sent)
    assert [r.json()["text"] for r in sent] == as_posted(expected)
    # Buttons are Block Kit buttons under the text, the payload as each button's value (the last
    # message with buttons: the disclaimer follows a conversation's first reply).
    last = max(i for i, m in enumerate(expected) if m.get("buttons"))
    text_block, actions = sent[last].json()["blocks"]
    assert text_block["text"]["text"] == expected[last]["text"]
    assert [(e["text"]["text"], e["value"]) for e in actions["elements"]] == [
        (b["title"], b["payload"]) for b in expected[last]["buttons"]
    ]


def test_a_button_click_is_answered(messaging):
    secret = messaging.env["SLACK_SIGNING_SECRET"]
    expected = prompt_as_buttons(messaging.servers.say("slack-expected-2", "/ask_withdrawal_symptoms"))
    body = button_click("U0SAM2", "D0SAM2", "/ask_withdrawal_symptoms")

    reply = post(messaging, body, signed_headers(secret, body, "application/x-www-form-urlencoded"))
    assert reply.status_code == 200, reply.text

    sent = messaging.platforms.settle(posted_to("D0SAM2"))
    assert [r.json()["text"] for r in sent] == as_posted(expected)


def test_the_url_verification_challenge_is_answered(messaging):
    body = json.dumps({"type": "url_verification", "token": "t", "challenge": "c-12345"}).encode()
    reply = post(
        messaging, body, signed_headers(messaging.env["SLACK_SIGNING_SECRET"], body, "application/json")
    )
    assert reply.status_code == 200
    assert reply.json() == "c-12345"


@pytest.mark.parametrize(
    "check", [check_an_over_long_message_is_cut, check_a_flood_is_limited], ids=["over-long", "flood"]
)
def test_the_guard_limits_slack_messages(messaging, check):
    user = "U0FLOOD" if check is check_a_flood_is_limited else "U0LONG"
    channel, secret = f"D{user}", messaging.env["SLACK_SIGNING_SECRET"]

    def send(text: str) -> requests.Response:
        body = direct_message(user, channel, text)
        return post(messaging, body, signed_headers(secret, body, "application/json"))

    check(SLACK, send, lambda: [r.json()["text"] for r in messaging.platforms.settle(posted_to(channel))])


@pytest.mark.parametrize(
    ("channel", "headers"),
    [
        ("D0BAD1", lambda secret, body: {"Content-Type": "application/json"}),
        ("D0BAD2", lambda secret, body: signed_headers("not-the-secret", body, "application/json")),
        (
            "D0BAD3",
            lambda secret, body: signed_headers(secret, body, "application/json", int(time.time()) - 600),
        ),
    ],
    ids=["unsigned", "wrong-secret", "ten-minutes-old"],
)
def test_an_unauthentic_request_is_refused(messaging, channel, headers):
    body = direct_message("U0BAD", channel, "hello")
    reply = post(messaging, body, headers(messaging.env["SLACK_SIGNING_SECRET"], body))
    assert reply.status_code == 400
    time.sleep(1)
    assert messaging.platforms.matching(posted_to(channel)) == []
