"""`rasa <command> ...` with the memory of several Sanic workers shared as far as Python allows.

With SANIC_WORKERS=N (and a lock store that several processes can share, endpoints.yml), Rasa's
server forks N worker processes from a main process that has already imported Rasa, TensorFlow and
the rest (about 530 MB). Forked pages stay shared until written, but Python's cyclic garbage
collector writes into every object it examines, so each worker soon holds its own copy of nearly
all of it. Moving every object that exists at the fork into the collector's permanent generation
(`gc.freeze()`, the approach the CPython documentation gives for pre-fork servers) leaves those
pages shared: measured with two workers, the servers' proportional memory (PSS) went from 1.44 GB
to 1.19 GB.

It also has the workers load the model one at a time (`load_in_turn`).

Usage: the arguments of the `rasa` command, e.g. `python -m serving.launch run -m models/... `.
"""

from __future__ import annotations

import gc
import sys
from typing import Any


def freeze_before_forking() -> None:
    import sanic.app

    serve_multiple = sanic.app.serve_multiple

    def freeze_then_fork(*args: Any, **kwargs: Any) -> Any:
        gc.collect()
        gc.freeze()
        return serve_multiple(*args, **kwargs)

    sanic.app.serve_multiple = freeze_then_fork


def load_in_turn() -> None:
    """Workers load the model one after the other, not all at once.

    Loading holds extra memory for a while (the TensorFlow model, before the intent classifier lets
    it go: components/fast_diet.py); loaded in turn, those moments do not add up, and the first
    worker, with the cores to itself, answers sooner. A worker that waits longer than
    LOAD_TURN_SECONDS loads anyway.
    """
    import multiprocessing

    import rasa.core.run

    turn = multiprocessing.get_context("fork").Lock()  # made before Sanic forks: shared by the workers
    load = rasa.core.run.load_agent_on_start

    async def load_agent_in_turn(*args: Any, **kwargs: Any) -> Any:
        mine = turn.acquire(timeout=LOAD_TURN_SECONDS)
        try:
            return await load(*args, **kwargs)
        finally:
            if mine:
                turn.release()

    rasa.core.run.load_agent_on_start = load_agent_in_turn


LOAD_TURN_SECONDS = 300


def main() -> None:
    freeze_before_forking()
    load_in_turn()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
