"""`make bench`: the project's assistant against a stock Rasa baseline, same data, same load, interleaved.

.venv/bin/python -m benchmarks [--seconds 12] [--rounds 2] [--long 400] [--scale 1]
.venv/bin/python -m benchmarks --ablation [--only NAME,...] [--dry-run] [--no-again] [--scale 1]

--ablation (`make bench-ablation`): the baseline once, then the project once per row, each alone on
the machine: all overrides on, each override switched off in turn (RASA_OVERRIDES_DISABLE=<name>),
all on again; a table of the targets' change vs 'all on' and a verdict per override
(benchmarks/ablation.py). --scale (or BENCH_SCALE) multiplies the run lengths: 0.1 for a smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

import overrides
from benchmarks import ablation, load, report, train
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


ENDPOINTS = {"project": ROOT / "endpoints.yml", "baseline": HERE / "baseline_endpoints.yml"}
CREDENTIALS = {"project": ROOT / "credentials.yml", "baseline": HERE / "baseline_credentials.yml"}
# As `make run` starts them: the project through its launcher with scripts/serve.sh's number of
# workers and rasa-sdk's own action server command; the baseline as `rasa run` (one worker: its
# in-memory lock store allows no more) and `rasa run actions`.
COMMANDS = {"project": [str(BIN / "python"), "-m", "serving.launch"], "baseline": [str(BIN / "rasa")]}
ACTION_COMMANDS = {
    "project": [str(BIN / "python"), "-m", "rasa_sdk"],
    "baseline": [str(BIN / "rasa"), "run", "actions"],
}
# Each side's config and the function listing the other files its model depends on.
MODEL_INPUTS: dict[str, tuple[Path, Callable[[], list[Path]]]] = {
    "project": (ROOT / "config.yml", train.project_extra_inputs),
    "baseline": (HERE / "baseline_config.yml", list),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=float, default=12, help="length of one closed-loop run")
    parser.add_argument("--rounds", type=int, default=2, help="A/B rounds per concurrency level")
    parser.add_argument("--long", type=int, default=400, help="messages in the long conversation")
    parser.add_argument(
        "--scale",
        type=float,
        default=os.environ.get("BENCH_SCALE") or "1",  # a string default goes through `type` too
        help="multiplies --seconds, --rounds and --long (default: BENCH_SCALE, else 1; 0.1 for a smoke run)",
    )
    parser.add_argument(
        "--ablation", action="store_true", help="each override off in turn (make bench-ablation)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="with --ablation: print the rows, start nothing"
    )
    parser.add_argument("--no-again", action="store_true", help="with --ablation: no second 'all on' row")
    parser.add_argument(
        "--only",
        type=lambda value: [name for name in value.split(",") if name],
        default=None,
        metavar="NAME,...",
        help="with --ablation: rows only for these overrides (to re-measure a candidate for removal)",
    )
    args = parser.parse_args(argv)
    if args.scale <= 0:
        parser.error("--scale (BENCH_SCALE) must be above 0")
    if (args.dry_run or args.no_again or args.only is not None) and not args.ablation:
        parser.error("--dry-run, --no-again and --only go with --ablation")
    unknown = sorted(set(args.only or []) - set(overrides.OVERRIDES))
    if unknown or args.only == []:
        parser.error(f"--only takes override names from: {', '.join(overrides.OVERRIDES)}")
    args.seconds *= args.scale
    args.rounds = max(1, round(args.rounds * args.scale))
    args.long = max(2, round(args.long * args.scale))
    return args


def trained_models(env: dict[str, str]) -> dict[str, dict]:
    print("Models:")
    return {
        side: train.trained_model(side, config, extra(), CACHE, env)
        for side, (config, extra) in MODEL_INPUTS.items()
    }


def assistant(side: str, model: Path, env: dict[str, str], workdir: Path) -> Assistant:
    workdir.mkdir(parents=True, exist_ok=True)
    return Assistant(
        side, model, ENDPOINTS[side], CREDENTIALS[side], env, workdir,
        rasa=COMMANDS[side], actions=ACTION_COMMANDS[side],
    )  # fmt: skip


def side_envs(env: dict[str, str]) -> dict[str, dict[str, str]]:
    return {"project": {**env, "SANIC_WORKERS": str(project_workers())}, "baseline": env}


def add_server_measures(result: dict[str, Any], assistant: Assistant, train_seconds: float) -> None:
    """Memory, start-up and training time of one side, and its errors summed over all its runs."""
    result["peak_rss_mb"] = assistant.peak_rss / 2**20
    result["peak_pss_mb"] = assistant.peak_pss / 2**20
    result["startup_seconds"] = assistant.startup_seconds
    result["train_seconds"] = train_seconds
    for count in ("errors", "empty"):
        result[count] = (
            sum(result[k][count] for k in result if k.startswith("users_")) + result["long"][count]
        )


def settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        **vars(args),
        "cpus": os.cpu_count(),
        "project_workers": project_workers(),
        "load_avg_after": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.ablation:
        run_ablation(args)
        return
    script = yaml.safe_load((HERE / "messages.yml").read_text(encoding="utf-8"))["script"]
    env = server_env()
    began = time.monotonic()
    models = trained_models(env)
    envs = side_envs(env)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        assistants = {
            side: assistant(side, models[side]["model"], envs[side], Path(tmp)) for side in report.SIDES
        }
        try:
            results, series = run_load(assistants, script, args)
        finally:
            for running in assistants.values():
                running.stop()
        for side, running in assistants.items():
            add_server_measures(results[side], running, models[side]["train_seconds"])

    results["settings"] = settings(args)
    print()
    print(report.table(results))
    json_path, png_path = report.write(results, series, RESULTS)
    print(
        f"\nWrote {json_path.relative_to(ROOT)} and {png_path.relative_to(ROOT)} "
        f"in {time.monotonic() - began:.0f} s"
    )


def run_ablation(args: argparse.Namespace) -> None:
    names = [name for name in overrides.OVERRIDES if args.only is None or name in args.only]
    rows = ablation.plan(names, again=not args.no_again)
    env = server_env()
    # Each row sets it; an inherited one would skew them all.
    if env.pop(overrides.DISABLE_VARIABLE, ""):
        print(f"Ignoring the inherited {overrides.DISABLE_VARIABLE}: each row sets its own.")
    envs = side_envs(env)
    workers = envs["project"]["SANIC_WORKERS"]
    print(
        f"Ablation: {args.seconds:g} s per run, {args.rounds} round(s), {args.long}-message conversation "
        f"(scale {args.scale:g}); the baseline once, then {len(rows)} rows, each started alone:"
    )
    for row in rows:
        print(f"  {row.label:24} {overrides.DISABLE_VARIABLE}={row.disabled!r} SANIC_WORKERS={workers}")
    if args.dry_run:
        for side, (config, extra) in MODEL_INPUTS.items():
            cached = train.is_cached(side, config, extra(), CACHE)
            print(
                f"  {side} model: {'cached' if cached else 'not cached: trained first'} in build/bench/{side}"
            )
        return

    script = yaml.safe_load((HERE / "messages.yml").read_text(encoding="utf-8"))["script"]
    began = time.monotonic()
    models = trained_models(env)
    with tempfile.TemporaryDirectory(prefix="bench-ablation-") as tmp:
        print("Baseline:")
        baseline = measure_alone(
            "baseline", models["baseline"], envs["baseline"], Path(tmp) / "baseline", script, args
        )
        measured: list[tuple[ablation.Row, dict[str, Any] | None, str]] = []
        for number, row in enumerate(rows):
            print(f"Row {row.label} ({overrides.DISABLE_VARIABLE}={row.disabled!r}):")
            try:
                results = measure_alone(
                    "project", models["project"], {**envs["project"], **row.env()},
                    Path(tmp) / f"row{number}", script, args,
                )  # fmt: skip
                measured.append((row, results, ""))
            except Exception as error:  # one row that fails to start does not lose the others
                print(f"  FAILED: {error}", flush=True)
                measured.append((row, None, str(error)))

    analysis = ablation.analyse(baseline, measured)
    print()
    print(ablation.text(analysis, baseline, measured))
    json_path, md_path = ablation.write(analysis, baseline, measured, settings(args), RESULTS)
    print(
        f"\nWrote {json_path.relative_to(ROOT)} and {md_path.relative_to(ROOT)} "
        f"in {time.monotonic() - began:.0f} s"
    )


def measure_alone(
    side: str, model: dict, env: dict[str, str], workdir: Path, script: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """`make bench`'s load on one assistant with the machine to itself; its results as one side's."""
    running = assistant(side, model["model"], env, workdir)
    try:
        results, _ = run_load({side: running}, script, args)
    finally:
        running.stop()
    add_server_measures(results[side], running, model["train_seconds"])
    return dict(results[side])


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
