"""Starts one assistant (action server + Rasa server) as scripts/serve.sh does, on free loopback ports;
the waiting and stopping that tests/servers.py shares."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(
    what: str,
    ready: Callable[[], bool],
    processes: Sequence[subprocess.Popen],
    log_tail: Callable[[], str],
    timeout: float,
    interval: float = 0.5,
) -> None:
    """Returns once `ready()` is true; raises, naming `what` and showing `log_tail()`, when one of the
    processes exits first or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{what}: a server exited ({process.returncode}):\n{log_tail()}")
        try:
            if ready():
                return
        except requests.RequestException:
            # With several workers the port accepts connections before a worker has loaded the model.
            pass
        time.sleep(interval)
    raise TimeoutError(f"{what}: not up after {timeout}s:\n{log_tail()}")


def stop(process: subprocess.Popen) -> None:
    """Stops the process's whole group: SIGTERM, then SIGKILL if it is still there after 20 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def process_memory_bytes(pgids: list[int] | set[int]) -> dict[int, tuple[int, int]]:
    """Resident and proportional memory (RSS, PSS) of each process in these process groups, by pid."""
    memory = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            # Fields after the command name: state, ppid, pgrp, ..., rss is field 24 (index 21 here).
            if int(fields[2]) not in pgids:
                continue
            rss = int(fields[21]) * PAGE_SIZE
            with open(f"/proc/{entry.name}/smaps_rollup", encoding="ascii") as handle:
                pss = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("Pss:"))
        except (OSError, ValueError, IndexError, StopIteration):
            continue
        memory[int(entry.name)] = (rss, pss)
    return memory


def group_memory_bytes(pgids: list[int]) -> tuple[int, int]:
    """Resident and proportional memory (RSS, PSS) summed over every process in these process groups.

    RSS counts a page shared by several processes (a forked worker's pages it has not written to,
    a library both servers load) once in each; PSS splits it among them, so the PSS of a group adds
    up to the memory it takes. Both are reported; the memory target compares PSS.
    """
    memory = process_memory_bytes(pgids).values()
    return sum(rss for rss, _ in memory), sum(pss for _, pss in memory)


@dataclass
class Assistant:
    """One running assistant; `peak_rss` and `peak_pss` are sampled from launch until stop.

    `rasa` is the command that starts the Rasa server (`rasa` itself, or the project's launcher),
    `actions` the one that starts the action server (`rasa run actions`, or rasa-sdk's own).
    """

    name: str
    model: Path
    endpoints: Path
    credentials: Path
    env: dict[str, str]
    workdir: Path
    rasa: list[str] = field(default_factory=lambda: [str(BIN / "rasa")])
    actions: list[str] = field(default_factory=lambda: [str(BIN / "rasa"), "run", "actions"])
    rasa_url: str = ""
    startup_seconds: float = 0.0
    peak_rss: int = 0
    peak_pss: int = 0
    processes: list[subprocess.Popen] = field(default_factory=list)
    _sampling: threading.Event = field(default_factory=threading.Event)
    _sampler: threading.Thread | None = None

    def start(self, first_message: str, timeout: float = 300) -> None:
        """Launches both servers and waits for the first REST answer; records the time that took."""
        actions_port, rasa_port = free_port(), free_port()
        self.rasa_url = f"http://127.0.0.1:{rasa_port}"
        endpoints = self.workdir / f"{self.name}-endpoints.yml"
        endpoints.write_text(endpoints_for(self.endpoints, actions_port, self.workdir / self.name))
        credentials = self.workdir / f"{self.name}-credentials.yml"
        credentials.write_text(credentials_for(self.credentials))
        began = time.monotonic()
        self._launch(
            "actions",
            [*self.actions, "--port", str(actions_port), "--actions", "actions"],
        )
        self._launch(
            "rasa",
            [
                *self.rasa,
                "run",
                "-m",
                str(self.model),
                "-i",
                "127.0.0.1",
                "-p",
                str(rasa_port),
                "--endpoints",
                str(endpoints),
                "--credentials",
                str(credentials),
            ],
        )
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

        def answers() -> bool:
            reply = requests.post(
                f"{self.rasa_url}/webhooks/rest/webhook",
                json={"sender": f"{self.name}-startup", "message": first_message},
                timeout=30,
            )
            return reply.ok and bool(reply.json())

        wait_until_up(self.name, answers, self.processes, self.log_tail, timeout, interval=0.1)
        self.startup_seconds = time.monotonic() - began
        self._wait_for_all_workers(began + timeout)

    def _wait_for_all_workers(self, deadline: float) -> None:
        """With several workers the first answers before the others have loaded the model (they load
        in turn): wait for all, so that their loading overlaps neither the other side's start-up
        nor any measurement."""
        workers = int(self.env.get("SANIC_WORKERS") or 1)
        log = self.workdir / f"{self.name}-rasa.log"
        while log.read_text(errors="replace").count("Rasa server is up and running") < workers:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: not all {workers} workers up:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, chars: int = 3000) -> str:
        """The end of both servers' logs (the work folder is removed when the benchmark ends)."""
        tails = []
        for role in ("actions", "rasa"):
            log = self.workdir / f"{self.name}-{role}.log"
            if log.exists():
                tails.append(f"--- {log.name}\n{log.read_text(errors='replace')[-chars:]}")
        return "\n".join(tails)

    def _launch(self, role: str, command: list[str]) -> None:
        log = (self.workdir / f"{self.name}-{role}.log").open("w")
        self.processes.append(
            subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def _sample(self) -> None:
        pgids = [p.pid for p in self.processes]
        while not self._sampling.is_set():
            rss, pss = group_memory_bytes(pgids)
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self._sampling.wait(0.25)

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def stop(self) -> None:
        self._sampling.set()
        if self._sampler is not None:
            self._sampler.join(timeout=5)
        for process in reversed(self.processes):
            stop(process)


def endpoints_for(source: Path, actions_port: int, scratch: Path) -> str:
    """The given endpoints file with the action server on its free port and SQLite files in `scratch`."""
    endpoints = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    endpoints["action_endpoint"] = {
        **(endpoints.get("action_endpoint") or {}),
        "url": f"http://127.0.0.1:{actions_port}/webhook",
    }
    store = endpoints.get("tracker_store") or {}
    locks = endpoints.get("lock_store") or {}
    for section in (store, locks):
        if (section is locks or section.get("dialect") == "sqlite") and section.get("db"):
            # The same kind of store as `make run`, on a fresh file: a run neither reads nor fills var/.
            scratch.mkdir(parents=True, exist_ok=True)
            section["db"] = str(scratch / Path(section["db"]).name)
    return yaml.safe_dump(endpoints, sort_keys=False)


# A load test sends one sender's next message as soon as the last is answered, far above what a
# person types: the per-sender rate limit (credentials.yml) would answer 429 instead of measuring.
UNLIMITED_PER_MINUTE = 1_000_000


def credentials_for(source: Path) -> str:
    """The given credentials file with per-sender rate limits lifted; everything else as it is."""
    credentials = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    for settings in credentials.values():
        if isinstance(settings, dict) and "messages_per_minute" in settings:
            settings["messages_per_minute"] = UNLIMITED_PER_MINUTE
    return yaml.safe_dump(credentials, sort_keys=False)
