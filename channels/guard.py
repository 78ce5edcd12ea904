"""The one guard every channel's messages pass: check the message, limit its sender, run the assistant,
and make sure the person always gets an answer or a clear error."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse

from channels import feedback
from channels.inbound import MAX_MESSAGE_CHARS, BadRequest, Inbound, SenderLimiter, check_message, notice
from insights import metrics
from storage.record import answer_name
from storage.tracker_store import ConversationStoreUnavailable

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
# The guard's settings in a channel's entry of the credentials file.
GUARD_KEYS = ("max_message_chars", "messages_per_minute", "in_flight_per_sender")


def refused(reason: BadRequest) -> HTTPResponse:
    return response.json({"error": reason.message}, status=reason.status)


def decode_json(request: Request) -> Any:
    if not request.body:
        raise BadRequest('The body is empty: send a JSON object {"sender": "...", "message": "..."}.')
    try:
        return json.loads(request.body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"The body is not valid JSON ({exc.__class__.__name__}).") from exc


class Guard:
    """One channel's limits and the code path every message of that channel takes."""

    def __init__(
        self,
        max_message_chars: int = MAX_MESSAGE_CHARS,
        messages_per_minute: int = 30,
        in_flight_per_sender: int = 2,
    ) -> None:
        self.max_message_chars = int(max_message_chars)
        self.limiter = SenderLimiter(per_minute=int(messages_per_minute), in_flight=int(in_flight_per_sender))

    @classmethod
    def split(cls, credentials: Mapping[str, Any] | None) -> tuple[Guard, dict[str, Any]]:
        """The guard a channel's credentials entry sets up, and the entry's other settings."""
        settings = dict(credentials or {})
        return cls(**{key: settings.pop(key) for key in GUARD_KEYS if key in settings}), settings

    async def handle(
        self, payload: Any, output: OutputChannel, on_new_message: OnNewMessage, channel: str
    ) -> BadRequest | None:
        """Runs the assistant on one {"sender", "message", "metadata"?} message; returns why it was
        refused, or None when it was answered. Every outcome is counted (insights/metrics.py)."""
        arrived = time.perf_counter()
        try:
            inbound = check_message(payload, self.max_message_chars)
        except BadRequest as bad:
            metrics.refused(metrics.BAD_REQUEST, bad.status, channel)
            return bad
        why_not = self.limiter.admit(inbound.sender)
        if why_not is not None:
            metrics.refused(why_not, 429, channel)
            return BadRequest(notice("rate_limited"), 429)
        metrics.accepted(channel)
        try:
            return await self._run(inbound, output, on_new_message, channel)
        finally:
            metrics.finished(channel, time.perf_counter() - arrived)

    async def tell(
        self, payload: dict[str, Any], output: OutputChannel, on_new_message: OnNewMessage, channel: str
    ) -> None:
        """`handle` for a messaging platform: a refusal goes to the person as a message. The platform's
        request is answered as usual, since an error status makes it deliver the message again."""
        refusal = await self.handle(payload, output, on_new_message, channel)
        if refusal is None:
            return
        if refusal.status == 400:
            # Nothing the person typed can be answered (a sticker, a photo without text).
            logger.info("A message on '%s' was not answered: %s", channel, refusal.message)
            return
        await output.send_text_message(str(payload["sender"]), refusal.message)

    def guarded(self, on_new_message: OnNewMessage, channel: str) -> OnNewMessage:
        """`on_new_message` for a Rasa connector: each of its messages goes through `tell`."""

        async def guarded_message(message: UserMessage) -> None:
            sender, metadata = str(message.sender_id), message.metadata
            payload = {"sender": sender, "message": message.text, "metadata": metadata}
            await self.tell(payload, message.output_channel, on_new_message, channel)

        return guarded_message

    async def _run(
        self, inbound: Inbound, output: OutputChannel, on_new_message: OnNewMessage, channel: str
    ) -> BadRequest | None:
        """Runs the assistant on a message the limiter let in (it releases it)."""
        counted = CountingOutput(output)
        failed = False
        try:
            if inbound.truncated:
                metrics.cut(channel)
                await output.send_text_message(
                    inbound.sender, notice("too_long", max_chars=self.max_message_chars)
                )
            await on_new_message(
                UserMessage(
                    inbound.text, counted, inbound.sender, input_channel=channel, metadata=inbound.metadata
                )
            )
            await counted.finish()
        except ConversationStoreUnavailable:
            metrics.refused(metrics.STORE_UNAVAILABLE, 503, channel)
            return BadRequest(notice("store_unavailable"), 503)
        except Exception:
            failed = True
            metrics.error(channel, metrics.EXCEPTION)
            # No message text in the log: it is private.
            logger.exception("Handling a message on '%s' failed; the help fallback was sent.", channel)
        finally:
            self.limiter.release(inbound.sender)
        if counted.sent == 0:
            if not failed:
                metrics.error(channel, metrics.NO_REPLY)
            logger.warning(
                "No reply for a message on '%s' (is the action server up?); the help fallback was sent.",
                channel,
            )
            await output.send_text_message(inbound.sender, notice("no_reply"))
        return None


class CountingOutput(OutputChannel):
    """Passes replies through and counts them, so a silent failure can be noticed. A curated answer's
    "Was this helpful?" prompt (channels/feedback.py) is held until the turn's last reply has gone
    (`finish`): the lines that follow an answer (the crisis help line, the disclaimer) come before it,
    and on platforms where only the newest message keeps its quick replies, its Yes / No stay usable."""

    def __init__(self, inner: OutputChannel) -> None:
        self.inner = inner
        self.sent = 0
        self.answers: list[tuple[str, str, str]] = []
        self.last: tuple[str, str] | None = None  # the recipient and language of the last reply

    @classmethod
    def name(cls) -> str:
        return "counting"

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        self.sent += 1
        # before sending: Rasa's send_response pops the message's keys
        answer, language = answer_name(message), feedback.message_language(message)
        await self.inner.send_response(recipient_id, message)
        self.last = (recipient_id, language)
        if answer is not None:
            self.answers.append((recipient_id, answer, language))

    async def finish(self) -> None:
        """Sends the prompts the turn's answers asked for, after the turn's last reply; then, to the
        widget, the language the turn's last reply was in (channels/feedback.py, `send_language`)."""
        answers, self.answers = self.answers, []
        for recipient_id, answer, language in answers:
            await feedback.send_prompt(self.inner, recipient_id, answer, language)
        last, self.last = self.last, None
        if last is not None:
            await feedback.send_language(self.inner, *last)


class GuardedInput(InputChannel):
    """Base of every channel here, listed before the Rasa channel it hardens. The channel's entry in
    the credentials file holds the guard's limits (GUARD_KEYS), the settings this project adds
    (`extra_settings`: attributes, whose class values are the defaults) and Rasa's own settings."""

    guard: Guard
    extra_settings: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        guard, settings = Guard.split(credentials)
        extra = {key: settings.pop(key, None) for key in cls.extra_settings}
        channel = super().from_credentials(settings)
        assert isinstance(channel, GuardedInput)
        metrics.declare_channel(channel.name())
        channel.guard = guard
        for key, value in extra.items():
            if value:
                setattr(channel, key, value)
        return channel


def json_webhook(
    channel: GuardedInput,
    on_new_message: OnNewMessage,
    output: Callable[[], OutputChannel],
    answer: Callable[[OutputChannel], HTTPResponse],
) -> Blueprint:
    """The blueprint of a channel that takes {"sender", "message"} JSON posts (REST, callback): a
    health check and the webhook, which answers with `answer(output)` or a clear 4xx/5xx."""
    webhook = Blueprint(f"{channel.name()}_webhook", __name__)

    @webhook.route("/", methods=["GET"])
    async def health(_: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    @webhook.route("/webhook", methods=["POST"])
    async def receive(request: Request) -> HTTPResponse:
        try:
            payload = decode_json(request)
        except BadRequest as bad:
            metrics.refused(metrics.BAD_REQUEST, bad.status, channel.name())
            return refused(bad)
        replies = output()
        refusal = await channel.guard.handle(payload, replies, on_new_message, channel.name())
        return refused(refusal) if refusal else answer(replies)

    @webhook.exception(PayloadTooLarge)
    async def too_large(request: Request, exception: PayloadTooLarge) -> HTTPResponse:
        # A body over SANIC_REQUEST_MAX_SIZE: refused by Sanic before it is read; counted here, and
        # answered as Sanic would.
        metrics.refused(metrics.TOO_LONG, 413, channel.name())
        return request.app.error_handler.default(request, exception)

    return webhook
