"""Hands the Rasa servers the newest trained model, so that they switch to it without a restart.

Rasa pulls its model from a model server when endpoints.yml has a `models` entry (Rasa's public
"model server" feature: each server process asks every `wait_time_between_pulls` seconds, sending
the ETag it has in `If-None-Match`, and loads whatever it gets back instead of a 304). `make run`
on a machine without an up-to-date model serves a quick model first (serving/quick_model.py) and
trains the full one in the background; this server hands out whichever of the given model files
is newest, so the servers move to the full model within seconds of its training ending.

A process loading a model does not answer meanwhile, so the model goes to one process at a time:
while a process that already had a model is loading a new one (until it asks again with the new
ETag, or LOAD_SECONDS pass), the others are told there is nothing new. A process that has no model
yet (starting up) always gets one at once.

`GET /status` says what was handed out: {"newest": ETag, "sent": {ETag: count}, "loading": ETag}.

Usage: python -m serving.model_server --port PORT MODEL [MODEL ...]   (loopback only)
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

logger = logging.getLogger(__name__)

PATH = "/model"
LOAD_SECONDS = 120.0
CHUNK = 1 << 20


def etag(path: Path) -> str | None:
    """The file's version: its name, modification time and size (None if it is not there)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return f'"{path.name}-{stat.st_mtime_ns}-{stat.st_size}"'


@dataclass
class Handout:
    tag: str
    since: float


class ModelChooser:
    """Which model file to hand out, and to whom (thread-safe)."""

    def __init__(self, models: list[Path], load_seconds: float = LOAD_SECONDS) -> None:
        self.models = models
        self.load_seconds = load_seconds
        self.sent: dict[str, int] = {}  # ETag: times handed out (a process asking with one has a model)
        self.loading: Handout | None = None
        self.lock = threading.Lock()

    def newest(self) -> tuple[Path, str] | None:
        found = [(p.stat().st_mtime_ns, p, tag) for p in self.models if (tag := etag(p)) is not None]
        if not found:
            return None
        _, path, tag = max(found, key=lambda f: f[0])
        return path, tag

    def choose(self, has: str | None, now: float | None = None) -> tuple[Path, str] | None:
        """The model to send to a process that has `has` (an ETag, or None/"None"), or None: 304."""
        now = time.monotonic() if now is None else now
        newest = self.newest()
        if newest is None:
            return None
        path, tag = newest
        with self.lock:
            if has == tag:
                if self.loading is not None and self.loading.tag == tag:
                    self.loading = None  # that process has loaded it: the next may
                return None
            if has in self.sent:  # a running process: one at a time
                busy = self.loading is not None and now - self.loading.since < self.load_seconds
                if busy:
                    return None
                self.loading = Handout(tag, now)
            self.sent[tag] = self.sent.get(tag, 0) + 1
            return path, tag

    def status(self) -> dict[str, object]:
        newest = self.newest()
        with self.lock:
            return {
                "newest": newest[1] if newest else None,
                "sent": dict(self.sent),
                "loading": self.loading.tag if self.loading else None,
            }


def handler_for(chooser: ModelChooser) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/status":
                body = json.dumps(chooser.status()).encode()
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if self.path.split("?", 1)[0] != PATH:
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            chosen = chooser.choose(self.headers.get("If-None-Match"))
            if chosen is None:
                self.send_response(HTTPStatus.NOT_MODIFIED)
                self.end_headers()
                return
            path, tag = chosen
            try:
                size = path.stat().st_size
                with path.open("rb") as model:
                    self.send_response(HTTPStatus.OK)
                    self.send_header("Content-Type", "application/gzip")
                    self.send_header("Content-Length", str(size))
                    self.send_header("ETag", tag)
                    self.send_header("filename", path.name)
                    self.end_headers()
                    while chunk := model.read(CHUNK):
                        self.wfile.write(chunk)
            except OSError as error:  # replaced while sending: the process asks again later
                logger.warning("Sending %s failed: %s", path, error)
                return
            logger.info("Sent %s to a Rasa server process.", path.name)

        def log_message(self, format: str, *args: object) -> None:
            logger.debug(format, *args)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("models", nargs="+", type=Path, help="model files; the newest existing one is served")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s model server: %(message)s")
    server = ThreadingHTTPServer((args.host, args.port), handler_for(ModelChooser(args.models)))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
