"""The "Was this helpful?" prompt: once after each curated answer, in each channel's own form, never after
another reply (channels/feedback.py, through the guard's output in channels/guard.py)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel
from rasa.core.channels.socketio import SocketIOOutput

from channels.guard import CountingOutput
from channels.twilio import TwilioOutput


def prompt_for(name: str) -> dict[str, Any]:
    """The prompt as the contract of issue 10 writes it, with the answer's language."""
    return {
        "answer": name,
        "language": "en",
        "prompt": "Was this helpful?",
        "yes": {"title": "Yes", "payload": f'/feedback_yes{{"answer":"{name}"}}'},
        "no": {"title": "No", "payload": f'/feedback_no{{"answer":"{name}"}}'},
    }


PROMPT = prompt_for("helps.valium")
VALIUM = {"text": "Valium may ease...", "answer": "helps.valium"}


def bot_message(text: str, **metadata: Any) -> dict[str, Any]:
    """A bot message as Rasa's processor hands it to an output channel (BotUttered.message())."""
    return {"text": text, "buttons": None, "custom": None, "timestamp": 1.0, **metadata}


class Platform(OutputChannel):
    """An output channel with buttons, as Telegram's, Slack's and Messenger's are."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[dict[str, Any]] | None, dict[str, Any]]] = []

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self.sent.append((text, None, kwargs))

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        self.sent.append((text, buttons, kwargs))


class FakeSocketIO:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, Any, str]] = []

    async def emit(self, event: str, data: Any, room: str) -> None:
        self.emitted.append((event, data, room))


async def test_rest_gets_one_more_element_after_a_medication_answer():
    rest = CollectingOutputChannel()
    output = CountingOutput(rest)
    await output.send_response("me", bot_message(**VALIUM))
    assert len(rest.messages) == 1, "the prompt waits for the turn's last reply"
    disclaimer = bot_message("I'm an automated assistant...", utter_action="utter_disclaimer")
    await output.send_response("me", disclaimer)
    await output.finish()
    assert rest.messages[2:] == [{"recipient_id": "me", "feedback": PROMPT}]
    assert output.sent == 2


async def test_the_widget_gets_the_same_object_as_a_bot_message():
    sio = FakeSocketIO()
    output = CountingOutput(SocketIOOutput(sio, "bot_uttered"))
    await output.send_response(
        "room-1",
        bot_message("Withdrawal affects...\n\nSources: ...", utter_action="utter_withdrawal_symptoms"),
    )
    await output.finish()
    assert [data for _, data, _ in sio.emitted] == [
        {"text": "Withdrawal affects..."},
        {"text": "Sources: ..."},
        {"feedback": prompt_for("withdrawal_symptoms")},
        {"language": "en"},  # last: the language the turn ended in, for the widget's own words
    ]
    assert {room for _, _, room in sio.emitted} == {"room-1"}


async def test_the_widget_is_told_the_language_each_turn_ends_in():
    sio = FakeSocketIO()
    output = CountingOutput(SocketIOOutput(sio, "bot_uttered"))
    await output.send_response("room-1", bot_message("Hola", utter_action="utter_greet", language="es"))
    await output.finish()
    await output.finish()  # a turn without replies tells nothing
    assert [data for _, data, _ in sio.emitted] == [{"text": "Hola"}, {"language": "es"}]
    # The other channels are not told: REST and the platforms have no words of their own to switch.
    rest = CollectingOutputChannel()
    output = CountingOutput(rest)
    await output.send_response("me", bot_message("Hola", utter_action="utter_greet", language="es"))
    await output.finish()
    assert [m.get("text") for m in rest.messages] == ["Hola"]


async def test_messaging_platforms_get_quick_reply_buttons_and_sms_nothing():
    platform = Platform()
    output = CountingOutput(platform)
    await output.send_response("chat", bot_message(**VALIUM))
    await output.finish()
    assert platform.sent[1] == ("Was this helpful?", [PROMPT["yes"], PROMPT["no"]], {"button_type": "inline"})

    sms = TwilioOutput("AC0", "token", "+15550100001")
    sent: list[str] = []

    async def send_text_message(recipient_id: str, text: str, **kwargs: Any) -> None:
        sent.append(text)

    sms.send_text_message = send_text_message
    output = CountingOutput(sms)
    await output.send_response("+15550100009", bot_message(**VALIUM))
    await output.finish()
    assert sent == [VALIUM["text"]]


@pytest.mark.parametrize(
    "metadata",
    [
        {"utter_action": "utter_crisis"},
        {"utter_action": "utter_dosing"},
        {"utter_action": "utter_default"},
        {"utter_action": "utter_find_help"},
        {"utter_action": "utter_help_menu"},
        {"utter_action": "utter_greet_disclaimer"},
        {"utter_action": "utter_disclaimer"},
        {"utter_action": "utter_crisis_footer"},
        {"utter_action": "utter_feedback_no"},
        {},  # "which medicine do you mean?", "did you mean ...?"
    ],
)
async def test_no_prompt_after_any_other_reply(metadata):
    rest = CollectingOutputChannel()
    output = CountingOutput(rest)
    await output.send_response("me", bot_message("...", **metadata))
    await output.finish()
    assert len(rest.messages) == 1 and "feedback" not in rest.messages[0]


@pytest.mark.parametrize(
    "metadata",
    [
        {"answer": "helps.valium", "language": "es"},  # an action's answer (actions/medication.py)
        {
            "utter_action": "utter_withdrawal_symptoms",
            "condition": [{"type": "slot", "name": "language", "value": "es"}],
        },
    ],
)
async def test_a_spanish_answer_gets_the_prompt_in_spanish(metadata):
    rest = CollectingOutputChannel()
    output = CountingOutput(rest)
    await output.send_response("u1", bot_message("...", **metadata))
    await output.finish()
    feedback = rest.messages[-1]["feedback"]
    assert (feedback["language"], feedback["prompt"]) == ("es", "¿Le sirvió esta respuesta?")
    assert (feedback["yes"]["title"], feedback["no"]["title"]) == ("Sí", "No")
    assert feedback["yes"]["payload"].startswith("/feedback_yes")
