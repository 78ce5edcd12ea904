"""The part every hardened channel shares: parse and check a request, rate-limit its sender, run the
assistant, and make sure the person always gets an answer or a clear error."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.inbound import MAX_MESSAGE_CHARS, BadRequest, Inbound, SenderLimiter, check_message, notice
from serving.tracker_store import ConversationStoreUnavailable

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def error(message: str, status: int) -> HTTPResponse:
    return response.json({"error": message}, status=status)


def refused(reason: BadRequest) -> HTTPResponse:
    return error(reason.message, reason.status)


def decode_json(request: Request) -> Any:
    if not request.body:
        raise BadRequest('The body is empty: send a JSON object {"sender": "...", "message": "..."}.')
    try:
        return json.loads(request.body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"The body is not valid JSON ({exc.__class__.__name__}).") from exc


class Guard:
    """Per-channel limits; settings come from the channel's entry in credentials.yml."""

    def __init__(
        self,
        max_message_chars: int = MAX_MESSAGE_CHARS,
        messages_per_minute: int = 30,
        in_flight_per_sender: int = 2,
    ) -> None:
        self.max_message_chars = int(max_message_chars)
        self.limiter = SenderLimiter(per_minute=int(messages_per_minute), in_flight=int(in_flight_per_sender))

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> Guard:
        keys = ("max_message_chars", "messages_per_minute", "in_flight_per_sender")
        return cls(**{k: v for k, v in (credentials or {}).items() if k in keys})

    def parse(self, payload: Any) -> Inbound:
        return check_message(payload, self.max_message_chars)

    async def run(
        self, inbound: Inbound, output: OutputChannel, on_new_message: OnNewMessage, channel: str
    ) -> BadRequest | None:
        """Runs the assistant on one message; returns why it was refused, or None when answered."""
        if not self.limiter.acquire(inbound.sender):
            return BadRequest(notice("rate_limited"), 429)
        counted = CountingOutput(output)
        try:
            if inbound.truncated:
                await output.send_text_message(
                    inbound.sender, notice("too_long", max_chars=self.max_message_chars)
                )
            await on_new_message(
                UserMessage(
                    inbound.text, counted, inbound.sender, input_channel=channel, metadata=inbound.metadata
                )
            )
        except ConversationStoreUnavailable:
            return BadRequest(notice("store_unavailable"), 503)
        except Exception:
            # No message text in the log: it is private.
            logger.exception("Handling a message on '%s' failed; the help fallback was sent.", channel)
        finally:
            self.limiter.release(inbound.sender)
        if counted.sent == 0:
            logger.warning(
                "No reply for a message on '%s' (is the action server up?); the help fallback was sent.",
                channel,
            )
            await output.send_text_message(inbound.sender, notice("no_reply"))
        return None


class CountingOutput(OutputChannel):
    """Passes replies through and counts them, so a silent failure can be noticed."""

    def __init__(self, inner: OutputChannel) -> None:
        self.inner = inner
        self.sent = 0

    @classmethod
    def name(cls) -> str:
        return "counting"

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        self.sent += 1
        await self.inner.send_response(recipient_id, message)
