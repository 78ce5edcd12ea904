"""Checks the action server's replies against Rasa's schema with a validator built once.

Rasa 3.6 checks each custom action's reply with `jsonschema.validate(reply, schema)`, which first
validates the (constant) schema itself against the JSON-Schema meta-schema, on every call. Under 50
concurrent users that meta-check was a fifth of the Rasa server's time (docs/performance.md).
Here the schema is checked once and the same validator checks every reply: the same replies pass,
the same replies fail, with the same error (jsonschema's best match) and Rasa's same message.
"""

from __future__ import annotations

import functools
from typing import Any

from jsonschema import ValidationError, exceptions, validators
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

_ORIGINAL = RemoteAction._validate_action_result


@functools.cache
def reply_validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """RemoteAction._validate_action_result, with the validator built once."""
    error = exceptions.best_match(reply_validator().iter_errors(result))
    if error is None:
        return True
    assert isinstance(error, ValidationError)
    error.message += (
        f". Failed to validate Action server response from API, "
        f"make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


def install() -> None:
    """Makes Rasa's RemoteAction use the validator built once (idempotent)."""
    RemoteAction._validate_action_result = validate_action_result


def uninstall() -> None:
    RemoteAction._validate_action_result = _ORIGINAL
