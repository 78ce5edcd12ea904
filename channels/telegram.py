"""Telegram: Rasa's connector, with a configurable Bot API server and a webhook secret token."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from aiogram import Bot
from aiogram.bot.api import TelegramAPIServer
from aiogram.utils.exceptions import TelegramAPIError
from rasa.core.channels import telegram
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.guard import GuardedInput, OnNewMessage

logger = logging.getLogger(__name__)

API_BASE_URL = "https://api.telegram.org"
# Telegram sends the secret given to setWebhook in this header with every update.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class TelegramOutput(telegram.TelegramOutput):
    def __init__(
        self, access_token: str | None, api_base_url: str = API_BASE_URL, secret_token: str | None = None
    ) -> None:
        Bot.__init__(self, access_token, server=TelegramAPIServer.from_base(api_base_url))
        self.secret_token = secret_token

    async def set_webhook(self, url: str, *args: Any, **kwargs: Any) -> bool:
        # aiogram 2.15 predates setWebhook's secret_token parameter, so the call is made by hand.
        payload = {"url": url}
        if self.secret_token:
            payload["secret_token"] = self.secret_token
        return bool(await self.request("setWebhook", payload))

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        button_type: str | None = "vertical",
        **kwargs: Any,
    ) -> None:
        # One button per row: the titles are whole questions, which a single row would cut off.
        await super().send_text_with_buttons(recipient_id, text, buttons, button_type=button_type, **kwargs)


class TelegramInput(GuardedInput, telegram.TelegramInput):
    """Credentials: access_token, verify (the bot's username), webhook_url, secret_token, and
    api_base_url (for a local Bot API server or a test double; https://api.telegram.org if unset)."""

    extra_settings = ("api_base_url", "secret_token")
    api_base_url: str = API_BASE_URL
    secret_token: str | None = None

    def get_output_channel(self) -> TelegramOutput:
        channel = TelegramOutput(self.access_token, self.api_base_url, self.secret_token)

        async def register() -> None:
            try:
                await channel.set_webhook(self.webhook_url or "")
            finally:
                # The HTTP session belongs to this short-lived loop. Rasa's channel keeps it, and every
                # reply then fails with "Event loop is closed"; closed here, the server opens its own.
                await channel.close()

        try:
            asyncio.run(register())
        except TelegramAPIError as error:
            raise RasaException(f"Failed to set the Telegram webhook: {error}") from error
        return channel

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        if not self.secret_token:
            logger.warning("Telegram: no secret_token, so anyone who finds the webhook URL can post to it.")
        webhook = super().blueprint(self.guard.guarded(on_new_message, self.name()))

        @webhook.middleware("request")
        async def check_secret(request: Request) -> HTTPResponse | None:
            if request.method != "POST" or not self.secret_token:
                return None
            given = request.headers.get(SECRET_HEADER, "")
            if hmac.compare_digest(given.encode(), self.secret_token.encode()):
                return None
            logger.warning("Telegram: an update without the right secret token was refused.")
            return response.text("invalid secret token", status=403)

        return webhook
