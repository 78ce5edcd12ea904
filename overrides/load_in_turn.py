"""Rasa's workers load the model one after the other, not all at once.

Loading holds extra memory for a while (the TensorFlow model, before the intent classifier lets it
go: components/fast_diet.py); loaded in turn, those moments do not add up, and the first worker,
with the cores to itself, answers sooner. A worker that waits longer than LOAD_TURN_SECONDS loads
anyway.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

import rasa.core.run

LOAD_TURN_SECONDS = 300

_ORIGINAL = rasa.core.run.load_agent_on_start


def install() -> None:
    turn = multiprocessing.get_context("fork").Lock()  # made before Sanic forks: shared by the workers

    async def load_agent_in_turn(*args: Any, **kwargs: Any) -> Any:
        mine = turn.acquire(timeout=LOAD_TURN_SECONDS)
        try:
            return await _ORIGINAL(*args, **kwargs)
        finally:
            if mine:
                turn.release()

    rasa.core.run.load_agent_on_start = load_agent_in_turn


def uninstall() -> None:
    rasa.core.run.load_agent_on_start = _ORIGINAL
