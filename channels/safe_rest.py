"""REST channel (/webhooks/rest/webhook) that answers malformed or hostile input with a clear 4xx."""

from __future__ import annotations

import inspect
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.guard import Guard, OnNewMessage, decode_json, error, refused
from channels.inbound import BadRequest


class SafeRestInput(RestInput):
    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(Guard.from_credentials(credentials))

    def __init__(self, guard: Guard | None = None) -> None:
        self.guard = guard or Guard()

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", inspect.getmodule(self).__name__)  # type: ignore[union-attr]

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                inbound = self.guard.parse(decode_json(request))
            except BadRequest as bad:
                return error(bad.message, bad.status)
            collector = CollectingOutputChannel()
            refusal = await self.guard.run(inbound, collector, on_new_message, self.name())
            return refused(refusal) if refusal else response.json(collector.messages)

        return webhook
