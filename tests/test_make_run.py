"""`make run` ends every process it started when make alone is signalled (a supervisor, `timeout`)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from console_data import log_in
from servers import ROOT, free_port

pytestmark = [pytest.mark.server, pytest.mark.model, pytest.mark.timeout(600)]


def descendants(root: int) -> set[int]:
    """Every process below `root` now (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signalling_make_alone_stops_every_server(sig, tmp_path) -> None:
    names = ("RASA_PORT", "ACTIONS_PORT", "WIDGET_PORT", "METRICS_PORT", "CONSOLE_PORT")
    ports = {name: free_port() for name in names}
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "RASA_WORKERS": "2"}
    env.pop("LOG_LEVEL", None)
    env.pop("CONSOLE_PASSWORD", None)  # make run generates the console's password and prints it
    log = tmp_path / "make-run.log"
    # Its own process group, as a supervisor starts it; then only make's pid is signalled.
    with log.open("wb") as out:
        make = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{ports['RASA_PORT']}/", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert make.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        time.sleep(2)  # the readiness loop's last curl and sleep are over
        started = descendants(make.pid)  # what runs now: the servers, their workers, serve.sh
        assert all(listening(port) for port in ports.values())
        assert len(started) >= 6  # serve.sh, action server, Rasa and its 2 workers, demo page, console, ...
        console = f"http://localhost:{ports['CONSOLE_PORT']}"
        printed = re.search(
            rf"Operator console .*: {console} +\(password for this run: (\w+)\)", log.read_text()
        )
        assert printed and len(printed[1]) >= 16, log.read_text()[-2000:]
        _, queue = log_in(console, printed[1])
        assert queue.status_code == 200 and queue.url == f"{console}/"

        make.send_signal(sig)
        make.wait(timeout=60)
        # A killed multi-threaded process shows as a zombie while its other threads still exit and
        # hold its sockets for a moment: wait for the ports too.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            any(alive(pid) for pid in started) or any(listening(port) for port in ports.values())
        ):
            time.sleep(0.5)
        left = sorted(pid for pid in started if alive(pid))
        assert not left, f"still running after {sig.name} to make: {left}\n{log.read_text()[-2000:]}"
        still_open = {name: port for name, port in ports.items() if listening(port)}
        holders = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout if still_open else ""
        assert not still_open, f"{still_open}\n{holders}"
    finally:
        for pid in [make.pid, *started]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
