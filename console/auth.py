"""Login for the console: the password check, sessions with their CSRF token, and the login rate limit.

Sessions live in this process's memory (the console is one process): the cookie carries a random
session id signed with a per-process key, so a forged or altered cookie is refused before any
lookup, a restart logs everyone out, and logging out ends the session on the server too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

SESSION_SECONDS = 8 * 3600
# Sessions kept at most (a login page visit makes one): the oldest go first.
MAX_SESSIONS = 1000
# Failed logins allowed per client address within the window; then 429 until the window passes.
MAX_FAILURES = 5
FAILURE_WINDOW = 15 * 60


def password_matches(given: str, expected: str) -> bool:
    """Constant time whatever the lengths: both sides are hashed to the same length first."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest(),
        hashlib.sha256(expected.encode("utf-8", "surrogatepass")).digest(),
    )


@dataclass
class Session:
    id: str
    csrf: str
    expires: float
    logged_in: bool = False
    flash: str | None = None  # the result of the last action, shown once


@dataclass
class Sessions:
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    lifetime: float = SESSION_SECONDS
    _sessions: OrderedDict[str, Session] = field(default_factory=OrderedDict)

    def _sign(self, session_id: str) -> str:
        return hmac.new(self.key, session_id.encode(), hashlib.sha256).hexdigest()

    def cookie_value(self, session: Session) -> str:
        return f"{session.id}.{self._sign(session.id)}"

    def new(self, logged_in: bool = False) -> Session:
        session = Session(
            id=secrets.token_urlsafe(24),
            csrf=secrets.token_urlsafe(24),
            expires=time.time() + self.lifetime,
            logged_in=logged_in,
        )
        self._sessions[session.id] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def get(self, cookie: str | None) -> Session | None:
        """The live session a cookie names, or None (no cookie, bad signature, unknown, expired)."""
        if not cookie or cookie.count(".") != 1:
            return None
        session_id, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(session_id)):
            return None
        session = self._sessions.get(session_id)
        if session is None or session.expires < time.time():
            self._sessions.pop(session_id, None)
            return None
        return session

    def end(self, session: Session) -> None:
        self._sessions.pop(session.id, None)


@dataclass
class LoginLimiter:
    """Failed logins per client address in a sliding window."""

    max_failures: int = MAX_FAILURES
    window: float = FAILURE_WINDOW
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, client: str) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] < time.time() - self.window:
            failures.popleft()
        return failures

    def retry_after(self, client: str) -> int:
        """Seconds until `client` may try again; 0 when it may now."""
        failures = self._recent(client)
        if len(failures) < self.max_failures:
            return 0
        return max(1, int(failures[0] + self.window - time.time()) + 1)

    def failed(self, client: str) -> None:
        self._recent(client).append(time.time())
        if len(self._failures) > 10_000:  # many addresses: keep only those with recent failures
            for address in [a for a, f in self._failures.items() if not f]:
                del self._failures[address]

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)
