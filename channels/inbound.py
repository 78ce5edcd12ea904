"""Checks and limits for messages arriving on any channel, and the channels' own notices.

A malformed message gets a clear 4xx; over-long text is cut to a limit and the person is told;
control characters are removed; one sender flooding the server is refused without slowing others.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from content import fill

ROOT = Path(__file__).resolve().parent.parent
MAX_MESSAGE_CHARS = 2000
MAX_SENDER_CHARS = 128
# Printable, no white space, no path separators: sender ids end up in URLs, logs and databases.
SENDER = re.compile(r"^[^\s/\\\x00-\x1f\x7f]+$")


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Inbound:
    sender: str
    text: str
    metadata: dict[str, Any] | None
    truncated: bool


def clean_text(text: str) -> str:
    """NFC-normalised, without control characters other than line breaks and tabs."""
    text = unicodedata.normalize("NFC", text)
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()


def check_sender(sender: Any) -> str:
    if sender is None:
        raise BadRequest("'sender' is required: a string identifying the conversation.")
    if not isinstance(sender, str):
        raise BadRequest("'sender' must be a string.")
    if not sender or len(sender) > MAX_SENDER_CHARS:
        raise BadRequest(f"'sender' must be 1 to {MAX_SENDER_CHARS} characters long.")
    if not SENDER.match(sender):
        raise BadRequest("'sender' may not contain spaces, slashes or control characters.")
    return sender


def check_message(payload: Any, max_chars: int = MAX_MESSAGE_CHARS) -> Inbound:
    """Validates a decoded JSON body of the form {"sender": str, "message": str, "metadata"?: object}."""
    if not isinstance(payload, dict):
        raise BadRequest('The body must be a JSON object: {"sender": "...", "message": "..."}.')
    sender = check_sender(payload.get("sender"))
    message = payload.get("message")
    if message is None:
        raise BadRequest("'message' is required: the text the person typed.")
    if not isinstance(message, str):
        raise BadRequest("'message' must be a string.")
    text = clean_text(message)
    if not text:
        raise BadRequest("'message' is empty.")
    metadata = payload.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest("'metadata' must be a JSON object when given.")
    truncated = len(text) > max_chars
    return Inbound(sender=sender, text=text[:max_chars], metadata=metadata, truncated=truncated)


@dataclass
class SenderLimiter:
    """At most `per_minute` messages a minute and `in_flight` unanswered ones per sender.

    Memory is bounded: the least recently seen senders are forgotten first.
    """

    per_minute: int = 30
    in_flight: int = 2
    max_senders: int = 50_000
    _seen: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)
    _busy: dict[str, int] = field(default_factory=dict)

    def acquire(self, sender: str, now: float | None = None) -> bool:
        return self.admit(sender, now) is None

    def admit(self, sender: str, now: float | None = None) -> str | None:
        """None when the message may go ahead (it is then in flight until `release`), else why not:
        "rate_limited" (its messages a minute are used up) or "in_flight" (too many unanswered)."""
        now = time.monotonic() if now is None else now
        stamps = self._seen.pop(sender, None) or deque()
        while stamps and now - stamps[0] >= 60:
            stamps.popleft()
        self._seen[sender] = stamps
        while len(self._seen) > self.max_senders:
            self._seen.popitem(last=False)
        if len(stamps) >= self.per_minute:
            return "rate_limited"
        if self._busy.get(sender, 0) >= self.in_flight:
            return "in_flight"
        stamps.append(now)
        self._busy[sender] = self._busy.get(sender, 0) + 1
        return None

    def release(self, sender: str) -> None:
        left = self._busy.get(sender, 0) - 1
        if left > 0:
            self._busy[sender] = left
        else:
            self._busy.pop(sender, None)


@lru_cache(maxsize=1)
def notices() -> dict[str, str]:
    """The channels' own messages, with help numbers from domain.yml's resource slots filled in."""
    slots = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["slots"]
    values = {name: str(spec["initial_value"]) for name, spec in slots.items() if "initial_value" in spec}
    raw = yaml.safe_load((ROOT / "content" / "channel_messages.yml").read_text(encoding="utf-8"))
    return {key: fill(text, values) for key, text in raw.items()}


def notice(key: str, language: str = "en", **values: Any) -> str:
    """A notice, in `language` when it has that language's text (`<key>_<language>`), else English."""
    texts = notices()
    text = texts.get(f"{key}_{language}", texts[key])
    return fill(text, {k: f"{v:,}" if isinstance(v, int) else v for k, v in values.items()})
