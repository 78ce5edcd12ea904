"""Operations metrics of the Rasa server processes, for Prometheus.

Interface used by the rest of the project:
- `turn(kind, channel, language)`: one message handled, with the kind of reply it got
  (insights.schema.KINDS) and the conversation's language at it; called by the tracker store when it
  records the turn.
- `accepted(channel)`: a message passed the channel's checks and limits; the assistant runs on it.
- `cut(channel)`: its text was longer than the channel's limit and was cut (it is still answered).
- `finished(channel, seconds)`: the assistant is done with an accepted message, `seconds` after it
  arrived (the latency histogram; every accepted message is observed once, whatever the outcome).
- `refused(reason, status, channel)`: a message refused with a 4xx (or 503); reasons in REFUSALS.
- `error(channel, cause)`: a message that failed unexpectedly (`exception`) or got no reply at all
  (`no_reply`, e.g. the action server is down); the person got the help fallback either way.
- `declare_channel(channel)`: every series of a channel, at zero, so that rates work from the start.

Where the numbers go:
- `PROMETHEUS_MULTIPROC_DIR` set (`make run` and the production profile set it for the Rasa servers):
  prometheus_client's multiprocess mode. Each process writes its values into files of its own in
  that folder (memory-mapped: an update is a locked write to memory, no system call), and the
  exporter (insights/exporter.py, http://localhost:9100/metrics) sums them over every Rasa worker
  process at scrape time.
- Unset (unit tests, `rasa shell`, a bare `rasa run`): the same metrics in this process's memory,
  in `registry()`. Nothing is written anywhere and nothing serves them.

No label holds message text, a sender id or anything a person typed: channel names come from the
channel classes, kinds from insights.schema.KINDS, reasons from REFUSALS, languages from
insights.schema.LANGUAGES (anything else is counted as "other", so a forged value cannot make a
series of its own).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from insights.schema import ENGLISH, KINDS, LANGUAGES, OTHER

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# Why a message was refused before the assistant ran, with the HTTP status it got.
BAD_REQUEST = "bad_request"  # malformed: not JSON, no sender, no text, ...
TOO_LONG = "too_long"  # a request body over the server's limit (SANIC_REQUEST_MAX_SIZE), never read
RATE_LIMITED = "rate_limited"  # the sender's messages a minute are used up
IN_FLIGHT = "in_flight"  # the sender already has as many unanswered messages as allowed
STORE_UNAVAILABLE = "store_unavailable"  # the conversation database cannot be reached
REFUSALS = {BAD_REQUEST: 400, TOO_LONG: 413, RATE_LIMITED: 429, IN_FLIGHT: 429, STORE_UNAVAILABLE: 503}

# Why a message failed (the `cause` label of the errors).
EXCEPTION = "exception"
NO_REPLY = "no_reply"
ERROR_CAUSES = (EXCEPTION, NO_REPLY)

# Seconds from a message's arrival to its reply: a cached answer takes ~20 ms, a busy server or a
# slow action server seconds.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# The `language` label's values: the languages the replies are written in, and one for anything else.
OTHER_LANGUAGE = "other"
LANGUAGE_LABELS = (*LANGUAGES, OTHER_LANGUAGE)


@dataclass(frozen=True)
class Metrics:
    messages: Counter
    cut: Counter
    replies: Counter
    latency: Histogram
    in_flight: Gauge
    refusals: Counter
    errors: Counter


_metrics: Metrics | None = None
_registry = CollectorRegistry(auto_describe=True)


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_VARIABLE))


def registry() -> CollectorRegistry:
    """This process's own metrics (what `/metrics` would show for it alone); for tests."""
    return _registry


def metrics() -> Metrics:
    """The metric objects, made at first use (importing this module has no side effect)."""
    global _metrics
    if _metrics is None:
        # In multiprocess mode the values live in the files, which the exporter reads; the registry
        # still lets a test read this process's own share.
        r = _registry
        _metrics = Metrics(
            messages=Counter(
                "faq_messages", "Messages the assistant ran on (passed the checks and limits)",
                ["channel"], registry=r,
            ),
            cut=Counter(
                "faq_messages_cut", "Messages cut to the channel's length limit (still answered)",
                ["channel"], registry=r,
            ),
            replies=Counter(
                "faq_replies", "Handled messages by reply kind and the conversation's language",
                ["channel", "kind", "language"], registry=r,
            ),
            latency=Histogram(
                "faq_message_latency_seconds", "Seconds from a message's arrival to its reply",
                ["channel"], buckets=LATENCY_BUCKETS, registry=r,
            ),
            in_flight=Gauge(
                "faq_messages_in_flight", "Messages being answered right now", ["channel"],
                multiprocess_mode="livesum", registry=r,
            ),
            refusals=Counter(
                "faq_refusals", "Messages refused before the assistant ran, by reason and HTTP status",
                ["channel", "reason", "status"], registry=r,
            ),
            errors=Counter(
                "faq_errors", "Messages that failed (exception) or got no reply (no_reply)",
                ["channel", "cause"], registry=r,
            ),
        )  # fmt: skip
    return _metrics


def _channel(channel: str | None) -> str:
    return channel or "unknown"


def declare_channel(channel: str) -> None:
    """Creates every series of `channel` at zero (Prometheus computes no rate from a missing series)."""
    m = metrics()
    m.messages.labels(channel)
    m.cut.labels(channel)
    m.latency.labels(channel)
    m.in_flight.labels(channel)
    for kind in KINDS:
        for language in LANGUAGE_LABELS:
            m.replies.labels(channel, kind, language)
    for reason, status in REFUSALS.items():
        m.refusals.labels(channel, reason, str(status))
    for cause in ERROR_CAUSES:
        m.errors.labels(channel, cause)


def turn(kind: str, channel: str, language: str | None = None) -> None:
    """Counts one handled message, its reply kind and language (None: English, the default)."""
    language = language or ENGLISH
    metrics().replies.labels(
        _channel(channel),
        kind if kind in KINDS else OTHER,
        language if language in LANGUAGES else OTHER_LANGUAGE,
    ).inc()


def accepted(channel: str) -> None:
    """Counts a message the assistant runs on; it is in flight until `finished`."""
    m = metrics()
    m.messages.labels(channel).inc()
    m.in_flight.labels(channel).inc()


def cut(channel: str) -> None:
    metrics().cut.labels(channel).inc()


def finished(channel: str, seconds: float) -> None:
    """An accepted message is done: observes its latency."""
    m = metrics()
    m.in_flight.labels(channel).dec()
    m.latency.labels(channel).observe(seconds)


def refused(reason: str, status: int, channel: str = "unknown") -> None:
    """Counts one refused message."""
    metrics().refusals.labels(_channel(channel), reason, str(status)).inc()


def error(channel: str, cause: str = EXCEPTION) -> None:
    """Counts one message that failed."""
    metrics().errors.labels(_channel(channel), cause).inc()
