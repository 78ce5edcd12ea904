"""Telegram over loopback: an update posted to the real server is answered through the Bot API
(a local stand-in), updates without the webhook's secret are refused, and the guard's limits apply."""

from __future__ import annotations

import json
import secrets
import time

import pytest
import requests
from channel_harness import (
    FEEDBACK_NO_REPLY,
    TELEGRAM,
    check_a_flood_is_limited,
    check_an_over_long_message_is_cut,
    prompt_as_buttons,
)

pytestmark = pytest.mark.server

WEBHOOK = "/webhooks/telegram/webhook"


def update(chat_id: int, text: str) -> dict:
    person = {"id": chat_id, "is_bot": False, "first_name": "Sam"}
    message = {
        "message_id": secrets.randbelow(10**6),
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private", "first_name": "Sam"},
        "from": person,
        "text": text,
    }
    return {"update_id": secrets.randbelow(10**9), "message": message}


def button_press(chat_id: int, data: str) -> dict:
    person = {"id": chat_id, "is_bot": False, "first_name": "Sam"}
    message = {
        "message_id": secrets.randbelow(10**6),
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private"},
        "text": "an earlier answer",
    }
    query = {"id": str(secrets.randbelow(10**9)), "from": person, "chat_instance": "1", "message": message}
    return {"update_id": secrets.randbelow(10**9), "callback_query": {**query, "data": data}}


def post(messaging, payload: dict, secret: str | None) -> requests.Response:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return requests.post(f"{messaging.rasa_url}{WEBHOOK}", json=payload, headers=headers, timeout=60)


def as_sent(expected: list[dict]) -> list[str]:
    # Rasa's Telegram output sends a text in parts split at blank lines, unless it carries buttons.
    return [
        part
        for m in expected
        for part in ([m["text"]] if m.get("buttons") else m["text"].strip().split("\n\n"))
    ]


def sent_to(chat_id: int):
    return lambda r: r.path.endswith("/sendMessage") and r.form().get("chat_id") == str(chat_id)


def test_webhook_is_registered_at_start_with_its_secret(messaging):
    (registration,) = messaging.platforms.wait_for(lambda r: r.path.endswith("/setWebhook"), timeout=5)
    assert registration.path == f"/telegram/bot{messaging.env['TELEGRAM_TOKEN']}/setWebhook"
    assert registration.form() == {
        "url": messaging.env["TELEGRAM_WEBHOOK_URL"],
        "secret_token": messaging.env["TELEGRAM_WEBHOOK_SECRET"],
    }


def test_a_question_is_answered_through_the_bot_api(messaging):
    chat_id = 700_000_001
    expected = messaging.servers.say("tg-expected-1", "does valium help with opioid withdrawal")

    reply = post(
        messaging,
        update(chat_id, "does valium help with opioid withdrawal"),
        messaging.env["TELEGRAM_WEBHOOK_SECRET"],
    )
    assert reply.status_code == 200, reply.text

    sent = messaging.platforms.settle(sent_to(chat_id))
    assert [r.form()["text"] for r in sent] == as_sent(prompt_as_buttons(expected))
    # The answer's buttons are an inline keyboard, one question per row, the payload as callback data;
    # then "Was this helpful?" with Yes and No on one row.
    # (Between them, the disclaimer: this is the conversation's first message.)
    answer, prompt = (json.loads(r.form()["reply_markup"])["inline_keyboard"] for r in (sent[0], sent[-1]))
    assert [[(b["text"], b["callback_data"]) for b in row] for row in answer] == [
        [(b["title"], b["payload"])] for b in expected[0]["buttons"]
    ]
    assert sent[-1].form()["text"] == "Was this helpful?"
    assert [[(b["text"], b["callback_data"]) for b in row] for row in prompt] == [
        [("Yes", '/feedback_yes{"answer":"helps.valium"}'), ("No", '/feedback_no{"answer":"helps.valium"}')]
    ]


def test_a_button_press_is_answered(messaging):
    chat_id = 700_000_002
    expected = messaging.servers.say("tg-expected-2", "/ask_withdrawal_symptoms")

    reply = post(
        messaging, button_press(chat_id, "/ask_withdrawal_symptoms"), messaging.env["TELEGRAM_WEBHOOK_SECRET"]
    )
    assert reply.status_code == 200, reply.text

    sent = messaging.platforms.settle(sent_to(chat_id))
    assert [r.form()["text"] for r in sent] == as_sent(prompt_as_buttons(expected))


def test_pressing_no_asks_what_they_were_looking_for(messaging):
    chat_id = 700_000_003
    secret = messaging.env["TELEGRAM_WEBHOOK_SECRET"]
    assert post(messaging, button_press(chat_id, "/ask_withdrawal_timeline"), secret).status_code == 200
    messaging.platforms.settle(sent_to(chat_id))
    before = len(messaging.platforms.matching(sent_to(chat_id)))

    no = '/feedback_no{"answer":"withdrawal_timeline"}'
    assert post(messaging, button_press(chat_id, no), secret).status_code == 200
    sent = messaging.platforms.settle(sent_to(chat_id))[before:]
    assert [r.form()["text"] for r in sent] == [FEEDBACK_NO_REPLY]


@pytest.mark.parametrize(
    "check", [check_an_over_long_message_is_cut, check_a_flood_is_limited], ids=["over-long", "flood"]
)
def test_the_guard_limits_telegram_messages(messaging, check):
    chat_id = 700_000_201 if check is check_a_flood_is_limited else 700_000_202
    secret = messaging.env["TELEGRAM_WEBHOOK_SECRET"]
    check(
        TELEGRAM,
        lambda text: post(messaging, update(chat_id, text), secret),
        lambda: [r.form()["text"] for r in messaging.platforms.settle(sent_to(chat_id))],
    )


@pytest.mark.parametrize(
    ("chat_id", "secret"), [(700_000_101, None), (700_000_102, ""), (700_000_103, "wrong")]
)
def test_an_update_without_the_secret_is_refused(messaging, chat_id, secret):
    reply = post(messaging, update(chat_id, "hello"), secret)
    assert reply.status_code == 403
    time.sleep(1)
    assert messaging.platforms.matching(sent_to(chat_id)) == []
