"""Facebook Messenger over loopback: the webhook verification, and signed messages posted to the real
server answered through the Send API (a local stand-in) with buttons as quick replies; the guard's
limits apply."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import requests
from channel_harness import (
    FACEBOOK,
    check_a_flood_is_limited,
    check_an_over_long_message_is_cut,
    prompt_as_buttons,
)

from channels.facebook import TITLE_CHARS

pytestmark = pytest.mark.server

WEBHOOK = "/webhooks/facebook/webhook"


def signature(secret: str, body: bytes, method: str) -> str:
    return f"{method}={hmac.new(secret.encode(), body, getattr(hashlib, method)).hexdigest()}"


def event(psid: str, message: dict) -> bytes:
    messaging = {"sender": {"id": psid}, "recipient": {"id": "PAGE1"}, "timestamp": int(time.time() * 1000)}
    entry = {"id": "PAGE1", "time": int(time.time() * 1000), "messaging": [{**messaging, "message": message}]}
    return json.dumps({"object": "page", "entry": [entry]}).encode()


def post(messaging, body: bytes, headers: dict) -> requests.Response:
    headers = {"Content-Type": "application/json", **headers}
    return requests.post(f"{messaging.rasa_url}{WEBHOOK}", data=body, headers=headers, timeout=60)


def sent_to(psid: str):
    return lambda r: r.path == "/facebook/me/messages" and r.json()["recipient"]["id"] == psid


def messages(sent) -> list[dict]:
    return [r.json()["message"] for r in sent if "message" in r.json()]


def as_sent(expected: list[dict]) -> list[str]:
    """Messenger texts for REST replies: parts split at blank lines, except a text with buttons, under
    which the questions are listed when a title is too long for a quick reply."""
    sent = []
    for message in expected:
        titles = [b["title"] for b in message.get("buttons") or []]
        if not titles:
            sent += message["text"].strip().split("\n\n")
        elif all(len(title) <= TITLE_CHARS for title in titles):
            sent.append(message["text"])
        else:
            sent.append(message["text"] + "".join(f"\n{n}. {title}" for n, title in enumerate(titles, 1)))
    return sent


def test_the_webhook_verification_echoes_the_challenge(messaging):
    query = {"hub.mode": "subscribe", "hub.verify_token": messaging.env["FACEBOOK_VERIFY_TOKEN"]}
    reply = requests.get(
        f"{messaging.rasa_url}{WEBHOOK}", params={**query, "hub.challenge": "1158201444"}, timeout=10
    )
    assert (reply.status_code, reply.text) == (200, "1158201444")

    query["hub.verify_token"] = "not-the-token"
    reply = requests.get(
        f"{messaging.rasa_url}{WEBHOOK}", params={**query, "hub.challenge": "1158201444"}, timeout=10
    )
    assert reply.status_code == 403
    assert "1158201444" not in reply.text


def test_a_message_is_answered_with_quick_replies(messaging):
    psid = "6100000000001"
    expected = messaging.servers.say("fb-expected-1", "hello")
    body = event(psid, {"mid": "m1", "text": "hello"})

    reply = post(
        messaging,
        body,
        {"X-Hub-Signature-256": signature(messaging.env["FACEBOOK_APP_SECRET"], body, "sha256")},
    )
    assert (reply.status_code, reply.text) == (200, "success")

    sent = messaging.platforms.settle(sent_to(psid))
    assert all(r.query["access_token"] == [messaging.env["FACEBOOK_PAGE_ACCESS_TOKEN"]] for r in sent)
    actions = [r.json()["sender_action"] for r in sent if "sender_action" in r.json()]
    assert actions == ["mark_seen", "typing_on", "typing_off"]
    answers = messages(sent)
    assert [a["text"] for a in answers[:-1]] == as_sent(expected)[:-1]
    # Some titles are over Messenger's 20 characters: the full questions are numbered lines under the
    # text, and the quick replies carry the numbers and the payloads.
    last, buttons = answers[-1], expected[-1]["buttons"]
    assert last["text"] == expected[-1]["text"] + "".join(
        f"\n{n}. {b['title']}" for n, b in enumerate(buttons, 1)
    )
    assert [q["payload"] for q in last["quick_replies"]] == [b["payload"] for b in buttons]
    for n, quick_reply in enumerate(last["quick_replies"], 1):
        assert quick_reply["content_type"] == "text"
        assert quick_reply["title"].startswith(f"{n}. ") and len(quick_reply["title"]) <= TITLE_CHARS


def test_a_quick_reply_is_answered(messaging):
    psid = "6100000000002"
    expected = prompt_as_buttons(messaging.servers.say("fb-expected-2", "/ask_withdrawal_symptoms"))
    quick_reply = {
        "mid": "m2",
        "text": "What are withdrawal…",
        "quick_reply": {"payload": "/ask_withdrawal_symptoms"},
    }
    body = event(psid, quick_reply)

    # Meta's older SHA-1 header is still accepted when it is the only one.
    reply = post(
        messaging, body, {"X-Hub-Signature": signature(messaging.env["FACEBOOK_APP_SECRET"], body, "sha1")}
    )
    assert reply.status_code == 200

    answers = messages(messaging.platforms.settle(sent_to(psid)))
    assert [m["text"] for m in answers] == as_sent(expected)
    # Then "Was this helpful?" with Yes / No quick replies.
    assert [(q["title"], q["payload"]) for q in answers[-1]["quick_replies"]] == [
        ("Yes", '/feedback_yes{"answer":"withdrawal_symptoms"}'),
        ("No", '/feedback_no{"answer":"withdrawal_symptoms"}'),
    ]


@pytest.mark.parametrize(
    "check", [check_an_over_long_message_is_cut, check_a_flood_is_limited], ids=["over-long", "flood"]
)
def test_the_guard_limits_messenger_messages(messaging, check):
    psid = "6100000000201" if check is check_a_flood_is_limited else "6100000000202"
    secret = messaging.env["FACEBOOK_APP_SECRET"]

    def send(text: str) -> requests.Response:
        body = event(psid, {"mid": f"m-{time.monotonic_ns()}", "text": text})
        return post(messaging, body, {"X-Hub-Signature-256": signature(secret, body, "sha256")})

    check(FACEBOOK, send, lambda: [m["text"] for m in messages(messaging.platforms.settle(sent_to(psid)))])


@pytest.mark.parametrize(
    ("psid", "headers"),
    [
        ("6100000000101", lambda secret, body: {}),
        (
            "6100000000102",
            lambda secret, body: {"X-Hub-Signature-256": signature("not-the-secret", body, "sha256")},
        ),
        ("6100000000103", lambda secret, body: {"X-Hub-Signature": signature(secret, body, "md5")}),
        (
            "6100000000104",
            lambda secret, body: {
                "X-Hub-Signature-256": signature("not-the-secret", body, "sha256"),
                "X-Hub-Signature": signature(secret, body, "sha1"),
            },
        ),
    ],
    ids=["unsigned", "wrong-secret", "md5", "bad-sha256-good-sha1"],
)
def test_an_unauthentic_request_is_refused(messaging, psid, headers):
    body = event(psid, {"mid": "m3", "text": "hello"})
    reply = post(messaging, body, headers(messaging.env["FACEBOOK_APP_SECRET"], body))
    assert reply.status_code == 403
    time.sleep(1)
    assert messaging.platforms.matching(sent_to(psid)) == []
