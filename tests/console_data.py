"""Realistic rows for the console's tables (insights/schema.py), for its tests and its screenshot."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
import sqlalchemy as sa
import yaml

from insights import schema

CRISIS_TEXT = "i took all my pills and want to die"  # never stored by the recorder; never shown
# Open queue items: (text, reason, channel, guesses, answer, comment). Three alike wordings first.
QUEUE = [
    (
        "can i take valium for the shakes when kicking",
        "did_you_mean",
        "socketio",
        [("ask_med_helps", 0.41), ("ask_withdrawal_symptoms", 0.32), ("ask_benzo_opioid_mix", 0.11)],
        None,
        None,
    ),
    (
        "can I take valium for the shakes when kicking?",
        "did_you_mean",
        "rest",
        [("ask_med_helps", 0.44), ("ask_withdrawal_symptoms", 0.30), ("ask_benzo_opioid_mix", 0.12)],
        None,
        None,
    ),
    (
        "can i take valium for shakes while kicking",
        "none_of_these",
        "telegram",
        [("ask_med_helps", 0.39), ("ask_withdrawal_symptoms", 0.35), ("ask_treatment_options", 0.08)],
        None,
        None,
    ),
    (
        "is gabapentin ok during detox",
        "did_you_mean",
        "socketio",
        [("ask_treatment_options", 0.38), ("ask_med_helps", 0.35), ("ask_withdrawal_symptoms", 0.10)],
        None,
        None,
    ),
    (
        "is gabapentin okay during detox?",
        "out_of_scope",
        "slack",
        [("out_of_scope", 0.52), ("ask_treatment_options", 0.21), ("ask_med_helps", 0.12)],
        None,
        None,
    ),
    (
        "does kratom help with withdrawal",
        "not_helpful",
        "socketio",
        [("ask_med_helps", 0.71), ("ask_treatment_options", 0.14), ("ask_withdrawal_symptoms", 0.05)],
        "helps.kratom",
        "whether kratom is safe, text me at [phone removed]",
    ),
    (
        "what's the weather like",
        "out_of_scope",
        "rest",
        [("out_of_scope", 0.81), ("greet", 0.05), ("goodbye", 0.03)],
        None,
        None,
    ),
    (
        "how long do wds last from subs",
        "did_you_mean",
        "messenger",
        [("ask_withdrawal_symptoms", 0.43), ("ask_med_helps", 0.28), ("ask_treatment_options", 0.12)],
        None,
        None,
    ),
]


# Open queue items in Spanish, the same shape: their own group each (no English wording is alike).
SPANISH_QUEUE = [
    (
        "¿el valium sirve para los temblores de la abstinencia?",
        "did_you_mean",
        "socketio",
        [("ask_med_helps", 0.46), ("ask_withdrawal_symptoms", 0.31), ("ask_benzo_opioid_mix", 0.09)],
        None,
        None,
    ),
    (
        "cuanto duran los sintomas de abstinencia del suboxone",
        "not_helpful",
        "telegram",
        [("ask_withdrawal_timeline", 0.64), ("ask_med_what_is", 0.12), ("ask_withdrawal_symptoms", 0.1)],
        "withdrawal_timeline",
        "cuántos días exactamente",
    ),
]
# The share of the demo conversations held in Spanish.
SPANISH_SHARE = 0.2


def make_database(path: Path, now: float | None = None, seed: int = 7) -> sa.engine.Engine:
    """A SQLite database at `path` with 30 days of turns, feedback, open and done queue items."""
    now = time.time() if now is None else now
    engine = sa.create_engine(f"sqlite:///{path}")
    schema.create_tables(engine)
    rng = random.Random(seed)
    topics = {
        "ask_med_helps": ("medications", "helps.valium"),
        "ask_med_risks": ("medications", "risks.klonopin"),
        "ask_withdrawal_symptoms": ("withdrawal", "withdrawal_symptoms"),
        "ask_benzo_opioid_mix": ("benzodiazepines", "benzo_opioid_mix"),
        "ask_treatment_options": ("treatment", "treatment_options"),
        "ask_opiates_vs_opioids": ("background", "opiates_vs_opioids"),
    }
    kinds = [
        (schema.ANSWER, 62),
        (schema.DID_YOU_MEAN, 9),
        (schema.OUT_OF_SCOPE, 5),
        (schema.OTHER, 16),
        (schema.HELP, 4),
        (schema.DOSING, 2),
        (schema.FALLBACK, 1),
        (schema.CRISIS, 1),
    ]
    turns, feedback = [], []
    channels = ["socketio", "socketio", "socketio", "rest", "telegram", "slack", "messenger"]
    for day in range(30):
        for n in range(rng.randint(15, 45) + day):
            hour = min(23, max(0, int(rng.gauss(15, 4))))
            ts = now - (29 - day) * 86400 - (now % 86400) + hour * 3600 + rng.random() * 3599
            if ts > now:
                continue
            conversation = schema.conversation_key(f"demo-{day}-{n // 4}")
            # Seeded by the conversation: its messages share one language, and `rng` draws as before.
            language = "es" if random.Random(f"{seed}-{day}-{n // 4}").random() < SPANISH_SHARE else "en"
            kind = rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
            intent, (_topic, answer) = rng.choice(list(topics.items()))
            channel = rng.choice(channels)
            turns.append(
                {
                    "ts": ts,
                    "conversation": conversation,
                    "channel": channel,
                    "intent": intent,
                    "confidence": 0.9,
                    "kind": kind,
                    "answer": answer if kind == schema.ANSWER else None,
                    "language": language,
                }
            )
            if kind == schema.ANSWER and rng.random() < 0.3:
                feedback.append(
                    {
                        "ts": ts + 20,
                        "conversation": conversation,
                        "channel": channel,
                        "answer": answer,
                        "helpful": rng.random() < 0.8,
                        "intent": intent,
                        "confidence": 0.9,
                        "language": language,
                    }
                )
    queue = [
        {
            "ts": now - 3600 * (i + 1),
            "conversation": schema.conversation_key(f"q{i}"),
            "channel": channel,
            "reason": reason,
            "text": text,
            "answer": answer,
            "comment": comment,
            "guesses": json.dumps([{"intent": g, "confidence": c} for g, c in guesses]),
            "language": language,
        }
        for i, (language, (text, reason, channel, guesses, answer, comment)) in enumerate(
            [("en", entry) for entry in QUEUE] + [("es", entry) for entry in SPANISH_QUEUE]
        )
    ]
    # A message that looked like a crisis: the recorder stores no text at all.
    queue.append(
        {
            "ts": now - 7200,
            "conversation": schema.conversation_key("c"),
            "channel": "socketio",
            "reason": "did_you_mean",
            "text": None,
            # Never stored by the recorder either; here to show the console would not display it.
            "comment": CRISIS_TEXT,
            "guesses": json.dumps([{"intent": "crisis", "confidence": 0.4}]),
        }
    )
    queue.append(
        {
            "ts": now - 86400 * 3,
            "conversation": schema.conversation_key("d"),
            "channel": "rest",
            "reason": "out_of_scope",
            "text": "who won the game last night",
            "guesses": "[]",
            "status": schema.MARKED_OUT_OF_SCOPE,
            "resolved_ts": now - 86400 * 2,
            "resolution": "marked out of scope",
        }
    )
    blank = {
        "answer": None,
        "comment": None,
        "status": schema.OPEN,
        "resolved_ts": None,
        "resolution": None,
        "language": "en",
    }
    queue = [{**blank, **item} for item in queue]
    with engine.begin() as connection:
        connection.execute(schema.turns.insert(), turns)
        connection.execute(schema.feedback.insert(), feedback)
        connection.execute(schema.queue.insert(), queue)
    return engine


# -- the console as `make run` starts it, on a copy of the project's training data ---------------

PASSWORD = "correct horse battery"


def copy_project(target: Path) -> Path:
    """data/, domain.yml and config.yml copied to `target`: the console writes there, never in the repo."""
    root = Path(__file__).resolve().parent.parent
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(root / "data", target / "data")
    for name in ("domain.yml", "config.yml"):
        shutil.copy2(root / name, target / name)
    return target


def nlu_snapshot(project: Path) -> dict[str, bytes]:
    """Every file under the project's data/nlu (data/nlu/es too), by its path there."""
    folder = project / "data" / "nlu"
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@dataclass
class RunningConsole:
    url: str
    project: Path
    database: Path
    engine: sa.engine.Engine
    log: Path

    def nlu_snapshot(self) -> dict[str, bytes]:
        return nlu_snapshot(self.project)

    def queue_snapshot(self) -> list[dict]:
        with self.engine.connect() as connection:
            query = sa.select(schema.queue).order_by(schema.queue.c.id)
            return [dict(row._mapping) for row in connection.execute(query)]


@contextmanager
def running_console(workdir: Path, env: dict[str, str] | None = None) -> Iterator[RunningConsole]:
    """`python -m console` (as scripts/serve.sh starts it) on a free port, demo rows in a temp SQLite DB."""
    from servers import free_port, start, stop, wait_for

    project = copy_project(workdir / "project")
    database = workdir / "conversations.db"
    engine = make_database(database)
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(
        yaml.safe_dump({"tracker_store": {"type": "sql", "dialect": "sqlite", "db": str(database)}})
    )
    port = free_port()
    log = workdir / "console.log"
    command = [sys.executable, "-m", "console", "--endpoints", str(endpoints), "--port", str(port),
               "--project", str(project)]  # fmt: skip
    process = start(command, log, {**os.environ, "CONSOLE_PASSWORD": PASSWORD, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/login", process, log)
        yield RunningConsole(url=url, project=project, database=database, engine=engine, log=log)
    finally:
        stop(process)
        engine.dispose()


def csrf_of(html: str) -> str:
    """The CSRF token of a console page's forms."""
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def log_in(url: str, password: str = PASSWORD) -> tuple[requests.Session, requests.Response]:
    """Logs in to the console at `url` as a browser does (login page, its token, the form)."""
    http = requests.Session()
    token = csrf_of(http.get(f"{url}/login", timeout=10).text)
    return http, http.post(f"{url}/login", data={"csrf": token, "password": password}, timeout=10)
