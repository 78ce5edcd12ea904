"""Operations metrics of the Rasa server processes, for Prometheus.

Interface used by the rest of the project (the implementation lands with the metrics work):
- `turn(kind, channel)`: one message handled, with the kind of reply it got (insights.schema.KINDS).
- `refused(reason, status)`: a message refused with a 4xx (or 503) before the assistant ran.
- `latency(channel, seconds)`: how long one message took, from arrival to the reply.
- `error(channel)`: a message that failed with an unexpected error.
"""

from __future__ import annotations


def turn(kind: str, channel: str) -> None:
    """Counts one handled message and its reply kind."""


def refused(reason: str, status: int) -> None:
    """Counts one refused message."""


def latency(channel: str, seconds: float) -> None:
    """Observes one message's latency."""


def error(channel: str) -> None:
    """Counts one unexpected error."""
