"""Callback channel (/webhooks/callback/webhook): the REST channel's input, with replies POSTed to the
configured URL."""

from __future__ import annotations

from rasa.core.channels.callback import CallbackInput
from sanic import Blueprint, response

from channels.guard import GuardedInput, OnNewMessage, json_webhook


class SafeCallbackInput(GuardedInput, CallbackInput):
    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        return json_webhook(self, on_new_message, self.get_output_channel, lambda _: response.text("success"))
