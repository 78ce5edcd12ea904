"""socket.io channel (the website widget) with the same checks as the REST channel: malformed events
are answered with an `invalid_message` event, never dropped silently or crashing the handler."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from rasa.core.channels.channel import InputChannel, decode_bearer_token
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint

from channels.guard import Guard, OnNewMessage
from channels.inbound import BadRequest, check_sender

logger = logging.getLogger(__name__)


def allowed_origins() -> set[str]:
    """Web pages that may open the socket (WIDGET_ORIGIN, space-separated); empty: any page."""
    return set(os.environ.get("WIDGET_ORIGIN", "").split())


GUARD_KEYS = ("max_message_chars", "messages_per_minute", "in_flight_per_sender")


class SafeSocketIOInput(SocketIOInput):
    @classmethod
    def name(cls) -> str:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = credentials or {}
        channel = super().from_credentials({k: v for k, v in credentials.items() if k not in GUARD_KEYS})
        channel.guard = Guard.from_credentials(credentials)
        return channel

    guard: Guard = Guard()

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook = super().blueprint(on_new_message)
        sio = self.sio

        async def reject(sid: str, reason: BadRequest) -> None:
            await sio.emit("invalid_message", {"error": reason.message, "status": reason.status}, room=sid)

        # Replaces Rasa's handlers for these events (python-socketio keeps one handler per event).
        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: str, environ: dict, auth: dict | None = None) -> bool:
            # Rasa turns engine.io's own origin check off (cors_allowed_origins=[]), and --cors only
            # covers HTTP polling, so a WebSocket from any page would be accepted.
            origin = environ.get("HTTP_ORIGIN")
            allowed = allowed_origins()
            if origin and allowed and origin not in allowed:
                logger.warning("socket.io connection from a page not in WIDGET_ORIGIN was refused.")
                return False
            if self.jwt_key:
                token = (auth or {}).get("token")
                return bool(token and decode_bearer_token(token, self.jwt_key, self.jwt_algorithm))
            return True

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any) -> None:
            import uuid

            if isinstance(data, str):
                try:
                    data = json.loads(data)
                except json.JSONDecodeError:
                    data = None
            session_id = data.get("session_id") if isinstance(data, dict) else None
            try:
                session_id = check_sender(session_id) if session_id else uuid.uuid4().hex
            except BadRequest as bad:
                await reject(sid, bad)
                return
            if self.session_persistence:
                # Awaited: python-socketio 5.x made enter_room a coroutine, which Rasa's own handler
                # does not await, so with session persistence its replies never reached the page.
                await sio.enter_room(sid, session_id)
            await sio.emit("session_confirm", session_id, room=sid)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any) -> None:
            if isinstance(data, dict):
                sender = data.get("session_id") if self.session_persistence else sid
                payload = {
                    "sender": sender,
                    "message": data.get("message"),
                    "metadata": data.get(self.metadata_key),
                }
            else:
                payload = data
            try:
                inbound = self.guard.parse(payload)
            except BadRequest as bad:
                await reject(sid, bad)
                return
            output = SocketIOOutput(sio, self.bot_message_evt)
            refusal = await self.guard.run(inbound, output, on_new_message, self.name())
            if refusal:
                await output.send_text_message(inbound.sender, refusal.message)

        return webhook
