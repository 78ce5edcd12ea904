"""Redis lock store whose ticket bookkeeping is safe when several Rasa servers share it.

Rasa 3.6's RedisLockStore reads a conversation's lock from Redis, changes it in Python and writes it
back, with nothing guarding the gap (RasaHQ/rasa#9213; the fix, #11256, was reverted from the open
source edition in #11428). Two servers that receive messages of one conversation at the same moment
can then both take the first ticket and process them at once; measured here, one message of four
was lost from the stored conversation in 1 of 5 tries (tests/test_prod_profile.py checks it). Each
read-change-write below runs under a short per-conversation mutex in Redis (redis-py's Lock: SET NX
with an expiry, released by token), so servers take turns as the ticket lock intends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rasa.core.lock_store import DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX, LOCK_LIFETIME, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

# Long enough for the few Redis round trips the guarded section makes; a server that dies inside it
# holds the mutex no longer than this.
DEFAULT_MUTEX_SECONDS = 5.0


class AtomicRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig) -> None:
        # Rasa builds a custom lock store from its endpoint section alone.
        settings: dict[str, Any] = dict(endpoint_config.kwargs)
        self.mutex_seconds = float(settings.pop("mutex_seconds", DEFAULT_MUTEX_SECONDS))
        super().__init__(host=endpoint_config.url or "localhost", **settings)
        # Beside the locks' keys ("<prefix>:lock:<id>"), never among them: no conversation id can
        # name a mutex.
        base = self.key_prefix.removesuffix(DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX)
        self.mutex_prefix = base + "mutex:"

    @contextmanager
    def _mutex(self, conversation_id: str) -> Iterator[None]:
        with self.red.lock(
            self.mutex_prefix + conversation_id,
            timeout=self.mutex_seconds,
            blocking_timeout=self.mutex_seconds,
            sleep=0.01,
        ):
            yield

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        with self._mutex(conversation_id):
            return super().issue_ticket(conversation_id, lock_lifetime)

    def update_lock(self, conversation_id: str) -> None:
        with self._mutex(conversation_id):
            super().update_lock(conversation_id)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        # Finishing a ticket and deleting the lock when nobody waits must not drop a ticket that
        # another server issues in between.
        with self._mutex(conversation_id):
            super().cleanup(conversation_id, ticket_number)
