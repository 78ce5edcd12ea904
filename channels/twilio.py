"""Twilio SMS and WhatsApp: Rasa's connector with request signatures checked, buttons sent as numbered
lines that a reply of "1", "2", ... chooses, and a configurable API URL."""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from rasa.core.channels import twilio
from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator

from channels.guard import GuardedInput, OnNewMessage

if TYPE_CHECKING:
    from twilio.rest.api.v2010.account.message import MessageInstance

logger = logging.getLogger(__name__)

API_BASE_URL = "https://api.twilio.com"
WHATSAPP = "whatsapp:"
CHOICE = re.compile(r"[0-9]{1,2}")


class OfferedChoices:
    """The buttons last offered to each sender, valid for that sender's next message only.

    Kept in this process's memory (bounded): after a restart a bare number is read as text.
    """

    def __init__(self, max_senders: int = 10_000) -> None:
        self.max_senders = max_senders
        self._payloads: OrderedDict[str, list[str]] = OrderedDict()

    def offer(self, sender: str, payloads: list[str]) -> None:
        self._payloads.pop(sender, None)
        self._payloads[sender] = payloads
        while len(self._payloads) > self.max_senders:
            self._payloads.popitem(last=False)

    def resolve(self, sender: str, text: str) -> str:
        """The payload a reply like "2" chose, or the text itself; the offer is used up either way."""
        payloads = self._payloads.pop(sender, [])
        choice = text.strip()
        if CHOICE.fullmatch(choice) and 1 <= int(choice) <= len(payloads):
            return payloads[int(choice) - 1]
        return text


def whatsapp_address(number: str) -> str:
    return number if number.startswith(WHATSAPP) else WHATSAPP + number


class TwilioOutput(twilio.TwilioOutput):
    def __init__(
        self,
        account_sid: str | None,
        auth_token: str | None,
        twilio_number: str | None,
        whatsapp_number: str | None = None,
        api_base_url: str = API_BASE_URL,
        choices: OfferedChoices | None = None,
    ) -> None:
        super().__init__(account_sid, auth_token, twilio_number)
        self.whatsapp_number = whatsapp_number
        self.api_base_url = api_base_url
        self.choices = choices if choices is not None else OfferedChoices()

    def get_hostname(self, uri: str) -> str:
        base = urlsplit(self.api_base_url)
        url = urlsplit(super().get_hostname(uri))
        return urlunsplit(
            url._replace(scheme=base.scheme, netloc=base.netloc, path=base.path.rstrip("/") + url.path)
        )

    async def _send_message(self, message_data: dict[str, Any]) -> MessageInstance:
        # A WhatsApp conversation is answered from the WhatsApp sender, an SMS one from the number.
        if str(message_data.get("to", "")).startswith(WHATSAPP):
            sender = self.whatsapp_number or self.twilio_number or ""
            message_data = {**message_data, "from_": whatsapp_address(sender)}
        return await super()._send_message(message_data)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        # SMS has no buttons (and Twilio's WhatsApp buttons need pre-approved templates): numbered lines,
        # in the same message as the text they belong to.
        lines = "\n".join(f"{number}. {button['title']}" for number, button in enumerate(buttons, 1))
        await self.send_text_message(recipient_id, f"{text.strip()}\n{lines}")
        self.choices.offer(recipient_id, [button["payload"] for button in buttons])


class TwilioInput(GuardedInput, twilio.TwilioInput):
    """Credentials as Rasa's `twilio` channel (account_sid, auth_token, twilio_number), plus
    whatsapp_number (the WhatsApp sender, if not twilio_number), webhook_url (the URL set in Twilio's
    console, which signatures are computed over) and api_base_url (for a test double)."""

    extra_settings = ("whatsapp_number", "webhook_url", "api_base_url")
    whatsapp_number: str | None = None
    webhook_url: str | None = None
    api_base_url: str = API_BASE_URL

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        if not self.webhook_url:
            logger.warning("Twilio: no webhook_url, so request signatures are not checked.")
        self.choices = OfferedChoices()

        async def with_choices(message: UserMessage) -> Any:
            message.text = self.choices.resolve(str(message.sender_id), message.text or "")
            return await on_new_message(message)

        webhook = super().blueprint(self.guard.guarded(with_choices, self.name()))

        @webhook.middleware("request")
        async def check_signature(request: Request) -> HTTPResponse | None:
            # Rasa checks nothing: without this anyone could make the bot send SMS to any number.
            if request.method != "POST" or not self.webhook_url:
                return None
            validator = RequestValidator(self.auth_token or "")
            if validator.validate(
                self.webhook_url, request.form, request.headers.get("X-Twilio-Signature", "")
            ):
                return None
            logger.warning("Twilio: request signature invalid; check auth_token and webhook_url.")
            return response.text("invalid signature", status=403)

        return webhook

    def get_output_channel(self) -> OutputChannel:
        return TwilioOutput(
            self.account_sid,
            self.auth_token,
            self.twilio_number,
            self.whatsapp_number,
            self.api_base_url,
            self.choices,
        )
