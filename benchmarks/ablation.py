"""The ablation table of `make bench-ablation`: each override switched off in turn, against 'all on'.

The servers and the load are `make bench`'s (benchmarks/__main__.py); this module only decides which
rows are run with which environment and turns their results into the table, its verdicts and files.

A row's change on a target is (row - 'all on') / 'all on', in %, of the project's own measure. The
baseline is measured once and shared by every row, so that is also the change of the row's ratio to
the baseline. What an override *buys* on a target is how much worse the target gets when it is off
(a drop for messages/s, a rise for latency, memory, start-up and growth): an override keeps its
place if it buys at least THRESHOLD_PERCENT on at least one target.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import report
from overrides import DISABLE_VARIABLE

THRESHOLD_PERCENT = 10.0
ALL_ON = "all on"
ALL_ON_AGAIN = "all on, again"
KEEPS = "keeps its place"
CANDIDATE = "candidate for removal"
NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Target:
    name: str
    key: str  # in one side's results (report.lookup)
    higher_is_better: bool
    against_baseline: bool  # shown as the ratio to the baseline; otherwise the project's own value


# `make bench`'s five targets (report.TARGETS and the long conversation's growth).
TARGETS = (
    Target("50 users msg/s", "users_50.messages_per_second", True, True),
    Target("1 user p50", "users_1.p50_ms", False, True),
    Target("peak PSS", "peak_pss_mb", False, True),
    Target("start-up", "startup_seconds", False, True),
    Target("last/first", "long.growth", False, False),
)


@dataclass(frozen=True)
class Row:
    label: str
    disabled: str  # the override switched off in this row; "" for all on

    def env(self) -> dict[str, str]:
        return {DISABLE_VARIABLE: self.disabled}


def plan(names: list[str], again: bool = True) -> list[Row]:
    """'all on', one row per override with only that one off, and (`again`) 'all on' once more at the
    end: how far two runs of the same code differ is the noise the verdicts have to clear."""
    rows = [Row(ALL_ON, ""), *(Row(f"{name} off", name) for name in names)]
    return [*rows, Row(ALL_ON_AGAIN, "")] if again else rows


def change_percent(value: float, reference: float) -> float:
    if not reference or math.isnan(value) or math.isnan(reference):
        return float("nan")
    return (value - reference) / reference * 100


def bought_percent(target: Target, change: float) -> float:
    """How much worse the target is with the override off, in % (negative: better off)."""
    return -change if target.higher_is_better else change


def verdict(changes: dict[str, float], threshold: float = THRESHOLD_PERCENT) -> str:
    """KEEPS if the override buys >= threshold % on any target, else CANDIDATE; NOT_MEASURED when no
    target reaches the threshold and some could not be measured."""
    # Rounded: 1.1 -> 1.21 is a change of 10 %, not of 9.999999999999998 %.
    bought = {t.name: round(bought_percent(t, changes[t.name]), 6) for t in TARGETS}
    if any(b >= threshold for b in bought.values()):
        return KEEPS
    if any(math.isnan(b) for b in bought.values()):
        return NOT_MEASURED
    return CANDIDATE


def notes(
    changes: dict[str, float],
    results: dict[str, Any],
    override_off: bool,
    threshold: float = THRESHOLD_PERCENT,
) -> list[str]:
    """What the verdict does not say: targets that are better by >= threshold with the override off
    (`override_off`: the row switches one off), and failed requests."""
    found = [
        f"better off on {t.name} ({changes[t.name]:+.0f} %)"
        for t in TARGETS
        if override_off and round(bought_percent(t, changes[t.name]), 6) <= -threshold
    ]
    errors = report.lookup(results, "errors")
    if errors:
        found.append(f"{errors:.0f} failed requests")
    return found


def analyse(
    baseline: dict[str, Any],
    measured: list[tuple[Row, dict[str, Any] | None, str]],
    threshold: float = THRESHOLD_PERCENT,
) -> dict[str, Any]:
    """`measured`: (row, the project's results as `make bench` records one side, or None, error).

    Returns the table as data: per row the targets' values (ratios to the baseline where the target
    is one), their change vs 'all on' in %, the verdict and notes."""
    reference = next((r for row, r, _ in measured if row.label == ALL_ON and r is not None), None)
    rows = []
    for row, results, error in measured:
        entry: dict[str, Any] = {"label": row.label, "disabled": row.disabled, "env": row.env()}
        if results is None:
            entry.update(
                values=dict.fromkeys((t.name for t in TARGETS), float("nan")),
                changes=dict.fromkeys((t.name for t in TARGETS), float("nan")),
                verdict=NOT_MEASURED,
                notes=[error.strip().splitlines()[0] if error.strip() else "failed"],
            )
            rows.append(entry)
            continue
        values = {
            t.name: report.ratio({"project": results, "baseline": baseline}, t.key)
            if t.against_baseline
            else report.lookup(results, t.key)
            for t in TARGETS
        }
        changes = {
            t.name: change_percent(
                report.lookup(results, t.key),
                report.lookup(reference, t.key) if reference is not None else float("nan"),
            )
            for t in TARGETS
        }
        if row.label == ALL_ON:
            row_verdict = "reference"
        elif not row.disabled:
            row_verdict = noise_verdict(changes, threshold)
        else:
            row_verdict = verdict(changes, threshold)
        entry.update(
            values=values,
            changes=changes,
            verdict=row_verdict,
            notes=notes(changes, results, bool(row.disabled), threshold),
        )
        rows.append(entry)
    return {"threshold_percent": threshold, "targets": [t.name for t in TARGETS], "rows": rows}


def noise_verdict(changes: dict[str, float], threshold: float = THRESHOLD_PERCENT) -> str:
    """For 'all on' run again: the same code, so any change is noise."""
    noisy = [name for name, change in changes.items() if round(abs(change), 6) >= threshold]
    if noisy:
        return f"noise >= {threshold:.0f} % on {', '.join(noisy)}: re-run before removing anything"
    if any(math.isnan(c) for c in changes.values()):
        return NOT_MEASURED
    return f"noise under {threshold:.0f} %"


def _cell(value: float, change: float, shape: str) -> str:
    if math.isnan(value):
        return "-"
    return shape.format(value) if math.isnan(change) else f"{shape.format(value)} ({change:+.0f} %)"


def markdown_table(header: list[str], lines: list[list[str]]) -> str:
    header, lines = (
        [h.replace("|", "\\|") for h in header],
        [[c.replace("|", "\\|") for c in line] for line in lines],
    )
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(len(header))]
    out = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    out += ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |" for line in lines]
    return "\n".join(out)


def summary(analysis: dict[str, Any]) -> str:
    """One row per run: each target's value (ratio to the baseline, or the project's own last/first)
    with its change vs 'all on', the verdict and notes."""
    header = ["row", *(f"{t.name}{' ratio' if t.against_baseline else ''}" for t in TARGETS), "verdict"]
    lines = []
    for row in analysis["rows"]:
        cells = [
            _cell(
                row["values"][t.name],
                float("nan") if row["label"] == ALL_ON else row["changes"][t.name],
                "{:.2f}",
            )
            for t in TARGETS
        ]
        text = row["verdict"] + ("; " + "; ".join(row["notes"]) if row["notes"] else "")
        lines.append([row["label"], *cells, text])
    return markdown_table(header, lines)


def measures(baseline: dict[str, Any], measured: list[tuple[Row, dict[str, Any] | None, str]]) -> str:
    """Every measure of `make bench`'s table for the baseline and each row, with the ratio to the baseline."""
    header = ["", "baseline", *(row.label for row, _, _ in measured)]
    lines = []
    for label, key, shape in report.ROWS:
        cells = [shape.format(report.lookup(baseline, key))]
        for _, results, _ in measured:
            if results is None:
                cells.append("-")
                continue
            value = shape.format(report.lookup(results, key))
            ratio = report.ratio({"project": results, "baseline": baseline}, key)
            cells.append(value if math.isnan(ratio) else f"{value} ({ratio:.2f})")
        lines.append([label, *cells])
    return markdown_table(header, lines)


def text(
    analysis: dict[str, Any],
    baseline: dict[str, Any],
    measured: list[tuple[Row, dict[str, Any] | None, str]],
) -> str:
    threshold = analysis["threshold_percent"]
    return "\n".join(
        [
            "Each override switched off in turn (RASA_OVERRIDES_DISABLE=<name>); the baseline measured once.",
            f"Cells: ratio to the baseline (last/first: the project's own) and, in brackets, the change vs "
            f"'{ALL_ON}'. Verdict: '{KEEPS}' if switching the override off makes any target worse by "
            f">= {threshold:.0f} %, else '{CANDIDATE}'.",
            "",
            summary(analysis),
            "",
            "Every measure (ratio to the baseline in brackets):",
            "",
            measures(baseline, measured),
        ]
    )


def write(
    analysis: dict[str, Any],
    baseline: dict[str, Any],
    measured: list[tuple[Row, dict[str, Any] | None, str]],
    settings: dict[str, Any],
    folder: Path,
) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / "ablation.json", folder / "ablation.md"
    document = {
        **analysis,
        "settings": settings,
        "baseline": baseline,
        "results": {row.label: {"results": results, "error": error} for row, results, error in measured},
    }
    json_path.write_text(json.dumps(document, indent=2))
    md_path.write_text(
        f"# Override ablation (`make bench-ablation`)\n\n{text(analysis, baseline, measured)}\n"
    )
    return json_path, md_path
