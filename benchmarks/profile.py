"""Flame graphs of the per-message path (py-spy) for the project's servers.

    .venv/bin/python -m benchmarks.profile [--model models/assistant.tar.gz] [--warm 300] [--users 1]

Drives one conversation to `--warm` messages, then records the Rasa server (and, separately, the
action server) with py-spy while `--record` more messages are sent by `--users` users. Writes SVG
flame graphs and collapsed stacks (`.folded`, for speedscope or `-m benchmarks.hotspots`) to
results/bench/.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from benchmarks import load
from benchmarks.__main__ import HERE, RESULTS, ROOT, project_workers, server_env
from benchmarks.servers import BIN, Assistant

PY_SPY = Path(sys.executable).parent / "py-spy"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "assistant.tar.gz")
    parser.add_argument("--endpoints", type=Path, default=ROOT / "endpoints.yml")
    parser.add_argument("--credentials", type=Path, default=ROOT / "credentials.yml")
    parser.add_argument("--warm", type=int, default=300, help="messages before recording starts")
    parser.add_argument("--record", type=int, default=100, help="messages sent while recording")
    parser.add_argument("--users", type=int, default=1, help="conversations sending while recording")
    parser.add_argument("--tag", default="project")
    args = parser.parse_args()

    script = yaml.safe_load((HERE / "messages.yml").read_text(encoding="utf-8"))["script"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        # As `make run` starts it: the launcher and its workers (py-spy follows them: --subprocesses).
        env = {**server_env(), "SANIC_WORKERS": str(project_workers())}
        launcher = [str(BIN / "python"), "-m", "serving.launch"]
        assistant = Assistant(
            args.tag, args.model, args.endpoints, args.credentials, env, Path(tmp), rasa=launcher,
            actions=[str(BIN / "python"), "-m", "rasa_sdk"],
        )  # fmt: skip
        try:
            assistant.start(first_message=script[0])
            print(f"first answer after {assistant.startup_seconds:.1f} s")
            sender = f"{args.tag}-profile"
            if args.warm:
                warm = asyncio.run(load.closed_loop(assistant.rasa_url, 1, 3600, script, sender, args.warm))
                print(f"warm-up: {len(warm.samples)} messages, {warm.messages_per_second:.1f} msg/s")
            recorders = []
            for role, pid in zip(("rasa", "actions"), reversed(assistant.pids()), strict=True):
                out = RESULTS / f"profile-{args.tag}-{role}"
                # Collapsed stacks (for benchmarks.hotspots) and a flame graph, recorded side by side.
                for output in (["--format", "raw", "-o", f"{out}.folded"], ["-o", f"{out}.svg"]):
                    command = [str(PY_SPY), "record", "--pid", str(pid), "--rate", "100",
                               "--nonblocking", "--subprocesses", *output]  # fmt: skip
                    recorders.append(
                        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    )
            # The same conversation goes on (message warm+1 onwards) while the others run alongside.
            run = asyncio.run(
                load.closed_loop(assistant.rasa_url, args.users, 3600, script, sender, args.record)
            )
            stats = {q: load.percentile([s.latency for s in run.samples], q) * 1000 for q in (50, 99)}
            print(
                f"recorded: {len(run.samples)} messages, {run.messages_per_second:.1f} msg/s, "
                f"p50 {stats[50]:.0f} ms, p99 {stats[99]:.0f} ms"
            )
            for recorder in recorders:
                recorder.send_signal(2)  # SIGINT: py-spy writes its output and exits
            for recorder in recorders:
                recorder.wait(timeout=60)
            print(f"wrote {RESULTS.relative_to(ROOT)}/profile-{args.tag}-*.svg")
        finally:
            assistant.stop()


if __name__ == "__main__":
    main()
