"""Renders a deploy/ template: replaces each {{NAME}} with the environment variable NAME."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

PLACEHOLDER = re.compile(r"\{\{([A-Z][A-Z0-9_]*)\}\}")


def render(template: str, values: dict[str, str]) -> str:
    missing = sorted({name for name in PLACEHOLDER.findall(template) if not values.get(name)})
    if missing:
        # An empty port or password would start a daemon with a silently wrong setting.
        raise KeyError(f"unset or empty: {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("template", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--mode", type=lambda text: int(text, 8), default=0o644, help="octal file mode")
    args = parser.parse_args()
    try:
        text = render(args.template.read_text(), dict(os.environ))
    except KeyError as error:
        print(f"{args.template}: {error.args[0]}", file=sys.stderr)
        return 1
    # Created with its final mode, so a password is never readable by others, not even briefly.
    fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, args.mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(args.output, args.mode)
    return 0


if __name__ == "__main__":
    sys.exit(main())
