"""Facebook Messenger: Rasa's connector with buttons sent as quick replies, a stricter signature check
(X-Hub-Signature-256, constant-time) and a configurable Graph API URL."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from typing import Any

from fbmessenger import MessengerClient
from rasa.core.channels import facebook
from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.guard import GuardedInput, OnNewMessage
from overrides.rasa_channels import MessengerSeam

logger = logging.getLogger(__name__)
# Messenger cuts quick-reply titles after 20 characters and allows 13 quick replies.
TITLE_CHARS = 20
MAX_QUICK_REPLIES = 13
# The strongest signature Meta sends decides; a weaker one is not tried when a stronger one is present.
SIGNATURE_HEADERS = (("X-Hub-Signature-256", "sha256"), ("X-Hub-Signature", "sha1"))


def quick_reply_title(title: str) -> str:
    """The title cut at a word boundary, so Messenger does not cut it mid-word."""
    if len(title) <= TITLE_CHARS:
        return title
    cut = title[: TITLE_CHARS - 1]
    if title[TITLE_CHARS - 1] != " " and " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-") + "…"


def signature_valid(app_secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    if not app_secret:
        return False
    for header, method in SIGNATURE_HEADERS:
        given = headers.get(header)
        if given:
            expected = f"{method}={hmac.new(app_secret.encode(), body, getattr(hashlib, method)).hexdigest()}"
            return hmac.compare_digest(given.encode(), expected.encode())
    return False


def as_quick_replies(text: str, buttons: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The text and quick replies for a message with buttons. Titles that fit are used as they are;
    when one does not, the full questions are listed as numbered lines under the text, and each quick
    reply starts with its number, so no question is known only by its cut-off first words."""
    buttons = buttons[:MAX_QUICK_REPLIES]
    titles = [str(b["title"]) for b in buttons]
    if any(len(title) > TITLE_CHARS for title in titles):
        text = text.rstrip() + "\n" + "\n".join(f"{n}. {title}" for n, title in enumerate(titles, 1))
        titles = [f"{n}. {title}" for n, title in enumerate(titles, 1)]
    quick_replies = [
        {"content_type": "text", "title": quick_reply_title(title), "payload": b["payload"]}
        for title, b in zip(titles, buttons, strict=True)
    ]
    return text, quick_replies


class MessengerBot(facebook.MessengerBot):
    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        # Rasa sends a button template, which takes 3 buttons at most and drops them all beyond that;
        # quick replies take 13 and are Messenger's own reply suggestions.
        text, quick_replies = as_quick_replies(text, buttons)
        await self.send_quick_replies(recipient_id, text, quick_replies)


class Messenger(MessengerSeam):
    def __init__(self, page_access_token: str, on_new_message: OnNewMessage, graph_url: str | None) -> None:
        super().__init__(page_access_token, on_new_message)
        if graph_url:
            self.client.graph_url = graph_url

    async def handle_user_message(self, text: str, sender_id: str, metadata: dict[str, Any] | None) -> None:
        # As Rasa's, with this module's MessengerBot.
        out_channel = MessengerBot(self.client)
        await out_channel.send_action(sender_id, sender_action="mark_seen")
        message = UserMessage(text, out_channel, sender_id, input_channel=self.name(), metadata=metadata)
        await out_channel.send_action(sender_id, sender_action="typing_on")
        try:
            await self.on_new_message(message)
        except Exception:
            logger.exception("Exception when trying to handle webhook for facebook message.")
        finally:
            await out_channel.send_action(sender_id, sender_action="typing_off")


class FacebookInput(GuardedInput, facebook.FacebookInput):
    """Credentials as Rasa's `facebook` channel (verify, secret, page-access-token), plus
    graph_url (for a test double; fbmessenger's Graph API URL if unset)."""

    extra_settings = ("graph_url",)
    graph_url: str | None = None

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook = Blueprint("fb_webhook", __name__)
        guarded = self.guard.guarded(on_new_message, self.name())

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["GET"])
        async def token_verification(request: Request) -> HTTPResponse:
            given = request.args.get("hub.verify_token") or ""
            if self.fb_verify and hmac.compare_digest(given.encode(), self.fb_verify.encode()):
                return response.text(request.args.get("hub.challenge") or "")
            logger.warning("Facebook: wrong verify token; it must match the one set for the webhook.")
            return response.text("failure, invalid token", status=403)

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not signature_valid(self.fb_secret, request.body, request.headers):
                logger.warning("Facebook: request signature invalid; check the app secret.")
                return response.text("not validated", status=403)
            messenger = Messenger(self.fb_access_token, guarded, self.graph_url)
            await messenger.handle(request.json, self.get_metadata(request))
            return response.text("success")

        return webhook

    def get_output_channel(self) -> OutputChannel:
        client = MessengerClient(self.fb_access_token)
        if self.graph_url:
            client.graph_url = self.graph_url
        return MessengerBot(client)
