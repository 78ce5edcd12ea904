"""Pre-flight check for a credentials file: names every ${VAR} it uses that is unset or empty.

Rasa stops at the first unset variable only, after ~12 s of start-up and a wall of warnings, and lets
an empty one through (a Facebook app secret of "" accepts any signature made with an empty key).
Usage: python scripts/check_credentials.py credentials.messaging.yml   (exit 2 when something is missing)
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

# The form Rasa expands (rasa/shared/utils/io.py, env_var_constructor).
VARIABLE = re.compile(r"\$\{([^}]+)\}")


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def variables(path: Path) -> list[str]:
    """The variables the file's values use, in order of first use."""
    found: dict[str, None] = {}
    for text in strings(yaml.safe_load(path.read_text(encoding="utf-8"))):
        found.update(dict.fromkeys(VARIABLE.findall(text)))
    return list(found)


def missing(path: Path, environ: Mapping[str, str]) -> list[str]:
    return [name for name in variables(path) if not environ.get(name, "").strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("credentials", type=Path)
    path = parser.parse_args(argv).credentials
    if not path.is_file():
        print(f"Credentials file {path} does not exist.", file=sys.stderr)
        return 2
    absent = missing(path, os.environ)
    if not absent:
        return 0
    lines = [
        f"{path} needs {len(absent)} environment variable(s) that are unset or empty:",
        *(f"  {name}" for name in absent),
        "Set them (the names are in .env.example, where each value comes from in docs/channels.md), e.g.",
        "  cp .env.example .env  # fill it in, then:",
        f"  set -a; . ./.env; set +a; make run CREDENTIALS={path}",
        "Without CREDENTIALS, `make run` serves only the channels that need no secret (credentials.yml).",
    ]
    print("\n".join(lines), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
