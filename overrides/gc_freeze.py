"""Forked Sanic workers keep sharing the memory of the process they were forked from.

With SANIC_WORKERS=N (and a lock store that several processes can share, endpoints.yml), Rasa's
server forks N worker processes from a main process that has already imported Rasa, TensorFlow and
the rest (about 530 MB). Forked pages stay shared until written, but Python's cyclic garbage
collector writes into every object it examines, so each worker soon holds its own copy of nearly
all of it. Moving every object that exists at the fork into the collector's permanent generation
(`gc.freeze()`, the approach the CPython documentation gives for pre-fork servers) leaves those
pages shared: measured with two workers, the servers' proportional memory (PSS) went from 1.44 GB
to 1.19 GB.
"""

from __future__ import annotations

import gc
from typing import Any

import sanic.app

_ORIGINAL = sanic.app.serve_multiple


def freeze_then_fork(*args: Any, **kwargs: Any) -> Any:
    gc.collect()
    gc.freeze()
    return _ORIGINAL(*args, **kwargs)


def install() -> None:
    sanic.app.serve_multiple = freeze_then_fork


def uninstall() -> None:
    sanic.app.serve_multiple = _ORIGINAL
