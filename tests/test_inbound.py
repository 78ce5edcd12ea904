"""Input checks, rate limits and redaction, without a server."""

from __future__ import annotations

import pytest

from channels.inbound import BadRequest, SenderLimiter, check_message, clean_text, notice
from storage.redaction import redact, redact_user_event


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        ([], "JSON object"),
        ("hello", "JSON object"),
        (42, "JSON object"),
        ({}, "'sender' is required"),
        ({"sender": None, "message": "hi"}, "'sender' is required"),
        ({"sender": 7, "message": "hi"}, "'sender' must be a string"),
        ({"sender": "", "message": "hi"}, "1 to 128"),
        ({"sender": "x" * 129, "message": "hi"}, "1 to 128"),
        ({"sender": "../../etc/passwd", "message": "hi"}, "slashes"),
        ({"sender": "a\\\\b", "message": "hi"}, "slashes"),
        ({"sender": "a b", "message": "hi"}, "spaces"),
        ({"sender": "a\x00b", "message": "hi"}, "control"),
        ({"sender": "u1"}, "'message' is required"),
        ({"sender": "u1", "message": None}, "'message' is required"),
        ({"sender": "u1", "message": ["hi"]}, "'message' must be a string"),
        ({"sender": "u1", "message": "  \x00\x07 "}, "empty"),
        ({"sender": "u1", "message": "hi", "metadata": "x"}, "'metadata'"),
    ],
)
def test_malformed_requests_are_refused_with_a_reason(payload, complaint):
    with pytest.raises(BadRequest) as refused:
        check_message(payload)
    assert complaint in refused.value.message
    assert refused.value.status == 400


def test_a_long_message_is_cut_and_flagged():
    inbound = check_message({"sender": "u1", "message": "why " * 1000}, max_chars=2000)
    assert inbound.truncated and len(inbound.text) == 2000


def test_text_is_cleaned_but_emoji_and_right_to_left_text_survive():
    assert (
        clean_text("hi\x00 there\x1b[31m \u200f\u0645\u0631\u062d\u0628\u0627 🙏\n")
        == "hi there[31m \u200f\u0645\u0631\u062d\u0628\u0627 🙏"
    )


def test_uuid_and_email_like_sender_ids_are_fine():
    for sender in ["3f2b9c1e-0d7a-4c55-9a0e-8b1d2f3c4e5f", "user@example.org", "tg:12345"]:
        assert check_message({"sender": sender, "message": "hi"}).sender == sender


def test_limiter_caps_rate_and_in_flight_per_sender():
    limiter = SenderLimiter(per_minute=3, in_flight=2)
    assert limiter.acquire("a", now=0) and limiter.acquire("a", now=0)
    assert not limiter.acquire("a", now=0), "third unanswered message"
    assert limiter.acquire("b", now=0), "other senders are unaffected"
    limiter.release("a")
    assert limiter.acquire("a", now=1)
    limiter.release("a")
    limiter.release("a")
    assert not limiter.acquire("a", now=2), "rate: three a minute"
    assert limiter.acquire("a", now=61), "the minute has passed"


def test_limiter_memory_is_bounded():
    limiter = SenderLimiter(per_minute=5, in_flight=5, max_senders=100)
    for i in range(1000):
        limiter.acquire(f"s{i}", now=0)
        limiter.release(f"s{i}")
    assert len(limiter._seen) == 100


def test_notices_carry_the_help_numbers_from_the_domain():
    assert "1-800-662-HELP (4357)" in notice("no_reply")
    assert "911" in notice("rate_limited")
    assert "2,000" in notice("too_long", max_chars=2000)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call me at 555-123-4567 please", "call me at [phone removed] please"),
        ("my number is +1 (555) 123 4567", "my number is [phone removed]"),
        ("write to jane.doe+x@example.co.uk", "write to [email removed]"),
        ("i took 10 pills over 3 days in 2024", "i took 10 pills over 3 days in 2024"),
        ("1-800-662-4357", "[phone removed]"),
    ],
)
def test_redaction(text, expected):
    assert redact(text) == expected


def test_only_user_events_are_redacted():
    user = {"event": "user", "text": "mail a@b.com", "parse_data": {"text": "mail a@b.com", "intent": {}}}
    bot = {"event": "bot", "text": "call 1-800-662-4357"}
    assert redact_user_event(user)["text"] == "mail [email removed]"
    assert redact_user_event(user)["parse_data"]["text"] == "mail [email removed]"
    assert redact_user_event(bot) == bot
