"""Runs a `rasa` command with the project's overrides installed: the one way this project starts Rasa.

`make run`, `make shell`, the production profile (scripts/prod.sh) and the benchmark all start Rasa
through here, so development and production run the same code. Before anything of Rasa runs, the
overrides (overrides/README.md) check the installed Rasa and Sanic versions: on any version but the
pinned ones, start-up stops with a message naming each override that would break.

Usage: the arguments of the `rasa` command, e.g. `python -m serving.launch run -m models/... `.
"""

from __future__ import annotations

import logging
import sys

import overrides


def main() -> None:
    try:
        installed = overrides.install()
    except (overrides.UnsupportedVersion, ValueError) as refusal:
        print(f"serving.launch: not starting Rasa.\n{refusal}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.getLogger(__name__).debug("overrides: %s", installed)
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
