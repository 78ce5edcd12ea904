"""Private parts of Rasa's lock and tracker stores, for the project's stores.

Each helper does what the private call did where it was used, and is listed in
`overrides.PRIVATE_USES` (version-checked); why they live here: overrides/README.md, "Private uses".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rasa.core.lock_store import LockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker

# Lock and tracker stores.


def log_lock_deletion(conversation_id: str, deleted: bool) -> None:
    """The debug line Rasa's lock stores log on deleting a lock (`LockStore._log_deletion`)."""
    LockStore._log_deletion(conversation_id, deleted)


def events_to_save(store: SQLTrackerStore, session: Any, tracker: DialogueStateTracker) -> Iterator[Event]:
    """The tracker's events that are not yet in the database, as SQLTrackerStore.save finds them
    (`SQLTrackerStore._additional_events`, or a subclass's, such as the incremental store's)."""
    return store._additional_events(session, tracker)
