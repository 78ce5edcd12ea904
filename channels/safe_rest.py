"""REST channel (/webhooks/rest/webhook): replies in the HTTP response, malformed or hostile input
answered with a clear 4xx."""

from __future__ import annotations

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.response import HTTPResponse

from channels.guard import GuardedInput, OnNewMessage, json_webhook


def collected(output: OutputChannel) -> HTTPResponse:
    assert isinstance(output, CollectingOutputChannel)
    return response.json(output.messages)


class SafeRestInput(GuardedInput, RestInput):
    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        return json_webhook(self, on_new_message, CollectingOutputChannel, collected)
