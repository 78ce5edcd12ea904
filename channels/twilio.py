"""Twilio SMS and WhatsApp: Rasa's connector with request signatures checked, buttons sent as numbered
lines that a reply of "1", "2", ... chooses, and a configurable API URL."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from rasa.core.channels import twilio
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import SlotSet
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator

from channels.guard import GuardedInput, OnNewMessage
from overrides.rasa_channels import TwilioOutputSeam

if TYPE_CHECKING:
    from rasa.core.agent import Agent
    from twilio.rest.api.v2010.account.message import MessageInstance

logger = logging.getLogger(__name__)

API_BASE_URL = "https://api.twilio.com"
WHATSAPP = "whatsapp:"
CHOICE = re.compile(r"[0-9]{1,2}")
# The domain's slot (domain.yml, under channels) that keeps the payloads last offered as numbered lines.
CHOICES_SLOT = "offered_choices"


def chosen(offered: list[str] | None, text: str) -> str:
    """The payload a reply like "2" chose from the offered ones, or the text itself."""
    choice = text.strip()
    if offered and CHOICE.fullmatch(choice) and 1 <= int(choice) <= len(offered):
        return offered[int(choice) - 1]
    return text


class ConversationSlot:
    """One slot of one conversation, read and written by the channel between the assistant's turns."""

    def __init__(self, agent: Agent, sender_id: str, name: str) -> None:
        self.agent, self.sender_id, self.name = agent, sender_id, name

    async def get(self) -> Any:
        tracker = await self.agent.tracker_store.retrieve(self.sender_id)
        return tracker.get_slot(self.name) if tracker else None

    async def set(self, value: Any) -> None:
        async with self.agent.lock_store.lock(self.sender_id):
            tracker = await self.agent.tracker_store.retrieve(self.sender_id)
            if tracker is not None:
                tracker.update(SlotSet(self.name, value))
                await self.agent.tracker_store.save(tracker)


def whatsapp_address(number: str) -> str:
    return number if number.startswith(WHATSAPP) else WHATSAPP + number


class TwilioOutput(TwilioOutputSeam):
    # No "Was this helpful?" after answers (channels/feedback.py): in an SMS it would read as one
    # more question to answer.
    asks_for_feedback = False

    def __init__(
        self,
        account_sid: str | None,
        auth_token: str | None,
        twilio_number: str | None,
        whatsapp_number: str | None = None,
        api_base_url: str = API_BASE_URL,
    ) -> None:
        super().__init__(account_sid, auth_token, twilio_number)
        self.whatsapp_number = whatsapp_number
        self.api_base_url = api_base_url
        # The payloads of the buttons sent as numbered lines through this output, if any.
        self.offered: list[str] | None = None

    def get_hostname(self, uri: str) -> str:
        base = urlsplit(self.api_base_url)
        url = urlsplit(super().get_hostname(uri))
        return urlunsplit(
            url._replace(scheme=base.scheme, netloc=base.netloc, path=base.path.rstrip("/") + url.path)
        )

    async def send_message_data(self, message_data: dict[str, Any]) -> MessageInstance:
        # A WhatsApp conversation is answered from the WhatsApp sender, an SMS one from the number.
        if str(message_data.get("to", "")).startswith(WHATSAPP):
            sender = self.whatsapp_number or self.twilio_number or ""
            message_data = {**message_data, "from_": whatsapp_address(sender)}
        return await super().send_message_data(message_data)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        # SMS has no buttons (and Twilio's WhatsApp buttons need pre-approved templates): numbered lines,
        # in the same message as the text they belong to.
        lines = "\n".join(f"{number}. {button['title']}" for number, button in enumerate(buttons, 1))
        await self.send_text_message(recipient_id, f"{text.strip()}\n{lines}")
        self.offered = [button["payload"] for button in buttons]


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
        webhook = Blueprint("twilio_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def message(request: Request) -> HTTPResponse:
            sender, text = request.form.get("From"), request.form.get("Body")
            if not sender or text is None:
                logger.info("Twilio: a request without From or Body was ignored.")
                return response.text("", status=204)
            output = self.get_output_channel()
            # The numbered choices live in the conversation, so "2" works on whichever server gets it.
            choices = ConversationSlot(request.app.ctx.agent, sender, CHOICES_SLOT)

            async def with_choices(message: UserMessage) -> None:
                offered = await choices.get()
                message.text = chosen(offered, message.text or "")
                await on_new_message(message)
                if output.offered != offered:
                    await choices.set(output.offered)

            # Some carriers turn "@" into "¡"; turned back, as Rasa's own channel does.
            text = text.replace("¡", "@")
            payload = {"sender": sender, "message": text, "metadata": self.get_metadata(request)}
            await self.guard.tell(payload, output, with_choices, self.name())
            return response.text("", status=204)

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

    def get_output_channel(self) -> TwilioOutput:
        return TwilioOutput(
            self.account_sid, self.auth_token, self.twilio_number, self.whatsapp_number, self.api_base_url
        )
