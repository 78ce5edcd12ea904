"""Sends the action server the recent events of a conversation instead of all of them, when
endpoints.yml asks for it.

For every custom action Rasa 3.6 posts the tracker to the action server with *every* event of the
conversation, serialised to JSON, and the action server parses it all again. At message 300-400 of
one conversation that was the largest cost that grows with the conversation (a quarter of the
server's time per message, docs/performance.md), while our actions read only the slots, the latest
message and the user message before it.

With `recent_user_turns: N` under `action_endpoint`, the request is the one Rasa builds (slots,
latest message, active loop, latest action, paused, follow-up action, domain: all computed from the
whole conversation, as before) except that `tracker.events` holds the events from the N-th last
user message on (all of them when the conversation has fewer). Without the setting, Rasa's request
is sent unchanged. An action that needs older events must be given a larger N, or the setting
removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import Any

import rasa
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

SETTING = "recent_user_turns"

_ORIGINAL = RemoteAction._action_call_format


def recent_events(events: Iterable[Event], user_turns: int) -> list[Event]:
    """The events from the `user_turns`-th last user message on (all of them if there are fewer)."""
    everything = list(events)
    seen = 0
    for index in range(len(everything) - 1, -1, -1):
        if isinstance(everything[index], UserUttered):
            seen += 1
            if seen == user_turns:
                return list(islice(everything, index, None))
    return everything


def user_turns_setting(action: RemoteAction) -> int | None:
    value = action.action_endpoint.kwargs.get(SETTING) if action.action_endpoint else None
    if value is None:
        return None
    turns = int(value)
    if turns < 1:
        raise ValueError(f"action_endpoint: {SETTING} must be at least 1, not {value!r}")
    return turns


def action_call_format(self: RemoteAction, tracker: DialogueStateTracker, domain: Domain) -> dict[str, Any]:
    """RemoteAction._action_call_format, with only the recent events when so configured."""
    turns = user_turns_setting(self)
    if turns is None:
        return _ORIGINAL(self, tracker, domain)
    state = tracker.current_state(EventVerbosity.NONE)
    state["events"] = [event.as_dict() for event in recent_events(tracker.events, turns)]
    result = {
        "next_action": self._name,
        "sender_id": tracker.sender_id,
        "tracker": state,
        "version": rasa.__version__,
    }
    if not self._is_selective_domain_enabled() or domain.does_custom_action_explicitly_need_domain(
        self.name()
    ):
        result["domain"] = domain.as_dict()
    return result


def install() -> None:
    """Makes Rasa's RemoteAction build its requests here (idempotent)."""
    RemoteAction._action_call_format = action_call_format


def uninstall() -> None:
    RemoteAction._action_call_format = _ORIGINAL
