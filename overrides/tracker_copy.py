"""A conversation tracker whose copy does not replay the whole conversation, and whose applied
events are not recomputed from the start at every look.

Rasa's processor copies the tracker before running each action (`tracker.copy()`), and a copy
replays every event of the session into a fresh tracker. At message 300 of one conversation that
was a twelfth of the server's time. Every change of a tracker's state goes through an event, so the
state a replay reaches is the state the tracker already has: this copy takes it over directly (own
event list, own slot objects, own loop and action records), and leaves out what a replayed copy
does not carry over either (model and assistant ids, sender source).

`applied_events()` (the events that count: none before the latest restart or session start,
reverted ones undone) walks the whole conversation, and Rasa's processor and policies ask for it
several times per message (session expiry, the last user message, ...): 5 % of the server's time
at messages 300-400. Here the answer is kept with the event it reached; when the tracker has only
gained events since, and none of them is one that rewrites history (restart, session start,
reverts, loops), the new events are appended to it. Anything else is computed by Rasa as before.
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass
from itertools import islice

from rasa.shared.core.events import (
    ActionReverted,
    ActiveLoop,
    Event,
    Restarted,
    SessionStarted,
    UserUtteranceReverted,
)
from rasa.shared.core.trackers import DialogueStateTracker

# Events after which the applied events are not "the applied events so far, plus this one".
REWRITES_HISTORY = (Restarted, SessionStarted, ActionReverted, UserUtteranceReverted, ActiveLoop)


@dataclass
class AppliedSoFar:
    events: deque[Event]  # the tracker's event list these were computed from
    count: int  # how many of its events
    last: Event | None  # the last of them
    applied: list[Event]


class FastCopyTracker(DialogueStateTracker):
    _applied_so_far: AppliedSoFar | None = None

    def applied_events(self) -> list[Event]:
        """DialogueStateTracker.applied_events, extending the last answer when events were only added."""
        events, kept = self.events, self._applied_so_far
        count = len(events)
        if (
            kept is not None
            and kept.events is events
            and events.maxlen is None
            and kept.count <= count
            and (kept.count == 0 or events[kept.count - 1] is kept.last)
        ):
            new = list(islice(events, kept.count, None))
            if not any(isinstance(event, REWRITES_HISTORY) for event in new):
                applied = kept.applied + new
                self._applied_so_far = AppliedSoFar(events, count, events[-1] if count else None, applied)
                return list(applied)
        applied = super().applied_events()
        # Kept only for conversations without loops (a loop's actions can undo earlier ones).
        looped = any(isinstance(event, ActiveLoop) for event in events)
        last = events[-1] if count else None
        self._applied_so_far = None if looped else AppliedSoFar(events, count, last, applied)
        return list(applied)

    def handout(self) -> FastCopyTracker:
        """A copy to give out (this one is kept): a FastCopyTracker that knows its applied events."""
        self.applied_events()
        twin = self.copy()
        if not isinstance(twin, FastCopyTracker):  # Rasa's replaying copy (no domain slots)
            twin.__class__ = FastCopyTracker
        assert isinstance(twin, FastCopyTracker)
        return twin

    def copy(self) -> DialogueStateTracker:
        """The same tracker `DialogueStateTracker.copy` makes, without replaying the events (and
        knowing the applied events this one knows)."""
        if type(self.slots) is not dict or not self.sender_id:
            return super().copy()  # no domain slots (AnySlotDict) or no sender id: let Rasa replay
        twin = copy.copy(self)  # a FastCopyTracker too: its copies and applied events are as fast
        kept = twin.__dict__.pop("_applied_so_far", None)
        twin.events = deque(self.events, maxlen=self.events.maxlen)
        twin.slots = {name: copy.copy(slot) for name, slot in self.slots.items()}
        twin.latest_action = dict(self.latest_action) if self.latest_action is not None else None
        twin.active_loop = copy.copy(self.active_loop)
        twin.sender_source = None
        twin.model_id = None
        twin.assistant_id = None
        if kept is not None and kept.events is self.events and kept.count == len(self.events):
            # The same events (objects) in the twin's own list; the kept list is never changed in place.
            twin._applied_so_far = AppliedSoFar(twin.events, kept.count, kept.last, kept.applied)
        return twin
