"""socket.io channel (the website widget) with the same checks as the REST channel: malformed events
are answered with an `invalid_message` event, never dropped silently or crashing the handler."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from rasa.core.channels.channel import decode_bearer_token
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint

from channels.guard import GuardedInput, OnNewMessage
from channels.inbound import BadRequest, check_sender

logger = logging.getLogger(__name__)


def allowed_origins() -> set[str]:
    """Web pages that may open the socket (WIDGET_ORIGIN, space-separated); empty: any page."""
    return set(os.environ.get("WIDGET_ORIGIN", "").split())


class SafeSocketIOInput(GuardedInput, SocketIOInput):
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
            output = SocketIOOutput(sio, self.bot_message_evt)
            refusal = await self.guard.handle(payload, output, on_new_message, self.name())
            if refusal and refusal.status == 400:
                await reject(sid, refusal)
            elif refusal:
                # To this socket's own room: a refusal is for the page that sent the message.
                await output.send_text_message(sid, refusal.message)

        return webhook
