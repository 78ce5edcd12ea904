"""Closed-loop load over the REST channel: each simulated user sends its next message on the reply."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

import aiohttp

# A reply slower than this counts as an error: the stock server answers within seconds even at 50 users.
REQUEST_TIMEOUT = 120.0


@dataclass
class Sample:
    index: int  # 1-based position of the message in its conversation
    latency: float  # seconds from send to the whole reply
    ok: bool  # HTTP 200 with a JSON list (an empty list is a valid answer: nothing to say)
    empty: bool = False  # answered, but with no message at all


@dataclass
class Run:
    users: int
    seconds: float = 0.0
    samples: list[Sample] = field(default_factory=list)

    @property
    def messages_per_second(self) -> float:
        answered = sum(s.ok for s in self.samples)
        return answered / self.seconds if self.seconds else 0.0


async def _say(session: aiohttp.ClientSession, url: str, sender: str, text: str) -> tuple[bool, bool]:
    """(answered, answered with nothing)"""
    async with session.post(url, json={"sender": sender, "message": text}) as response:
        body = await response.json(content_type=None)
        ok = response.status == 200 and isinstance(body, list)
        return ok, ok and not body


async def _user(
    session: aiohttp.ClientSession,
    url: str,
    sender: str,
    script: list[str],
    offset: int,
    stop_at: float,
    max_messages: int,
    run: Run,
) -> None:
    for index in range(1, max_messages + 1):
        if time.monotonic() >= stop_at:
            return
        text = script[(offset + index - 1) % len(script)]
        began = time.monotonic()
        try:
            ok, empty = await _say(session, url, sender, text)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            ok, empty = False, False
        run.samples.append(Sample(index=index, latency=time.monotonic() - began, ok=ok, empty=empty))


async def closed_loop(
    rasa_url: str,
    users: int,
    seconds: float,
    script: list[str],
    tag: str,
    max_messages: int = 10_000,
) -> Run:
    """`users` distinct conversations for `seconds` (or `max_messages` each, whichever comes first)."""
    url = f"{rasa_url}/webhooks/rest/webhook"
    run = Run(users=users)
    connector = aiohttp.TCPConnector(limit=users)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        began = time.monotonic()
        stop_at = began + seconds
        await asyncio.gather(
            *(
                _user(session, url, f"{tag}-u{n}", script, n * 7, stop_at, max_messages, run)
                for n in range(users)
            )
        )
        run.seconds = time.monotonic() - began
    return run


async def lockstep_conversations(
    rasa_urls: dict[str, str], messages: int, script: list[str], tag: str
) -> dict[str, list[Sample]]:
    """One long conversation per server, message i to each server in turn, so drift hits all alike."""
    samples: dict[str, list[Sample]] = {name: [] for name in rasa_urls}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for index in range(1, messages + 1):
            order = list(rasa_urls) if index % 2 else list(reversed(rasa_urls))
            for name in order:
                text = script[(index - 1) % len(script)]
                began = time.monotonic()
                try:
                    ok, empty = await _say(
                        session, f"{rasa_urls[name]}/webhooks/rest/webhook", f"{tag}-long", text
                    )
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    ok, empty = False, False
                samples[name].append(
                    Sample(index=index, latency=time.monotonic() - began, ok=ok, empty=empty)
                )
    return samples


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
