"""A conversation tracker whose copy does not replay the whole conversation.

Rasa's processor copies the tracker before running each action (`tracker.copy()`), and a copy
replays every event of the session into a fresh tracker. At message 300 of one conversation that
was a twelfth of the server's time. Every change of a tracker's state goes through an event, so the
state a replay reaches is the state the tracker already has: this copy takes it over directly (own
event list, own slot objects, own loop and action records), and leaves out what a replayed copy
does not carry over either (model and assistant ids, sender source).
"""

from __future__ import annotations

import copy
from collections import deque

from rasa.shared.core.trackers import DialogueStateTracker


class FastCopyTracker(DialogueStateTracker):
    def copy(self) -> DialogueStateTracker:
        """The same tracker `DialogueStateTracker.copy` makes, without replaying the events."""
        if type(self.slots) is not dict or not self.sender_id:
            return super().copy()  # no domain slots (AnySlotDict) or no sender id: let Rasa replay
        twin = copy.copy(self)
        twin.__class__ = DialogueStateTracker  # what init_copy makes
        twin.events = deque(self.events, maxlen=self.events.maxlen)
        twin.slots = {name: copy.copy(slot) for name, slot in self.slots.items()}
        twin.latest_action = dict(self.latest_action) if self.latest_action is not None else None
        twin.active_loop = copy.copy(self.active_loop)
        twin.sender_source = None
        twin.model_id = None
        twin.assistant_id = None
        return twin
