"""CPU time per message of the project's servers, process by process (Linux /proc).

    .venv/bin/python -m benchmarks.cpu [--model models/assistant.tar.gz] [--users 10] [--messages 40]
                                       [--repeat 3] [--env NAME=VALUE ...]

Starts the servers as `make run` does, warms them up, then sends `--users` conversations of
`--messages` messages each (the benchmark's script, as `make bench` sends it) `--repeat` times, and
prints the CPU seconds the Rasa launcher and its workers and the action server used per answered
message, with the best (lowest) of the repeats.

Why: `make bench`'s throughput at 50 users is CPU per message once both cores are busy, but on this
shared machine a throughput figure moves by 10 % or more from run to run with whatever else runs.
CPU time per message moves much less, so a change of a few per cent to the per-message path can be
seen, and compared with `--env` (for example `RASA_OVERRIDES_DISABLE=numpy_diet`) or between two
checkouts. It does not replace `make bench` (docs/performance.md), which is what the targets are
measured with.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

import yaml

from benchmarks import load
from benchmarks.__main__ import HERE, ROOT, project_workers, server_env
from benchmarks.servers import BIN, Assistant

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree_cpu_seconds(root_pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of every live process in the sessions led by `root_pids`, by pid
    (children of a worker count under the worker: the servers are started with a new session)."""
    seconds: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # The command name is in parentheses and may hold spaces: split after the last ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        session = int(fields[3])
        if session in root_pids:
            user, system = int(fields[11]), int(fields[12])
            seconds[int(entry.name)] = (user + system) / CLOCK_TICKS
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "assistant.tar.gz")
    parser.add_argument("--endpoints", type=Path, default=ROOT / "endpoints.yml")
    parser.add_argument("--credentials", type=Path, default=ROOT / "credentials.yml")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--messages", type=int, default=40, help="messages per conversation")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the servers")
    parser.add_argument("--tag", default="cpu")
    args = parser.parse_args()

    script = yaml.safe_load((HERE / "messages.yml").read_text(encoding="utf-8"))["script"]
    extra = dict(item.split("=", 1) for item in args.env)
    with tempfile.TemporaryDirectory(prefix="cpu-") as tmp:
        env = {**server_env(), "SANIC_WORKERS": str(project_workers()), **extra}
        assistant = Assistant(
            args.tag, args.model, args.endpoints, args.credentials, env, Path(tmp),
            rasa=[str(BIN / "python"), "-m", "serving.launch"],
            actions=[str(BIN / "python"), "-m", "rasa_sdk"],
        )  # fmt: skip
        try:
            assistant.start(first_message=script[0])
            actions_pid, rasa_pid = assistant.pids()
            asyncio.run(load.closed_loop(assistant.rasa_url, args.users, 3600, script, "warm", 10))
            per_message: list[tuple[float, float]] = []
            for repeat in range(args.repeat):
                before = process_tree_cpu_seconds([rasa_pid, actions_pid])
                run = asyncio.run(
                    load.closed_loop(
                        assistant.rasa_url, args.users, 3600, script, f"{args.tag}-{repeat}", args.messages
                    )
                )
                after = process_tree_cpu_seconds([rasa_pid, actions_pid])
                answered = sum(s.ok for s in run.samples) or 1
                used = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
                actions = used.get(actions_pid, 0.0)
                rasa = sum(used.values()) - actions
                per_message.append((rasa / answered * 1000, actions / answered * 1000))
                print(
                    f"run {repeat + 1}: {answered} answered of {len(run.samples)}; CPU per message: "
                    f"Rasa {per_message[-1][0]:.2f} ms, action server {per_message[-1][1]:.2f} ms",
                    flush=True,
                )
            best = min(per_message)
            print(f"best: Rasa {best[0]:.2f} ms, action server {best[1]:.2f} ms per message")
        finally:
            assistant.stop()


if __name__ == "__main__":
    main()
