"""Summarises the runs: the table printed by `make bench`, its JSON, and a plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.load import Sample, percentile

SIDES = ("project", "baseline")


def latency_stats(samples: list[Sample]) -> dict[str, float]:
    latencies = [s.latency for s in samples if s.ok]
    if not latencies:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    return {f"p{q}": percentile(latencies, q) for q in (50, 95, 99)}


def long_window(samples: list[Sample], first: int, last: int) -> float:
    """Median latency of messages first..last of the long conversation."""
    window = [s.latency for s in samples if first <= s.index <= last and s.ok]
    return percentile(window, 50) if window else float("nan")


# Rows of the table: (label, key in a side's results, unit, how to show it)
ROWS: list[tuple[str, str, str]] = [
    ("1 user: messages/s", "users_1.messages_per_second", "{:.1f}"),
    ("1 user: p50 latency (ms)", "users_1.p50_ms", "{:.0f}"),
    ("1 user: p95 latency (ms)", "users_1.p95_ms", "{:.0f}"),
    ("1 user: p99 latency (ms)", "users_1.p99_ms", "{:.0f}"),
    ("10 users: messages/s", "users_10.messages_per_second", "{:.1f}"),
    ("10 users: p50 latency (ms)", "users_10.p50_ms", "{:.0f}"),
    ("10 users: p95 latency (ms)", "users_10.p95_ms", "{:.0f}"),
    ("10 users: p99 latency (ms)", "users_10.p99_ms", "{:.0f}"),
    ("50 users: messages/s", "users_50.messages_per_second", "{:.1f}"),
    ("50 users: p50 latency (ms)", "users_50.p50_ms", "{:.0f}"),
    ("50 users: p95 latency (ms)", "users_50.p95_ms", "{:.0f}"),
    ("50 users: p99 latency (ms)", "users_50.p99_ms", "{:.0f}"),
    ("long conversation: msgs 1-25 p50 (ms)", "long.first_ms", "{:.0f}"),
    ("long conversation: msgs 376-400 p50 (ms)", "long.last_ms", "{:.0f}"),
    ("long conversation: last / first", "long.growth", "{:.2f}"),
    ("peak memory (PSS), all server processes (MB)", "peak_pss_mb", "{:.0f}"),
    ("peak RSS summed over server processes (MB)", "peak_rss_mb", "{:.0f}"),
    ("start-up to first answer (s)", "startup_seconds", "{:.1f}"),
    ("training time, cold (s)", "train_seconds", "{:.0f}"),
    ("errors (no answer, or HTTP error)", "errors", "{:.0f}"),
    ("answers with no message (not errors)", "empty", "{:.0f}"),
]

# Targets from the issue: (description, ratio key, holds when)
TARGETS = [
    ("messages/s at 50 users >= 3x baseline", "users_50.messages_per_second", lambda r: r >= 3.0),
    ("p50 at 1 user <= 0.5x baseline", "users_1.p50_ms", lambda r: r <= 0.5),
    ("peak memory (PSS) <= baseline", "peak_pss_mb", lambda r: r <= 1.0),
    ("start-up to first answer <= baseline", "startup_seconds", lambda r: r <= 1.0),
]


def lookup(side: dict[str, Any], dotted: str) -> float:
    value: Any = side
    for part in dotted.split("."):
        value = value.get(part, float("nan")) if isinstance(value, dict) else float("nan")
    return float(value)


def ratio(results: dict[str, Any], key: str) -> float:
    base = lookup(results["baseline"], key)
    return lookup(results["project"], key) / base if base else float("nan")


def table(results: dict[str, Any]) -> str:
    width = max(len(label) for label, _, _ in ROWS)
    lines = [f"{'':{width}}  {'project':>10}  {'baseline':>10}  {'ratio':>7}"]
    for label, key, shape in ROWS:
        project, baseline = lookup(results["project"], key), lookup(results["baseline"], key)
        lines.append(
            f"{label:{width}}  {shape.format(project):>10}  {shape.format(baseline):>10}  "
            f"{ratio(results, key):>7.2f}"
        )
    lines.append("")
    lines.append("Targets (from one run):")
    for description, key, holds in TARGETS:
        value = ratio(results, key)
        lines.append(f"  [{'met' if holds(value) else 'NOT met'}] {description}: {value:.2f}")
    growth = lookup(results["project"], "long.growth")
    lines.append(
        f"  [{'met' if growth <= 1.5 else 'NOT met'}] project: messages 376-400 <= 1.5x messages 1-25: "
        f"{growth:.2f}"
    )
    return "\n".join(lines)


def write(results: dict[str, Any], series: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "bench.json"
    json_path.write_text(json.dumps({**results, "series": series}, indent=2))
    return json_path, plot(results, series, folder / "bench.png")


def plot(results: dict[str, Any], series: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_index, by_users) = plt.subplots(1, 2, figsize=(11, 4))
    colours = {"project": "tab:blue", "baseline": "tab:orange"}
    for side in SIDES:
        latencies = series[side]["long_latency_ms"]
        by_index.plot(range(1, len(latencies) + 1), latencies, label=side, linewidth=0.8, color=colours[side])
        users = sorted(series[side]["by_users"], key=int)
        by_users.plot(
            [int(u) for u in users],
            [series[side]["by_users"][u]["p50_ms"] for u in users],
            marker="o",
            color=colours[side],
            label=f"{side} p50",
        )
        by_users.plot(
            [int(u) for u in users],
            [series[side]["by_users"][u]["p99_ms"] for u in users],
            marker="x",
            linestyle="--",
            color=colours[side],
            label=f"{side} p99",
        )
    by_index.set(title="One long conversation", xlabel="message index", ylabel="latency (ms)")
    by_users.set(title="Concurrent users (closed loop)", xlabel="users", ylabel="latency (ms)")
    by_index.set_yscale("log")
    by_users.set_yscale("log")
    by_index.legend()
    by_users.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
