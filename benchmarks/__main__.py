"""`make bench`: the project's assistant against a stock Rasa baseline, same data, same load, interleaved.

.venv/bin/python -m benchmarks [--seconds 12] [--rounds 2] [--long 400]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks import load, report, train
from benchmarks.servers import BIN, Assistant

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "benchmarks"
CACHE = ROOT / "build" / "bench"
RESULTS = ROOT / "results" / "bench"
CONCURRENCY = (1, 10, 50)


def server_env() -> dict[str, str]:
    """The environment `make run` gives the servers."""
    return {
        **train.clean_env(),
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
        "SANIC_HOST": "127.0.0.1",
        # Rasa's default; set because the benchmark reads each worker's "up and running" line.
        "LOG_LEVEL": "INFO",
        # As scripts/serve.sh: bodies over 1 MB are refused before they are read.
        "SANIC_REQUEST_MAX_SIZE": "1000000",
    }


def project_workers() -> int:
    """The number of Rasa workers scripts/serve.sh starts when RASA_WORKERS is not set."""
    return int(os.environ.get("RASA_WORKERS") or min(2, os.cpu_count() or 1))


def summarise(samples: list[load.Sample], seconds: float) -> dict[str, float]:
    stats = report.latency_stats(samples)
    answered = sum(s.ok for s in samples)
    return {
        "messages": len(samples),
        "messages_per_second": answered / seconds if seconds else 0.0,
        **{f"{k}_ms": v * 1000 for k, v in stats.items()},
        "errors": len(samples) - answered,
        "empty": sum(s.empty for s in samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=float, default=12, help="length of one closed-loop run")
    parser.add_argument("--rounds", type=int, default=2, help="A/B rounds per concurrency level")
    parser.add_argument("--long", type=int, default=400, help="messages in the long conversation")
    args = parser.parse_args()

    script = yaml.safe_load((HERE / "messages.yml").read_text(encoding="utf-8"))["script"]
    env = server_env()
    began = time.monotonic()
    print("Models:")
    models = {
        "project": train.trained_model(
            "project", ROOT / "config.yml", train.project_extra_inputs(), CACHE, env
        ),
        "baseline": train.trained_model("baseline", HERE / "baseline_config.yml", [], CACHE, env),
    }
    endpoints = {"project": ROOT / "endpoints.yml", "baseline": HERE / "baseline_endpoints.yml"}
    credentials = {"project": ROOT / "credentials.yml", "baseline": HERE / "baseline_credentials.yml"}

    # As `make run` starts them: the project through its launcher with scripts/serve.sh's number of
    # workers and rasa-sdk's own action server command; the baseline as `rasa run` (one worker: its
    # in-memory lock store allows no more) and `rasa run actions`.
    commands = {"project": [str(BIN / "python"), "-m", "serving.launch"], "baseline": [str(BIN / "rasa")]}
    action_commands = {
        "project": [str(BIN / "python"), "-m", "rasa_sdk"],
        "baseline": [str(BIN / "rasa"), "run", "actions"],
    }
    envs = {"project": {**env, "SANIC_WORKERS": str(project_workers())}, "baseline": env}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        assistants = {
            side: Assistant(
                side, models[side]["model"], endpoints[side], credentials[side], envs[side], Path(tmp),
                rasa=commands[side], actions=action_commands[side],
            )
            for side in report.SIDES
        }  # fmt: skip
        try:
            results, series = run_load(assistants, script, args)
        finally:
            for assistant in assistants.values():
                assistant.stop()
        for side, assistant in assistants.items():
            results[side]["peak_rss_mb"] = assistant.peak_rss / 2**20
            results[side]["peak_pss_mb"] = assistant.peak_pss / 2**20
            results[side]["startup_seconds"] = assistant.startup_seconds
            results[side]["train_seconds"] = models[side]["train_seconds"]
            for count in ("errors", "empty"):
                results[side][count] = (
                    sum(results[side][k][count] for k in results[side] if k.startswith("users_"))
                    + results[side]["long"][count]
                )

    results["settings"] = {
        **vars(args),
        "cpus": os.cpu_count(),
        "project_workers": project_workers(),
        "load_avg_after": os.getloadavg(),
    }
    print()
    print(report.table(results))
    json_path, png_path = report.write(results, series, RESULTS)
    print(
        f"\nWrote {json_path.relative_to(ROOT)} and {png_path.relative_to(ROOT)} "
        f"in {time.monotonic() - began:.0f} s"
    )


def run_load(
    assistants: dict[str, Assistant], script: list[str], args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    # Started one at a time so that each start-up has the machine to itself.
    for side, assistant in assistants.items():
        print(f"Starting {side} ...", flush=True)
        assistant.start(first_message=script[0])
        print(f"  first answer after {assistant.startup_seconds:.1f} s")
    for side, assistant in assistants.items():
        asyncio.run(load.closed_loop(assistant.rasa_url, 1, 30, script, f"warmup-{side}", max_messages=10))

    results: dict[str, Any] = {side: {} for side in assistants}
    series: dict[str, Any] = {side: {"by_users": {}} for side in assistants}
    for users in CONCURRENCY:
        collected: dict[str, list[load.Sample]] = {side: [] for side in assistants}
        seconds = dict.fromkeys(assistants, 0.0)
        for round_ in range(args.rounds):
            # A B, then B A: a trend in the machine's load falls on both sides alike.
            order = list(assistants) if round_ % 2 == 0 else list(reversed(assistants))
            for side in order:
                run = asyncio.run(
                    load.closed_loop(
                        assistants[side].rasa_url, users, args.seconds, script, f"c{users}-r{round_}-{side}"
                    )
                )
                collected[side] += run.samples
                seconds[side] += run.seconds
                print(
                    f"  {users:>2} users, round {round_ + 1}, {side:8}: "
                    f"{run.messages_per_second:6.1f} msg/s, "
                    f"p50 {report.latency_stats(run.samples)['p50'] * 1000:6.0f} ms",
                    flush=True,
                )
        for side in assistants:
            summary = summarise(collected[side], seconds[side])
            results[side][f"users_{users}"] = summary
            series[side]["by_users"][str(users)] = summary

    print(f"  long conversation: {args.long} messages to each, alternating ...", flush=True)
    long_samples = asyncio.run(
        load.lockstep_conversations(
            {side: a.rasa_url for side, a in assistants.items()}, args.long, script, "long"
        )
    )
    last_first = max(1, args.long - 24)
    for side, samples in long_samples.items():
        first = report.long_window(samples, 1, 25)
        last = report.long_window(samples, last_first, args.long)
        results[side]["long"] = {
            "first_ms": first * 1000,
            "last_ms": last * 1000,
            "growth": last / first if first else float("nan"),
            "errors": sum(not s.ok for s in samples),
            "empty": sum(s.empty for s in samples),
        }
        series[side]["long_latency_ms"] = [s.latency * 1000 for s in samples]
    return results, series


if __name__ == "__main__":
    main()
