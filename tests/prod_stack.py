"""Drives the production profile (scripts/prod.sh) on free loopback ports, for tests/test_prod_profile.py."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import requests
from prometheus_client.parser import text_string_to_metric_families
from requests.adapters import HTTPAdapter
from servers import ROOT, free_port

PROD_SCRIPT = ROOT / "scripts" / "prod.sh"
PORT_VARIABLES = (
    "PROD_HTTP_PORT",
    "PROD_RASA1_PORT",
    "PROD_RASA2_PORT",
    "PROD_ACTIONS_PORT",
    "PROD_METRICS_PORT",
    "PROD_CONSOLE_PORT",
    "DB_PORT",
    "REDIS_PORT",
)

ACCESS_LINE = re.compile(
    r'^\S+ (?P<remote>\S+) "(?P<request>[^"]*)" (?P<status>\d+) \d+ '
    r"upstream=(?P<upstream>.*) upstream_status=.* rt=\S+$"
)


def read_env_file(path: Path) -> dict[str, str]:
    """prod.env as scripts/prod.sh writes it (KEY=value, values shell-quoted)."""
    values = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = " ".join(shlex.split(value))
    return values


class SourceAddress(HTTPAdapter):
    """Connects from a given local address (any 127.x.y.z is this machine's loopback)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client_from(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", SourceAddress(address))
    return session


def address_of(sender: str) -> str:
    """The loopback address a conversation's person sends from: nginx limits requests per client
    address, and fifty conversations at once are fifty people, not one."""
    number = zlib.crc32(sender.encode()) % (250 * 250)
    return f"127.1.{number // 250}.{number % 250 + 1}"


@dataclass
class AccessLine:
    remote: str
    method: str
    path: str
    status: int
    upstream: str


@dataclass
class ProdStack:
    """One production profile in its own PROD_DIR, with the ports chosen when it was first started."""

    prod_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    started_in: float = 0.0  # seconds the first `up` took

    @classmethod
    def create(cls, prod_dir: Path) -> ProdStack:
        return cls(prod_dir=prod_dir, env={name: str(free_port()) for name in PORT_VARIABLES})

    def run(self, command: str, timeout: float = 900) -> str:
        env = {**os.environ, **self.env, "PROD_DIR": str(self.prod_dir)}
        done = subprocess.run(
            [str(PROD_SCRIPT), command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"prod.sh {command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def up(self) -> None:
        self.run("up")
        self.env = read_env_file(self.prod_dir / "prod.env")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['PROD_HTTP_PORT']}"

    def rasa_url(self, number: int) -> str:
        return f"http://127.0.0.1:{self.env[f'PROD_RASA{number}_PORT']}"

    def upstream(self, number: int) -> str:
        """A Rasa server as nginx's access log names it."""
        return f"127.0.0.1:{self.env[f'PROD_RASA{number}_PORT']}"

    def pid(self, service: str) -> int | None:
        path = self.prod_dir / "run" / f"{service}.pid"
        return int(path.read_text()) if path.exists() else None

    def kill(self, service: str, timeout: float = 30) -> None:
        """SIGKILL, as a crash would: no graceful shutdown."""
        pid = self.pid(service)
        assert pid is not None, f"{service} has no pid file"
        os.killpg(pid, signal.SIGKILL)
        if not gone(pid, timeout):
            raise TimeoutError(f"{service} ({pid}) still alive {timeout}s after SIGKILL")

    def say(self, sender: str, message: str, base_url: str | None = None) -> requests.Response:
        """Sends a message, from the sender's own address (address_of) when it goes through nginx."""
        with client_from("127.0.0.1" if base_url else address_of(sender)) as client:
            return client.post(
                f"{base_url or self.url}/webhooks/rest/webhook",
                json={"sender": sender, "message": message},
                timeout=180,
            )

    def metric(self, name: str) -> float:
        """The exporter's sum of a sample over all its labels (both Rasa servers, every channel)."""
        page = requests.get(f"http://127.0.0.1:{self.env['PROD_METRICS_PORT']}/metrics", timeout=30)
        page.raise_for_status()
        families = text_string_to_metric_families(page.text)
        return sum(sample.value for family in families for sample in family.samples if sample.name == name)

    def access_log(self, start: int = 0) -> list[AccessLine]:
        """nginx's access log (deploy/nginx.conf.tmpl, format `upstreams`) from line `start` on."""
        path = self.prod_dir / "log" / "nginx-access.log"
        lines = []
        for raw in path.read_text().splitlines()[start:]:
            match = ACCESS_LINE.match(raw)
            assert match, f"unexpected access log line: {raw}"
            # After a retry nginx lists every server it tried ("A, B"): the last one answered.
            upstream = match["upstream"].split(",")[-1].strip()
            method, path_ = ([*match["request"].split(" "), "", ""])[:2]
            lines.append(AccessLine(match["remote"], method, path_, int(match["status"]), upstream))
        return lines

    def access_log_length(self) -> int:
        path = self.prod_dir / "log" / "nginx-access.log"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def database(self):
        return psycopg2.connect(
            host="127.0.0.1",
            port=int(self.env["DB_PORT"]),
            dbname=self.env["DB_NAME"],
            user=self.env["DB_USER"],
            password=self.env["DB_PASSWORD"],
            connect_timeout=10,
        )

    def stored_events(self, senders: list[str]) -> dict[str, list[tuple[str, str]]]:
        """Each conversation as PostgreSQL holds it: (type, text or action name), in stored order."""
        history: dict[str, list[tuple[str, str]]] = {sender: [] for sender in senders}
        with self.database() as connection, connection.cursor() as cursor:
            cursor.execute(
                "SELECT sender_id, type_name, data FROM events WHERE sender_id = ANY(%s) ORDER BY id",
                (senders,),
            )
            for sender, kind, data in cursor.fetchall():
                event = json.loads(data)
                if kind in ("user", "bot"):
                    history[sender].append((kind, event.get("text") or ""))
                elif kind == "action":
                    history[sender].append((kind, event.get("name") or ""))
        return history


def gone(pid: int, timeout: float) -> bool:
    """Whether process `pid` has ended within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False
