"""The "Was this helpful?" prompt that follows every curated answer, in each channel's own form.

The guard's output (channels/guard.py) sends it once per curated answer (storage.record.answer_name),
after the last reply to the message (after the crisis help line and the disclaimer). The website
widget (socket.io) and the REST and callback channels get one message of its own,
`{"feedback": {...}}`, which the widget draws as a small Yes / No control; Telegram, Slack and
Messenger get the prompt with two quick-reply buttons; SMS (Twilio) gets nothing, since numbered
lines for it would read as another question.
"""

from __future__ import annotations

import json
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel
from rasa.core.channels.socketio import SocketIOOutput

from channels.inbound import notice
from content import variation_language
from overrides.rasa_channels import collect, emit_bot_message
from storage.record import FEEDBACK_NO, FEEDBACK_YES


def payload(intent: str, answer: str) -> str:
    return f"/{intent}{json.dumps({'answer': answer}, separators=(',', ':'))}"


def message_language(message: dict[str, Any]) -> str:
    """The language a bot message is written in: a domain.yml variation's `language` condition, or
    the `language` an action gave it (actions/medication.py); English otherwise."""
    given = message.get("language")
    if isinstance(given, str):
        return given
    return variation_language(message) or "en"


def prompt(answer: str, language: str = "en") -> dict[str, Any]:
    """The prompt as the widget and the JSON channels get it, in the answer's language."""
    return {
        "answer": answer,
        "language": language,
        "prompt": notice("feedback_prompt", language=language),
        "yes": {"title": notice("feedback_yes", language=language), "payload": payload(FEEDBACK_YES, answer)},
        "no": {"title": notice("feedback_no", language=language), "payload": payload(FEEDBACK_NO, answer)},
    }


async def send_language(output: OutputChannel, recipient_id: str, language: str) -> None:
    """Tells the widget the language the assistant went on in, as one more `bot_uttered` event
    without text, `{"language": "es"}`, at the end of each turn: its own words (the input, the buttons,
    "Get help now") follow the conversation when a person writes in Spanish or asks for "español",
    not only when they press its English / Español switch. Only the widget's channel gets it."""
    if isinstance(output, SocketIOOutput):
        await emit_bot_message(output, recipient_id, {"language": language})


async def send_prompt(output: OutputChannel, recipient_id: str, answer: str, language: str = "en") -> None:
    """Sends the prompt for `answer` through `output`, in the form its channel takes."""
    if not getattr(output, "asks_for_feedback", True):
        return
    message = prompt(answer, language)
    if isinstance(output, CollectingOutputChannel):  # REST, callback: one more element / POST
        await collect(output, {"recipient_id": recipient_id, "feedback": message})
    elif isinstance(output, SocketIOOutput):  # the widget: one more `bot_uttered` event
        await emit_bot_message(output, recipient_id, {"feedback": message})
    else:  # the messaging platforms' own quick replies; Telegram puts both on one row
        buttons = [message["yes"], message["no"]]
        await output.send_text_with_buttons(recipient_id, message["prompt"], buttons, button_type="inline")
