"""credentials.messaging.yml, .env.example, docs/channels.md and the pre-flight check agree, hold no
secret, and a missing variable stops `make run CREDENTIALS=...` with its name; plus the channels'
pure helpers (titles, signatures, numbered choices, API URLs); every channel sets the guard's limits."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from channels.facebook import TITLE_CHARS, as_quick_replies, quick_reply_title, signature_valid
from channels.guard import GUARD_KEYS
from channels.twilio import TwilioOutput, chosen
from content import load_content, payload
from scripts.check_credentials import missing, variables

ROOT = Path(__file__).resolve().parent.parent
MESSAGING = ROOT / "credentials.messaging.yml"
PLATFORMS = {
    "channels.telegram.TelegramInput": "telegram",
    "channels.slack.SlackInput": "slack",
    "channels.facebook.FacebookInput": "facebook",
    "channels.twilio.TwilioInput": "twilio",
}
ENV_VAR = re.compile(r"^\$\{[A-Z][A-Z0-9_]*\}$")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def example_names() -> list[str]:
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    return [line.split("=")[0] for line in lines if line.strip() and not line.startswith("#")]


def test_the_messaging_file_keeps_every_channel_of_the_default_one():
    default, messaging = load(ROOT / "credentials.yml"), load(MESSAGING)
    assert {name: messaging.get(name) for name in default} == default


def test_the_messaging_file_enables_the_four_platforms_and_nothing_else():
    assert set(load(MESSAGING)) - set(load(ROOT / "credentials.yml")) == set(PLATFORMS)


def test_every_platform_setting_but_the_limits_comes_from_the_environment():
    messaging = load(MESSAGING)
    for channel in PLATFORMS:
        for key, value in messaging[channel].items():
            if key not in GUARD_KEYS:
                assert isinstance(value, str) and ENV_VAR.match(value), f"{channel}.{key} = {value!r}"


@pytest.mark.parametrize("path", [ROOT / "credentials.yml", MESSAGING], ids=lambda p: p.name)
def test_every_channel_sets_the_guards_limits(path):
    for channel, settings in load(path).items():
        limits = {key: settings.get(key) for key in GUARD_KEYS}
        assert all(isinstance(value, int) and value > 0 for value in limits.values()), (channel, limits)


def test_env_example_names_exactly_the_variables_and_holds_no_value():
    lines = [
        ln for ln in (ROOT / ".env.example").read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*=", line) for line in lines), lines
    assert sorted(example_names()) == sorted(variables(MESSAGING))


def test_the_docs_name_every_variable_and_webhook():
    docs = (ROOT / "docs" / "channels.md").read_text(encoding="utf-8")
    for name in variables(MESSAGING):
        assert f"`{name}`" in docs, name
    for platform in PLATFORMS.values():
        assert f"https://<host>/webhooks/{platform}/webhook" in docs, platform


def test_env_files_are_not_committed():
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, ".env must be git-ignored"


def test_the_check_names_every_missing_or_empty_variable():
    names = variables(MESSAGING)
    environ = dict.fromkeys(names, "set")
    assert missing(MESSAGING, environ) == []
    environ[names[0]] = ""
    del environ[names[-1]]
    assert missing(MESSAGING, environ) == [names[0], names[-1]]
    assert missing(ROOT / "credentials.yml", {}) == []


def without_messaging_variables() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in variables(MESSAGING)}


def test_serve_stops_before_starting_anything_and_names_the_missing_variables():
    env = {**dict.fromkeys(variables(MESSAGING), "x"), **without_messaging_variables()}
    del env["SLACK_SIGNING_SECRET"]
    env["TWILIO_AUTH_TOKEN"] = "  "
    env.update(CREDENTIALS="credentials.messaging.yml", RASA_PORT="1", ACTIONS_PORT="1")
    started = time.monotonic()
    result = subprocess.run(
        ["scripts/serve.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert time.monotonic() - started < 20, "it failed before starting the servers"
    named = re.findall(r"^  ([A-Z_]+)$", result.stderr, re.MULTILINE)
    assert named == ["SLACK_SIGNING_SECRET", "TWILIO_AUTH_TOKEN"], result.stderr
    assert "rasa" not in result.stdout.lower()


def test_the_check_script_exit_codes():
    script = [sys.executable, "scripts/check_credentials.py"]
    run = subprocess.run(
        [*script, "credentials.messaging.yml"], cwd=ROOT, env=without_messaging_variables(),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 2 and "TELEGRAM_TOKEN" in run.stderr
    run = subprocess.run([*script, "credentials.yml"], cwd=ROOT, capture_output=True, timeout=60, check=False)
    assert run.returncode == 0
    run = subprocess.run([*script, "no-such.yml"], cwd=ROOT, capture_output=True, timeout=60, check=False)
    assert run.returncode == 2


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        ("Show all topics", "Show all topics"),
        ("What are withdrawal symptoms?", "What are withdrawal…"),
        ("Does Valium help with withdrawal?", "Does Valium help…"),
        ("Supercalifragilisticexpialidocious", "Supercalifragilisti…"),
    ],
)
def test_messenger_titles_are_cut_at_a_word(title, shown):
    assert quick_reply_title(title) == shown
    assert len(shown) <= TITLE_CHARS


def test_messenger_buttons_keep_short_titles_and_number_long_ones():
    short = [
        {"title": "Show all topics", "payload": "/help_menu"},
        {"title": "None of these", "payload": "/n"},
    ]
    text, quick_replies = as_quick_replies("Hi.", short)
    assert text == "Hi."
    assert [(q["title"], q["payload"]) for q in quick_replies] == [
        ("Show all topics", "/help_menu"),
        ("None of these", "/n"),
    ]

    long = [*short, {"title": "What is medically supervised detox?", "payload": "/ask_detox_options"}]
    text, quick_replies = as_quick_replies("Hi.", long)
    assert text == "Hi.\n1. Show all topics\n2. None of these\n3. What is medically supervised detox?"
    assert [q["title"] for q in quick_replies] == ["1. Show all topics", "2. None of these", "3. What is…"]
    assert [q["payload"] for q in quick_replies] == ["/help_menu", "/n", "/ask_detox_options"]
    assert len(as_quick_replies("Hi.", long * 5)[1]) == 13, "Messenger's limit"


def test_every_button_payload_fits_telegram_callback_data():
    # Telegram refuses a keyboard whose callback_data is over 64 bytes.
    texts = [p.read_text(encoding="utf-8") for p in [ROOT / "domain.yml", *(ROOT / "content").glob("*.yml")]]
    payloads = [
        p.replace("{{", "{").replace("}}", "}") for p in re.findall(r"payload: '([^']+)'", "".join(texts))
    ]
    content = load_content()
    payloads += [payload(intent, med) for intent in content.question_titles for med in content.medications]
    assert payloads
    assert max(len(p.encode()) for p in payloads) <= 64


def test_facebook_signatures():
    body = json.dumps({"object": "page"}).encode()

    def sign(method: str, secret: str = "s3cret") -> str:
        return f"{method}={hmac.new(secret.encode(), body, getattr(hashlib, method)).hexdigest()}"

    assert signature_valid("s3cret", body, {"X-Hub-Signature-256": sign("sha256")})
    assert signature_valid("s3cret", body, {"X-Hub-Signature": sign("sha1")})
    assert not signature_valid("s3cret", body, {"X-Hub-Signature": sign("md5")})
    assert not signature_valid("s3cret", body + b" ", {"X-Hub-Signature-256": sign("sha256")})
    assert not signature_valid("", body, {"X-Hub-Signature-256": sign("sha256", "")}), "an empty secret"
    assert not signature_valid("s3cret", body, {})


@pytest.mark.parametrize(
    ("offered", "text", "expected"),
    [
        (["/one", "/two"], " 2 ", "/two"),
        (["/one", "/two"], "3", "3"),
        (["/one", "/two"], "0", "0"),
        (["/one"], "1 please", "1 please"),
        (None, "1", "1"),
        ([], "1", "1"),
    ],
)
def test_a_bare_number_chooses_from_the_offer(offered, text, expected):
    assert chosen(offered, text) == expected


def test_twilio_api_calls_go_to_the_configured_base_url():
    output = TwilioOutput("AC1", "token", "+15550100001", api_base_url="http://127.0.0.1:9/twilio")
    assert (
        output.get_hostname("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?x=1")
        == "http://127.0.0.1:9/twilio/2010-04-01/Accounts/AC1/Messages.json?x=1"
    )
    default = TwilioOutput("AC1", "token", "+15550100001")
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
    assert default.get_hostname(url) == url
