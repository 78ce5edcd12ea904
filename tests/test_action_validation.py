"""Custom-action replies get the same verdict and error from the validator built once as from Rasa's."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

from overrides import action_validation

REPLIES = {
    "slot and message": {
        "events": [{"event": "slot", "name": "medication", "value": "valium", "timestamp": None}],
        "responses": [{"text": "An answer", "buttons": []}],
    },
    "nothing": {"events": [], "responses": []},
    "unknown event": {"events": [{"event": "not_an_event"}], "responses": []},
    "events not a list": {"events": {"event": "slot"}, "responses": []},
    "response not an object": {"events": [], "responses": ["just text"]},
}


def verdict(reply: dict) -> str:
    action = RemoteAction("action_answer_medication", None)
    try:
        action._validate_action_result(reply)
        return "valid"
    except ValidationError as error:
        return f"invalid: {error.message} at {list(error.absolute_path)}"


@pytest.fixture
def rasas_own():
    # Leaves Rasa as it found it: stock, so that later tests see stock Rasa too.
    action_validation.uninstall()
    yield
    action_validation.uninstall()


@pytest.mark.parametrize("name", list(REPLIES))
def test_same_verdict_and_message_as_rasa(name, rasas_own):
    reply = REPLIES[name]
    expected = verdict(reply)
    action_validation.install()
    try:
        assert verdict(reply) == expected
    finally:
        action_validation.uninstall()
    assert expected.startswith("valid") == (name in {"slot and message", "nothing"})


def test_the_schema_is_checked_once(monkeypatch, rasas_own):
    action_validation.install()
    action_validation.reply_validator()
    monkeypatch.setattr(RemoteAction, "action_response_format_spec", lambda: pytest.fail("schema rebuilt"))
    for _ in range(3):
        assert verdict(REPLIES["slot and message"]) == "valid"
