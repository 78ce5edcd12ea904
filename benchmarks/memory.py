"""Where the servers' memory peak comes from: PSS of each server process over time, start-up to load.

.venv/bin/python -m benchmarks.memory [--model models/assistant.tar.gz] [--users 50] [--seconds 20]

Starts the project as `make bench` does (serving/launch.py, two workers, rasa-sdk's action server),
samples the PSS of every process of both servers every 0.25 s while the workers load the model,
then under a closed-loop load, and prints the peak (when, and which process held what), the total
once all workers are up and at the end of the load, and a timeline every 2 s with one column per
process. `make bench` reports only the peak of the sum; this tells a transient (a worker loading
while another already holds the model) from the steady state. Extra `NAME=value` arguments are
added to the servers' environment (e.g. `RASA_OVERRIDES_DISABLE=numpy_diet`).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from benchmarks import load
from benchmarks.__main__ import HERE, ROOT, assistant, server_env, side_envs
from benchmarks.servers import process_memory_bytes

MB = 2**20


@dataclass
class Sample:
    seconds: float
    pss: dict[int, int] = field(default_factory=dict)  # bytes per process id

    @property
    def total(self) -> int:
        return sum(self.pss.values())


def peak(samples: list[Sample]) -> Sample:
    return max(samples, key=lambda s: s.total)


def timeline(samples: list[Sample], every: float = 2.0) -> list[str]:
    """One line per `every` seconds: time, total and each process's PSS in MB."""
    lines, last = [], -every
    for sample in samples:
        if sample.seconds - last >= every:
            columns = " ".join(f"{v / MB:5.0f}" for v in sample.pss.values())
            lines.append(f"{sample.seconds:6.1f} s {sample.total / MB:6.0f} MB   {columns}")
            last = sample.seconds
    return lines


def describe(name: str, sample: Sample) -> str:
    processes = ", ".join(f"{pid}: {v / MB:.0f}" for pid, v in sample.pss.items())
    return f"{name:<20} {sample.total / MB:6.0f} MB at {sample.seconds:5.1f} s  ({processes})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "assistant.tar.gz")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("env", nargs="*", metavar="NAME=value", help="added to the servers' environment")
    args = parser.parse_args(argv)
    env = side_envs(server_env())["project"]
    env.update(dict(item.split("=", 1) for item in args.env))
    script = yaml.safe_load((HERE / "messages.yml").read_text(encoding="utf-8"))["script"]

    samples: list[Sample] = []
    done = threading.Event()
    with tempfile.TemporaryDirectory(prefix="memory-") as tmp:
        running = assistant("project", args.model, env, Path(tmp))
        began = time.monotonic()

        def sample() -> None:
            while not done.is_set():
                if running.processes:
                    memory = process_memory_bytes({p.pid for p in running.processes})
                    pss = {pid: memory[pid][1] for pid in sorted(memory)}  # in the order started
                    samples.append(Sample(time.monotonic() - began, pss))
                done.wait(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            running.start(first_message=script[0])
            up = samples[-1]
            asyncio.run(load.closed_loop(running.rasa_url, args.users, args.seconds, script, "memory"))
            loaded = samples[-1]
        finally:
            done.set()
            sampler.join(timeout=5)
            running.stop()
    print(describe("peak", peak(samples)))
    print(describe("all workers up", up))
    print(describe(f"end of {args.users}-user load", loaded))
    print("\n".join(timeline(samples)))


if __name__ == "__main__":
    main()
