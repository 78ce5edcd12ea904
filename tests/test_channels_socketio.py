"""The socket.io channel with a real python-socketio client, as the website widget uses it:
connect, session_request, user_uttered, and bot_uttered replies with buttons as quick replies."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import socketio
from channel_harness import FEEDBACK_NO_REPLY

pytestmark = pytest.mark.server


class Chat:
    """One socket.io connection; replies are collected until none has come for `quiet` seconds."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue = asyncio.Queue()
        self.client.on("session_confirm", lambda data: self.events.put_nowait(("session_confirm", data)))
        self.client.on("bot_uttered", lambda data: self.events.put_nowait(("bot_uttered", data)))

    async def __aenter__(self) -> Chat:
        # Long-polling: python-engineio's asyncio websocket transport needs aiohttp >= 3.10, and Rasa 3.6
        # pins aiohttp below that. The server handles both transports with the same handlers.
        await self.client.connect(
            self.url, socketio_path="/socket.io", transports=["polling"], wait_timeout=30
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        # A plain disconnect() waits for the pending long-poll to return: up to the server's 25 s ping
        # interval. Aborting closes the client's HTTP session, which ends that request at once.
        reader = self.client.eio.read_loop_task
        await self.client.eio.disconnect(abort=True)
        if reader is not None:
            await asyncio.wait_for(reader, 10)

    async def start_session(self, session_id: str) -> None:
        await self.client.emit("session_request", {"session_id": session_id})
        assert await asyncio.wait_for(self.events.get(), 30) == ("session_confirm", session_id)

    async def say(self, session_id: str, text: str, quiet: float = 2.0) -> list[dict]:
        await self.client.emit("user_uttered", {"session_id": session_id, "message": text})
        replies = [await asyncio.wait_for(self.events.get(), 60)]
        for _ in range(50):
            try:
                replies.append(await asyncio.wait_for(self.events.get(), quiet))
            except asyncio.TimeoutError:
                break
        assert all(kind == "bot_uttered" for kind, _ in replies), replies
        return [data for _, data in replies]


def as_emitted(expected: list[dict]) -> list[dict]:
    """What Rasa's socket.io output emits for REST replies: parts split at blank lines, the buttons as
    quick replies on the last part of their message."""
    emitted = []
    for message in expected:
        if "feedback" in message:  # "Was this helpful?": the same object, for the widget to draw
            emitted.append({"feedback": message["feedback"]})
            continue
        parts = [{"text": part} for part in message["text"].strip().split("\n\n")]
        if message.get("buttons"):
            parts = [{**part, "quick_replies": []} for part in parts]
            parts[-1]["quick_replies"] = [
                {"content_type": "text", "title": b["title"], "payload": b["payload"]}
                for b in message["buttons"]
            ]
        emitted += parts
    # Last, the language the turn ended in, for the widget's own words (channels/feedback.py).
    return [*emitted, {"language": "en"}] if emitted else emitted


async def test_a_conversation_with_buttons(messaging):
    session = f"sio-{uuid.uuid4().hex}"
    expected_greeting = messaging.servers.say(f"{session}-rest", "hello")
    expected_answer = messaging.servers.say(f"{session}-rest", expected_greeting[-1]["buttons"][0]["payload"])

    async with Chat(messaging.rasa_url) as chat:
        await chat.start_session(session)
        greeting = await chat.say(session, "hello")
        assert greeting == as_emitted(expected_greeting)
        assert greeting[-1] == {"language": "en"}, "a turn ends with its language, for the widget"
        assert greeting[-2]["quick_replies"], "the greeting offers questions"

        # Pressing a button sends its payload, as the widget does.
        answer = await chat.say(session, greeting[-2]["quick_replies"][0]["payload"])
        assert answer == as_emitted(expected_answer)
        # A curated answer is followed by one message without text: the "Was this helpful?" control.
        assert answer[-2] == {
            "feedback": {
                "answer": "helps.valium",
                "language": "en",
                "prompt": "Was this helpful?",
                "yes": {"title": "Yes", "payload": '/feedback_yes{"answer":"helps.valium"}'},
                "no": {"title": "No", "payload": '/feedback_no{"answer":"helps.valium"}'},
            }
        }
        assert sum("feedback" in m for m in answer) == 1

        # "No" asks what they were looking for, and is itself followed by no prompt.
        thanks = await chat.say(session, answer[-2]["feedback"]["no"]["payload"])
        assert thanks == [{"text": FEEDBACK_NO_REPLY}, {"language": "en"}]


async def test_a_reconnected_page_continues_its_conversation(messaging):
    """With session_persistence a reload (new socket, same session_id) keeps the conversation, and
    the replies reach the new socket."""
    session = f"sio-{uuid.uuid4().hex}"
    rest = f"{session}-rest"
    messaging.servers.say(rest, "does valium help with opioid withdrawal")
    expected = messaging.servers.say(rest, "what are its risks?")
    assert "Valium" in expected[0]["text"], "the follow-up depends on the conversation"

    async with Chat(messaging.rasa_url) as chat:
        await chat.start_session(session)
        await chat.say(session, "does valium help with opioid withdrawal")
    async with Chat(messaging.rasa_url) as chat:
        await chat.start_session(session)
        assert await chat.say(session, "what are its risks?") == as_emitted(expected)
