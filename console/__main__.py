"""Starts the operator console: python -m console [--endpoints endpoints.yml] [--host] [--port] [--project].

The password comes from CONSOLE_PASSWORD (`make run` generates one when it is unset and prints it).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

MIN_PASSWORD = 8


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--endpoints", type=Path, default=Path("endpoints.yml"), help="its tracker_store")
    parser.add_argument("--host", default=os.environ.get("CONSOLE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("CONSOLE_PORT", "8081")))
    parser.add_argument(
        "--project", type=Path, default=Path("."), help="the folder with data/nlu (default: here)"
    )
    args = parser.parse_args()
    password = os.environ.get("CONSOLE_PASSWORD", "")
    if len(password) < MIN_PASSWORD:
        parser.exit(2, f"console: set CONSOLE_PASSWORD (at least {MIN_PASSWORD} characters)\n")
    if not (args.project / "data" / "nlu").is_dir():
        parser.exit(2, f"console: {args.project / 'data' / 'nlu'} is not a folder (--project)\n")

    from console.app import Console, create_app
    from console.nlu_files import NluFiles
    from console.store import Store, engine_from_endpoints

    console = Console(
        store=Store(engine_from_endpoints(args.endpoints)),
        nlu=NluFiles(args.project),
        password=password,
        secure_cookie=os.environ.get("CONSOLE_SECURE_COOKIE", "false") == "true",
        # Behind a proxy under another name, list that name too (space-separated).
        allowed_hosts=frozenset(
            {"localhost", "127.0.0.1", "::1", args.host, *os.environ.get("CONSOLE_ALLOWED_HOSTS", "").split()}
        ),
    )
    app = create_app(console)
    print(f"Operator console on http://{args.host}:{args.port}", flush=True)
    app.run(host=args.host, port=args.port, workers=1, access_log=False, debug=False, motd=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
