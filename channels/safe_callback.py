"""Callback channel (/webhooks/callback/webhook) with the same input checks as the REST channel.
Replies are POSTed to the configured URL."""

from __future__ import annotations

from typing import Any

from rasa.core.channels.callback import CallbackInput
from rasa.core.channels.channel import InputChannel
from rasa.utils.endpoints import EndpointConfig
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.guard import Guard, OnNewMessage, decode_json, error, refused
from channels.inbound import BadRequest

GUARD_KEYS = ("max_message_chars", "messages_per_minute", "in_flight_per_sender")


class SafeCallbackInput(CallbackInput):
    @classmethod
    def name(cls) -> str:
        return "callback"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = credentials or {}
        endpoint = EndpointConfig.from_dict({k: v for k, v in credentials.items() if k not in GUARD_KEYS})
        return cls(endpoint, Guard.from_credentials(credentials))

    def __init__(self, endpoint: EndpointConfig, guard: Guard | None = None) -> None:
        super().__init__(endpoint)
        self.guard = guard or Guard()

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook = Blueprint("callback_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                inbound = self.guard.parse(decode_json(request))
            except BadRequest as bad:
                return error(bad.message, bad.status)
            refusal = await self.guard.run(inbound, self.get_output_channel(), on_new_message, self.name())
            return refused(refusal) if refusal else response.text("success")

        return webhook
