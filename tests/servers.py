"""Starts the real action server and Rasa server on free loopback ports, for tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from benchmarks.servers import free_port, stop, wait_until_up

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MODEL = ROOT / "models" / "assistant.tar.gz"


@dataclass
class Servers:
    rasa_url: str
    actions_url: str
    log: Path
    metrics_url: str = ""  # the exporter's /metrics, with `metrics=True`

    def say(self, sender: str, message: str) -> list[dict]:
        response = requests.post(
            f"{self.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": message},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()


def wait_for(url: str, process: subprocess.Popen, log: Path) -> None:
    """Waits until `url` answers 2xx: the server `process` started is up."""
    wait_until_up(
        url, lambda: requests.get(url, timeout=2).ok, [process], lambda: log.read_text()[-3000:], 180
    )


def start(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


SHIPPED = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))


def shipped_storage(folder: Path) -> str:
    """endpoints.yml's conversation store and lock store (as `make run` has them), on files in `folder`."""
    sections = {key: dict(SHIPPED[key]) for key in ("tracker_store", "lock_store")}
    for section in sections.values():
        section["db"] = str(folder / Path(section["db"]).name)
    return yaml.safe_dump(sections, sort_keys=False)


# The number of Rasa workers scripts/serve.sh starts on this machine (RASA_WORKERS unset).
SHIPPED_WORKERS = str(min(2, os.cpu_count() or 1))


@contextmanager
def running_servers(
    workdir: Path,
    extra_endpoints: str = "",
    actions: bool = True,
    credentials: Path = ROOT / "credentials.yml",
    rasa_port: int | None = None,
    rasa_args: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
    metrics: bool = False,
) -> Iterator[Servers]:
    """The action server and Rasa server as `make run` starts them, on free loopback ports.

    `extra_endpoints` is appended to the endpoints file (e.g. a tracker store); `actions=False`
    leaves the action server down (its port stays closed); a fixed `rasa_port` allows a restart;
    `rasa_args` go to `rasa run` as they are (e.g. `--cors <origin>` for the widget); `extra_env` is
    added to both servers' environment (e.g. the variables a credentials file reads); `metrics=True`
    has the Rasa processes write their metrics into `workdir/metrics` and starts the exporter on a
    free port, as scripts/serve.sh does.
    """
    env = {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "SANIC_HOST": "127.0.0.1",
        "SANIC_REQUEST_MAX_SIZE": "1000000",
        **(extra_env or {}),
    }
    actions_port, rasa_port = free_port(), rasa_port or free_port()
    endpoints = workdir / "endpoints.yml"
    # endpoints.yml's action endpoint settings, on the test's port.
    endpoints.write_text(
        yaml.safe_dump(
            {
                "action_endpoint": {
                    **SHIPPED["action_endpoint"],
                    "url": f"http://127.0.0.1:{actions_port}/webhook",
                }
            }
        )
        + extra_endpoints
    )
    actions_url = f"http://127.0.0.1:{actions_port}"
    rasa_url = f"http://127.0.0.1:{rasa_port}"
    actions_log, rasa_log = workdir / "actions.log", workdir / "rasa.log"
    processes = []
    rasa_env, metrics_url = env, ""
    if metrics:
        (workdir / "metrics").mkdir()
        rasa_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics")}
    try:
        if actions:
            command = [
                str(BIN / "python"),
                "-m",
                "rasa_sdk",  # as scripts/serve.sh starts it
                "--port",
                str(actions_port),
                "--actions",
                "actions",
            ]
            processes.append(start(command, actions_log, env))
        # As scripts/serve.sh starts it (serving/launch.py; SANIC_WORKERS in extra_env sets the workers),
        # beside the action server (Rasa reads nothing from it while starting).
        command = [str(BIN / "python"), "-m", "serving.launch", "run", "-m", str(MODEL),
                   "-i", "127.0.0.1", "-p", str(rasa_port),
                   "--endpoints", str(endpoints), "--credentials", str(credentials), *rasa_args]  # fmt: skip
        processes.append(start(command, rasa_log, rasa_env))
        if actions:
            wait_for(f"{actions_url}/health", processes[0], actions_log)
        wait_for(f"{rasa_url}/", processes[-1], rasa_log)
        if metrics:
            metrics_port, metrics_log = free_port(), workdir / "exporter.log"
            command = [str(BIN / "python"), "-m", "insights.exporter", "--endpoints", str(endpoints),
                       "--host", "127.0.0.1", "--port", str(metrics_port)]  # fmt: skip
            processes.append(start(command, metrics_log, rasa_env))
            metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            wait_for(metrics_url, processes[-1], metrics_log)
        yield Servers(rasa_url=rasa_url, actions_url=actions_url, log=rasa_log, metrics_url=metrics_url)
    finally:
        for process in reversed(processes):
            stop(process)
