"""Twilio SMS and WhatsApp over loopback: signed "message comes in" webhooks posted to the real server
are answered through the Messages API (a local stand-in), buttons as numbered lines that a reply of
"2" chooses (on any server: the offer is kept in the conversation); unsigned or wrongly signed
requests are refused; the guard's limits apply."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
import requests
from channel_harness import (
    TWILIO,
    check_a_flood_is_limited,
    check_an_over_long_message_is_cut,
    generated_environment,
    messaging_servers,
    without_prompt,
)
from servers import free_port

pytestmark = pytest.mark.server

WEBHOOK = "/webhooks/twilio/webhook"


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    # Twilio's scheme, written out from its documentation rather than taken from its library: HMAC-SHA1
    # over the webhook URL followed by every POST parameter's name and value, sorted by name.
    text = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), text.encode(), hashlib.sha1).digest()).decode()


def inbound(messaging, sender: str, body: str, to: str | None = None) -> dict[str, str]:
    return {
        "MessageSid": f"SM{abs(hash((sender, body, time.time()))):032x}"[:34],
        "AccountSid": messaging.env["TWILIO_ACCOUNT_SID"],
        "From": sender,
        "To": to or messaging.env["TWILIO_NUMBER"],
        "Body": body,
        "NumMedia": "0",
    }


def post(messaging, params: dict[str, str], sign_with: str | None = "") -> requests.Response:
    headers = {}
    if sign_with is not None:
        token = sign_with or messaging.env["TWILIO_AUTH_TOKEN"]
        headers["X-Twilio-Signature"] = signature(token, messaging.env["TWILIO_WEBHOOK_URL"], params)
    return requests.post(f"{messaging.rasa_url}{WEBHOOK}", data=params, headers=headers, timeout=60)


def sent_to(number: str):
    return lambda r: r.path.endswith("/Messages.json") and r.form()["To"] == number


def as_sms(expected: list[dict]) -> list[str]:
    """What the channel should send for these replies: parts split at blank lines, buttons as numbered
    lines under the last part, and no "Was this helpful?"."""
    bodies = []
    for message in without_prompt(expected):
        text = message["text"].strip()
        if message.get("buttons"):
            text += "\n" + "\n".join(f"{n}. {b['title']}" for n, b in enumerate(message["buttons"], 1))
        bodies += text.split("\n\n")
    return bodies


def test_an_sms_is_answered_with_buttons_as_numbered_lines(messaging):
    number = "+15550111001"
    expected = messaging.servers.say("sms-expected-1", "hello")
    assert expected[-1]["buttons"], "the greeting offers questions"

    reply = post(messaging, inbound(messaging, number, "hello"))
    assert reply.status_code == 204, reply.text

    sent = messaging.platforms.settle(sent_to(number))
    assert [r.form()["Body"] for r in sent] == as_sms(expected)
    assert {r.form()["From"] for r in sent} == {messaging.env["TWILIO_NUMBER"]}
    assert all("/" not in r.form()["Body"].splitlines()[-1] for r in sent), "no payloads shown"

    # Replying with a line's number chooses that button.
    chosen = expected[-1]["buttons"][1]
    messaging.servers.say("sms-expected-2", "hello")  # a second message, as on SMS: no disclaimer
    expected_answer = messaging.servers.say("sms-expected-2", chosen["payload"])
    reply = post(messaging, inbound(messaging, number, " 2 "))
    assert reply.status_code == 204
    answer = messaging.platforms.settle(sent_to(number))[len(sent) :]
    assert [r.form()["Body"] for r in answer] == as_sms(expected_answer)


def test_a_number_means_nothing_once_the_offer_is_used(messaging):
    # The same conversation over REST, where a number is always text, is the reference.
    number, rest_sender = "+15550111002", "sms-expected-3"
    offered = messaging.servers.say(rest_sender, "hello")[-1]["buttons"]
    assert not any(m.get("buttons") for m in messaging.servers.say(rest_sender, "bye"))
    expected = messaging.servers.say(rest_sender, "1")
    assert expected != messaging.servers.say("sms-expected-4", offered[0]["payload"])

    for text in ("hello", "bye"):
        post(messaging, inbound(messaging, number, text))
        before = messaging.platforms.settle(sent_to(number))
    post(messaging, inbound(messaging, number, "1"))
    answer = messaging.platforms.settle(sent_to(number))[len(before) :]
    assert [r.form()["Body"] for r in answer] == as_sms(expected)


def test_a_number_chooses_from_an_offer_another_server_process_sent(tmp_path):
    """The offer is kept in the conversation (a slot), not in the server's memory."""
    number, port = "+15550111004", free_port()
    env = generated_environment(f"http://127.0.0.1:{port}")
    with messaging_servers(tmp_path, port, env) as first:
        offered = first.servers.say("sms-expected-5", "hello")[-1]["buttons"]
        post(first, inbound(first, number, "hello"))
        last = first.platforms.settle(sent_to(number))[-1].form()["Body"]
        assert f"2. {offered[1]['title']}" in last.splitlines()

    with messaging_servers(tmp_path, port, env) as second:
        second.servers.say("sms-expected-6", "hello")  # a second message, as on SMS: no disclaimer
        expected = second.servers.say("sms-expected-6", offered[1]["payload"])
        reply = post(second, inbound(second, number, "2"))
        assert reply.status_code == 204
        answer = second.platforms.settle(sent_to(number))
        assert [r.form()["Body"] for r in answer] == as_sms(expected)


@pytest.mark.parametrize(
    "check", [check_an_over_long_message_is_cut, check_a_flood_is_limited], ids=["over-long", "flood"]
)
def test_the_guard_limits_sms(messaging, check):
    number = "+15550111201" if check is check_a_flood_is_limited else "+15550111202"
    check(
        TWILIO,
        lambda text: post(messaging, inbound(messaging, number, text)),
        lambda: [r.form()["Body"] for r in messaging.platforms.settle(sent_to(number))],
    )


def test_a_whatsapp_message_is_answered_from_the_whatsapp_sender(messaging):
    number = "whatsapp:+15550111003"
    expected = messaging.servers.say("wa-expected-1", "does valium help with opioid withdrawal")
    params = inbound(
        messaging, number, "does valium help with opioid withdrawal", messaging.env["TWILIO_WHATSAPP_NUMBER"]
    )

    reply = post(messaging, params)
    assert reply.status_code == 204, reply.text

    sent = messaging.platforms.settle(sent_to(number))
    assert [r.form()["Body"] for r in sent] == as_sms(expected)
    assert {r.form()["From"] for r in sent} == {messaging.env["TWILIO_WHATSAPP_NUMBER"]}
    assert "feedback" in expected[-1], "REST asks 'Was this helpful?' after the answer, SMS does not"
    assert not any("helpful" in r.form()["Body"] for r in sent)


@pytest.mark.parametrize(
    ("number", "sign_with"),
    [("+15550111101", None), ("+15550111102", "not-the-auth-token")],
    ids=["unsigned", "wrong"],
)
def test_an_unsigned_request_is_refused(messaging, number, sign_with):
    reply = post(messaging, inbound(messaging, number, "hello"), sign_with=sign_with)
    assert reply.status_code == 403
    time.sleep(1)
    assert messaging.platforms.matching(sent_to(number)) == []


def test_a_tampered_request_is_refused(messaging):
    number = "+15550111103"
    params = inbound(messaging, number, "hello")
    headers = {
        "X-Twilio-Signature": signature(
            messaging.env["TWILIO_AUTH_TOKEN"], messaging.env["TWILIO_WEBHOOK_URL"], params
        )
    }
    # Signed for one recipient, sent to make the bot text another.
    reply = requests.post(
        f"{messaging.rasa_url}{WEBHOOK}", data={**params, "From": "+15550111199"}, headers=headers, timeout=60
    )
    assert reply.status_code == 403
    time.sleep(1)
    assert messaging.platforms.matching(sent_to("+15550111199")) == []
