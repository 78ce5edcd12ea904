"""Starts the real action server and Rasa server on free loopback ports, for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MODEL = ROOT / "models" / "assistant.tar.gz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not up after {timeout}s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass
class Servers:
    rasa_url: str
    actions_url: str

    def say(self, sender: str, message: str) -> list[dict]:
        response = requests.post(
            f"{self.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": message},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()


@contextmanager
def running_servers(workdir: Path, extra_endpoints: str = "") -> Iterator[Servers]:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "SANIC_HOST": "127.0.0.1"}
    actions_port, rasa_port = free_port(), free_port()
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(
        f'action_endpoint:\n  url: "http://127.0.0.1:{actions_port}/webhook"\n{extra_endpoints}'
    )
    processes = []
    try:
        actions_log = workdir / "actions.log"
        processes.append(
            subprocess.Popen(
                [str(BIN / "rasa"), "run", "actions", "--port", str(actions_port), "--actions", "actions"],
                cwd=ROOT,
                env=env,
                stdout=actions_log.open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        rasa_log = workdir / "rasa.log"
        processes.append(
            subprocess.Popen(
                [
                    str(BIN / "rasa"),
                    "run",
                    "-m",
                    str(MODEL),
                    "-i",
                    "127.0.0.1",
                    "-p",
                    str(rasa_port),
                    "--endpoints",
                    str(endpoints),
                    "--credentials",
                    str(ROOT / "credentials.yml"),
                ],
                cwd=ROOT,
                env=env,
                stdout=rasa_log.open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        actions_url = f"http://127.0.0.1:{actions_port}"
        rasa_url = f"http://127.0.0.1:{rasa_port}"
        wait_until_up(f"{actions_url}/health", processes[0], actions_log)
        wait_until_up(f"{rasa_url}/", processes[1], rasa_log)
        yield Servers(rasa_url=rasa_url, actions_url=actions_url)
    finally:
        for process in reversed(processes):
            stop(process)
