"""Removes phone numbers and e-mail addresses from what a person typed, before it is stored."""

from __future__ import annotations

import re
from typing import Any

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# 7 to 15 digits, optionally grouped by spaces, dots, dashes or brackets, optionally with a +.
PHONE = re.compile(r"(?<![\w])\+?\d(?:[\s().-]{0,3}\d){6,14}(?![\w])")
EMAIL_MARK = "[email removed]"
PHONE_MARK = "[phone removed]"


def redact(text: str) -> str:
    return PHONE.sub(PHONE_MARK, EMAIL.sub(EMAIL_MARK, text))


def redact_user_event(data: dict[str, Any]) -> dict[str, Any]:
    """A serialised `user` event with its text redacted everywhere it appears."""
    if data.get("event") != "user":
        return data
    data = dict(data)
    if isinstance(data.get("text"), str):
        data["text"] = redact(data["text"])
    parse_data = data.get("parse_data")
    if isinstance(parse_data, dict) and isinstance(parse_data.get("text"), str):
        data["parse_data"] = {**parse_data, "text": redact(parse_data["text"])}
    return data
