"""Slack: Rasa's connector (signed requests, Block Kit buttons), with up to 25 buttons and a
configurable Web API URL."""

from __future__ import annotations

from typing import Any

from rasa.core.channels import slack
from rasa.core.channels.channel import OutputChannel
from sanic import Blueprint
from slack_sdk.web.async_client import AsyncWebClient

from channels.guard import GuardedInput, OnNewMessage
from overrides.rasa_channels import post_to_slack

API_BASE_URL = AsyncWebClient.BASE_URL
# An actions block holds 25 elements. Rasa still applies the 5 of Slack's legacy attachments and,
# over that, drops every button (the topics menu has 7).
MAX_BUTTONS = 25


class SlackBot(slack.SlackBot):
    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        text_block = {"type": "section", "text": {"type": "plain_text", "text": text}}
        elements = [
            {"type": "button", "text": {"type": "plain_text", "text": b["title"]}, "value": b["payload"]}
            for b in buttons[:MAX_BUTTONS]
        ]
        await post_to_slack(
            self,
            self.slack_channel or recipient_id,
            as_user=True,
            text=text,
            blocks=[text_block, {"type": "actions", "elements": elements}],
        )


class SlackInput(GuardedInput, slack.SlackInput):
    """Credentials as Rasa's `slack` channel (slack_token, slack_signing_secret, ...), plus
    api_base_url (for a test double; https://slack.com/api/ if unset)."""

    extra_settings = ("api_base_url",)
    api_base_url: str = API_BASE_URL

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        return super().blueprint(self.guard.guarded(on_new_message, self.name()))

    def get_output_channel(self, channel: str | None = None, thread_id: str | None = None) -> OutputChannel:
        bot = SlackBot(self.slack_token, channel or self.slack_channel, thread_id, self.proxy)
        # slack_sdk appends the method name ("chat.postMessage") to this URL.
        base_url = self.api_base_url if self.api_base_url.endswith("/") else self.api_base_url + "/"
        bot.client = AsyncWebClient(self.slack_token, proxy=self.proxy, base_url=base_url)
        return bot
