"""The real servers with credentials.messaging.yml, and local stand-ins for the platforms' send APIs.

Everything listens on 127.0.0.1. The stand-ins answer as the platforms document and record every
request, so a test can check what reached "Telegram", "Slack", "Messenger" or "Twilio", and the
callback receiver records what the callback channel posts. Secrets are generated per run.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import yaml
from servers import ROOT, Servers, free_port, running_servers, shipped_storage

from channels.inbound import notice

TELEGRAM = "channels.telegram.TelegramInput"
SLACK = "channels.slack.SlackInput"
FACEBOOK = "channels.facebook.FacebookInput"
TWILIO = "channels.twilio.TwilioInput"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


Responder = Callable[[Recorded], tuple[int, Any]]


@dataclass
class LoopbackRecorder:
    """An HTTP server on a free loopback port that records requests and answers with `respond`."""

    respond: Responder
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._changed = threading.Condition()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def handle_any(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Recorded(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                status, body = recorder.respond(request)
                # Recorded before the reply goes out: a client that sends its next request once
                # answered (mark_seen, then typing_on) could otherwise be recorded out of order by
                # a second handler thread.
                with recorder._changed:
                    recorder.requests.append(request)
                    recorder._changed.notify_all()
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                kind = "text/plain" if isinstance(body, str) else "application/json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = handle_any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> LoopbackRecorder:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def matching(self, predicate: Callable[[Recorded], bool]) -> list[Recorded]:
        with self._changed:
            return [r for r in self.requests if predicate(r)]

    def wait_for(
        self, predicate: Callable[[Recorded], bool], count: int = 1, timeout: float = 60
    ) -> list[Recorded]:
        """The matching requests once there are `count` of them; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [r for r in self.requests if predicate(r)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(found)} of {count} expected requests after {timeout}s")
                self._changed.wait(min(left, 1.0))

    def settle(self, predicate: Callable[[Recorded], bool], quiet: float = 1.5, timeout: float = 60) -> list:
        """The matching requests once none has arrived for `quiet` seconds (all replies are in)."""
        deadline = time.monotonic() + timeout
        seen = -1
        while time.monotonic() < deadline:
            found = self.matching(predicate)
            if found and len(found) == seen:
                return found
            seen = len(found)
            time.sleep(quiet)
        raise AssertionError(f"replies still arriving (or none) after {timeout}s")


def generated_environment(rasa_url: str) -> dict[str, str]:
    """Values for every variable credentials.messaging.yml reads: test-only, made up here."""
    return {
        "TELEGRAM_TOKEN": f"{secrets.randbelow(10**9) + 10**8}:{secrets.token_urlsafe(27)}",
        "TELEGRAM_BOT_NAME": f"faq_test_{secrets.token_hex(3)}_bot",
        "TELEGRAM_WEBHOOK_URL": f"{rasa_url}/webhooks/telegram/webhook",
        "TELEGRAM_WEBHOOK_SECRET": secrets.token_urlsafe(24),
        "SLACK_TOKEN": f"xoxb-test-{secrets.token_hex(12)}",
        "SLACK_SIGNING_SECRET": secrets.token_hex(16),
        "FACEBOOK_VERIFY_TOKEN": secrets.token_urlsafe(16),
        "FACEBOOK_APP_SECRET": secrets.token_hex(16),
        "FACEBOOK_PAGE_ACCESS_TOKEN": f"EAAtest{secrets.token_urlsafe(24)}",
        "TWILIO_ACCOUNT_SID": f"AC{secrets.token_hex(16)}",
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        "TWILIO_NUMBER": "+15550100001",
        "TWILIO_WHATSAPP_NUMBER": "whatsapp:+15550100002",
        "TWILIO_WEBHOOK_URL": f"{rasa_url}/webhooks/twilio/webhook",
    }


class FakePlatforms:
    """Answers as Telegram's Bot API, Slack's Web API, the Graph API and Twilio's REST API do, for the
    calls Rasa's connectors make, and refuses calls without the right token."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.sent = 0

    def __call__(self, request: Recorded) -> tuple[int, Any]:
        self.sent += 1
        platform = request.path.split("/")[1]
        if platform not in ("telegram", "slack", "facebook", "twilio"):
            return 404, {"error": f"no platform at {request.path}"}
        return getattr(self, platform)(request)

    def telegram(self, request: Recorded) -> tuple[int, Any]:
        match = re.fullmatch(r"/telegram/bot(?P<token>[^/]+)/(?P<method>\w+)", request.path)
        if not match or match["token"] != self.env["TELEGRAM_TOKEN"]:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = match["method"].lower()
        if method == "getme":
            bot_id = int(self.env["TELEGRAM_TOKEN"].split(":")[0])
            name = self.env["TELEGRAM_BOT_NAME"]
            user = {"id": bot_id, "is_bot": True, "first_name": "FAQ", "username": name}
            return 200, {"ok": True, "result": user}
        if method == "setwebhook":
            return 200, {"ok": True, "result": True, "description": "Webhook was set"}
        if method == "sendmessage":
            form = request.form()
            chat = {"id": int(form["chat_id"]), "type": "private"}
            message = {"message_id": self.sent, "date": int(time.time()), "chat": chat, "text": form["text"]}
            return 200, {"ok": True, "result": message}
        return 400, {"ok": False, "error_code": 400, "description": f"method {method} not faked"}

    def slack(self, request: Recorded) -> tuple[int, Any]:
        if request.headers.get("authorization") != f"Bearer {self.env['SLACK_TOKEN']}":
            return 200, {"ok": False, "error": "invalid_auth"}
        if request.path != "/slack/api/chat.postMessage":
            return 200, {"ok": False, "error": "unknown_method"}
        body = request.json()
        return 200, {"ok": True, "channel": body["channel"], "ts": f"{time.time():.6f}", "message": body}

    def facebook(self, request: Recorded) -> tuple[int, Any]:
        if request.query.get("access_token") != [self.env["FACEBOOK_PAGE_ACCESS_TOKEN"]]:
            return 400, {"error": {"message": "Invalid OAuth access token.", "code": 190}}
        if request.path != "/facebook/me/messages":
            return 400, {"error": {"message": "Unknown path", "code": 100}}
        recipient = request.json()["recipient"]["id"]
        return 200, {"recipient_id": recipient, "message_id": f"m_{self.sent}"}

    def twilio(self, request: Recorded) -> tuple[int, Any]:
        sid, token = self.env["TWILIO_ACCOUNT_SID"], self.env["TWILIO_AUTH_TOKEN"]
        expected = "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        if request.path != f"/twilio/2010-04-01/Accounts/{sid}/Messages.json":
            return 404, {"code": 20404, "message": "The requested resource was not found", "status": 404}
        form = request.form()
        message = {
            "sid": f"SM{secrets.token_hex(16)}",
            "account_sid": sid,
            "to": form["To"],
            "from": form["From"],
            "body": form["Body"],
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": "1",
            "api_version": "2010-04-01",
        }
        return 201, message


@dataclass
class Messaging:
    servers: Servers
    platforms: LoopbackRecorder
    callback: LoopbackRecorder
    env: dict[str, str]

    @property
    def rasa_url(self) -> str:
        return self.servers.rasa_url


def messaging_credentials(platforms_url: str, callback_url: str) -> dict[str, Any]:
    """credentials.messaging.yml with the platforms' API URLs pointed at the stand-ins, the callback
    channel at the receiver, and the ${VAR}s left for Rasa to expand."""
    credentials = yaml.safe_load((ROOT / "credentials.messaging.yml").read_text(encoding="utf-8"))
    credentials[TELEGRAM]["api_base_url"] = f"{platforms_url}/telegram"
    credentials[SLACK]["api_base_url"] = f"{platforms_url}/slack/api/"
    credentials[FACEBOOK]["graph_url"] = f"{platforms_url}/facebook"
    credentials[TWILIO]["api_base_url"] = f"{platforms_url}/twilio"
    callbacks = [name for name in credentials if name.lower().endswith(("callback", "callbackinput"))]
    assert len(callbacks) == 1, f"one callback channel expected in credentials.messaging.yml, got {callbacks}"
    credentials[callbacks[0]]["url"] = callback_url
    return credentials


@contextmanager
def messaging_servers(
    workdir: Path, rasa_port: int | None = None, env: dict[str, str] | None = None
) -> Iterator[Messaging]:
    """The servers with credentials.messaging.yml, conversations on SQLite in `workdir` (as `make run`
    keeps them). The same `workdir`, `rasa_port` and `env` again start the same servers anew."""
    rasa_port = rasa_port or free_port()
    env = env or generated_environment(f"http://127.0.0.1:{rasa_port}")
    with (
        LoopbackRecorder(FakePlatforms(env)) as platforms,
        LoopbackRecorder(lambda _: (200, "ok")) as callback,
    ):
        credentials = workdir / "credentials.yml"
        credentials.write_text(yaml.safe_dump(messaging_credentials(platforms.url, f"{callback.url}/bot")))
        with running_servers(
            workdir, shipped_storage(workdir), credentials=credentials, rasa_port=rasa_port, extra_env=env
        ) as servers:
            yield Messaging(servers=servers, platforms=platforms, callback=callback, env=env)


Send = Callable[[str], requests.Response]


RESPONSES = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
# What the assistant says to a "no" to "Was this helpful?".
# the English variation (the Spanish one, conditioned on the language slot, comes first)
FEEDBACK_NO_REPLY = next(v["text"] for v in RESPONSES["utter_feedback_no"] if "condition" not in v)


def prompt_as_buttons(replies: list[dict]) -> list[dict]:
    """REST replies as Telegram, Slack and Messenger get them: the "Was this helpful?" element
    (channels/feedback.py) is its prompt with Yes / No buttons."""
    return [
        {"text": m["feedback"]["prompt"], "buttons": [m["feedback"]["yes"], m["feedback"]["no"]]}
        if "feedback" in m
        else m
        for m in replies
    ]


def without_prompt(replies: list[dict]) -> list[dict]:
    """REST replies as SMS gets them: no "Was this helpful?"."""
    return [m for m in replies if "feedback" not in m]


def limit(channel: str, key: str) -> int:
    """One of the guard's limits for `channel` in credentials.messaging.yml."""
    return int(yaml.safe_load((ROOT / "credentials.messaging.yml").read_text(encoding="utf-8"))[channel][key])


def check_an_over_long_message_is_cut(channel: str, send: Send, sent_texts: Callable[[], list[str]]) -> None:
    """The guard's treatment of a message over the channel's limit: the person is told it was cut,
    then answered."""
    max_chars = limit(channel, "max_message_chars")
    reply = send("does valium help with opioid withdrawal " + "a" * max_chars)
    assert reply.ok, reply.text
    texts = sent_texts()
    assert texts[0] == notice("too_long", max_chars=max_chars)
    assert len(texts) >= 2, "the message was still answered"


def check_a_flood_is_limited(channel: str, send: Send, sent_texts: Callable[[], list[str]]) -> None:
    """The guard's treatment of one sender sending faster than the limits allow: the messages over
    the limit get the rate-limit notice instead of an answer, and the platform's requests all succeed
    (an error status would make the platform deliver them again)."""
    per_minute = limit(channel, "messages_per_minute")
    messages = per_minute + 10
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(send, ["hello"] * messages))
    assert all(reply.ok for reply in replies), {reply.status_code for reply in replies}
    assert sent_texts().count(notice("rate_limited")) >= messages - per_minute
