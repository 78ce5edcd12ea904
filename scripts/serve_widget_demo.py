"""Serves the widget demo page and the built widget (widget/dist) for `make run`."""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEMO_PAGE = ROOT / "widget" / "demo" / "index.html"
WIDGET_JS = ROOT / "widget" / "dist" / "rasa-widget.js"


def script_literal(value: str) -> str:
    # A JSON string is a JS literal; escaping "<" keeps "</script>" in a value from closing the tag.
    return json.dumps(value).replace("<", "\\u003c")


def render_page(rasa_url: str, nonce: str) -> bytes:
    page = DEMO_PAGE.read_text(encoding="utf-8")
    return page.replace("{{server_url}}", script_literal(rasa_url)).replace("{{nonce}}", nonce).encode()


def content_security_policy(rasa_url: str, nonce: str) -> str:
    # Defence in depth: even if message text were ever parsed as HTML, no injected script would run.
    parts = urlsplit(rasa_url)
    socket_scheme = "wss" if parts.scheme == "https" else "ws"
    return (
        f"default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        f"connect-src {parts.scheme}://{parts.netloc} {socket_scheme}://{parts.netloc}; img-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], rasa_url: str) -> None:
        super().__init__(address, DemoHandler)
        self.rasa_url = rasa_url


class DemoHandler(BaseHTTPRequestHandler):
    server: DemoServer

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            nonce = secrets.token_urlsafe(16)
            self.reply(
                render_page(self.server.rasa_url, nonce),
                "text/html; charset=utf-8",
                {"Content-Security-Policy": content_security_policy(self.server.rasa_url, nonce)},
            )
        elif path == "/rasa-widget.js" and WIDGET_JS.exists():
            self.reply(WIDGET_JS.read_bytes(), "text/javascript; charset=utf-8")
        elif path == "/favicon.ico":
            self.reply(b"", "image/x-icon", status=HTTPStatus.NO_CONTENT)
        else:
            self.reply(b"not found\n", "text/plain; charset=utf-8", status=HTTPStatus.NOT_FOUND)

    def reply(
        self,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        status: HTTPStatus = HTTPStatus.OK,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # One line per page view would drown the Rasa log that `make run` shows.
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--rasa-url", default="http://localhost:5005", help="Rasa, as browsers reach it")
    args = parser.parse_args()
    if not WIDGET_JS.exists():
        parser.error(f"{WIDGET_JS.relative_to(ROOT)} is missing: run `make widget`")
    try:
        server = DemoServer((args.host, args.port), args.rasa_url)
    except OSError as error:
        parser.exit(1, f"widget demo: cannot listen on {args.host}:{args.port} ({error}); set WIDGET_PORT\n")
    with server, contextlib.suppress(KeyboardInterrupt):  # Ctrl-C in `make run` is the way to stop
        server.serve_forever()


if __name__ == "__main__":
    main()
