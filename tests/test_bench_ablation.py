"""`make bench-ablation` (benchmarks/ablation.py, `python -m benchmarks --ablation`): the rows, the
changes vs 'all on', the verdicts and the files, on synthetic numbers; no server is started."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import benchmarks.__main__ as bench
import overrides
from benchmarks import ablation, report
from benchmarks.ablation import ALL_ON, ALL_ON_AGAIN, CANDIDATE, KEEPS, NOT_MEASURED, Row

ROOT = Path(__file__).resolve().parent.parent


def side(
    msgs_50: float = 100.0,
    p50_1: float = 20.0,
    pss: float = 1000.0,
    startup: float = 15.0,
    growth: float = 1.1,
    errors: int = 0,
) -> dict[str, Any]:
    """One side's results as `make bench` records them, the targets' measures as given."""
    users = {
        f"users_{n}": {
            "messages": 100,
            "messages_per_second": msgs_50 if n == 50 else 50.0,
            "p50_ms": p50_1 if n == 1 else 100.0,
            "p95_ms": 200.0,
            "p99_ms": 300.0,
            "errors": 0,
            "empty": 0,
        }
        for n in bench.CONCURRENCY
    }
    return {
        **users,
        "long": {"first_ms": 20.0, "last_ms": 20.0 * growth, "growth": growth, "errors": 0, "empty": 0},
        "peak_pss_mb": pss,
        "peak_rss_mb": pss * 1.5,
        "startup_seconds": startup,
        "train_seconds": 100.0,
        "errors": errors,
        "empty": 0,
    }


BASELINE = side(msgs_50=30.0, p50_1=70.0, pss=1200.0, startup=35.0, growth=8.0)


def row(name: str) -> Row:
    return Row(f"{name} off", name)


def analysed(*measured: tuple[Row, dict[str, Any] | None, str]) -> dict[str, dict[str, Any]]:
    analysis = ablation.analyse(BASELINE, list(measured))
    return {r["label"]: r for r in analysis["rows"]}


def test_the_plan_is_all_on_then_each_override_alone_then_all_on_again() -> None:
    rows = ablation.plan(list(overrides.OVERRIDES))
    assert rows[0] == Row(ALL_ON, "")
    assert rows[-1] == Row(ALL_ON_AGAIN, "")
    assert [r.disabled for r in rows[1:-1]] == list(overrides.OVERRIDES)
    assert [r.env() for r in rows[1:-1]] == [{overrides.DISABLE_VARIABLE: n} for n in overrides.OVERRIDES]
    assert rows[0].env() == {overrides.DISABLE_VARIABLE: ""}
    assert ablation.plan(["a"], again=False) == [Row(ALL_ON, ""), Row("a off", "a")]


def test_the_targets_are_make_bench_s_five() -> None:
    assert {t.key for t in ablation.TARGETS} == {key for _, key, _ in report.TARGETS} | {"long.growth"}
    assert [t.key for t in ablation.TARGETS if not t.against_baseline] == ["long.growth"]


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        # Off: 50-user throughput 12 % lower -> the override buys 12 %.
        ({"msgs_50": 88.0}, KEEPS),
        # Exactly 10 % counts.
        ({"p50_1": 22.0}, KEEPS),
        ({"pss": 1100.0}, KEEPS),
        ({"startup": 16.5}, KEEPS),
        ({"growth": 1.21}, KEEPS),
        # Under 10 % on every target, some on several at once.
        ({"msgs_50": 91.0, "p50_1": 21.9, "pss": 1090.0, "startup": 16.0, "growth": 1.2}, CANDIDATE),
        ({}, CANDIDATE),
        # Better with the override off does not count as what it buys.
        ({"msgs_50": 150.0, "p50_1": 10.0, "startup": 5.0}, CANDIDATE),
    ],
)
def test_verdict_is_keeps_its_place_when_off_is_worse_by_ten_percent_on_any_target(changed, expected) -> None:
    rows = analysed((Row(ALL_ON, ""), side(), ""), (row("x"), side(**changed), ""))
    assert rows["x off"]["verdict"] == expected


def test_changes_are_percent_vs_all_on_and_cells_are_ratios_to_the_baseline() -> None:
    rows = analysed((Row(ALL_ON, ""), side(), ""), (row("x"), side(msgs_50=75.0, pss=1100.0), ""))
    off = rows["x off"]
    assert off["changes"]["50 users msg/s"] == pytest.approx(-25.0)
    assert off["changes"]["peak PSS"] == pytest.approx(10.0)
    assert off["changes"]["1 user p50"] == pytest.approx(0.0)
    # The baseline is shared: the change of the ratio is the change of the measure.
    assert off["values"]["50 users msg/s"] == pytest.approx(75.0 / 30.0)
    assert rows[ALL_ON]["values"]["50 users msg/s"] == pytest.approx(100.0 / 30.0)
    assert off["values"]["50 users msg/s"] / rows[ALL_ON]["values"]["50 users msg/s"] == pytest.approx(0.75)
    # last/first is the project's own, as the target is.
    assert off["values"]["last/first"] == pytest.approx(1.1)
    assert rows[ALL_ON]["verdict"] == "reference"


def test_an_override_better_switched_off_is_noted() -> None:
    rows = analysed((Row(ALL_ON, ""), side(), ""), (row("x"), side(startup=12.0, errors=3), ""))
    assert rows["x off"]["verdict"] == CANDIDATE
    assert rows["x off"]["notes"] == ["better off on start-up (-20 %)", "3 failed requests"]


def test_a_row_that_failed_is_not_measured_and_the_others_still_judged() -> None:
    rows = analysed(
        (Row(ALL_ON, ""), side(), ""),
        (row("x"), None, "project: a server exited (1):\n--- project-rasa.log\nTraceback"),
        (row("y"), side(msgs_50=50.0), ""),
    )
    assert rows["x off"]["verdict"] == NOT_MEASURED
    assert rows["x off"]["notes"] == ["project: a server exited (1):"]
    assert rows["y off"]["verdict"] == KEEPS


def test_without_a_measured_all_on_no_override_is_judged() -> None:
    rows = analysed((Row(ALL_ON, ""), None, "boom"), (row("x"), side(), ""))
    assert rows["x off"]["verdict"] == NOT_MEASURED
    assert all(math.isnan(c) for c in rows["x off"]["changes"].values())


def test_a_missing_measure_is_not_a_candidate_unless_another_target_already_keeps_it() -> None:
    missing = side()
    del missing["startup_seconds"]
    rows = analysed((Row(ALL_ON, ""), side(), ""), (row("x"), missing, ""))
    assert rows["x off"]["verdict"] == NOT_MEASURED
    missing["users_50"]["messages_per_second"] = 50.0
    rows = analysed((Row(ALL_ON, ""), side(), ""), (row("x"), missing, ""))
    assert rows["x off"]["verdict"] == KEEPS


def test_all_on_again_reports_the_noise_either_way() -> None:
    quiet = analysed((Row(ALL_ON, ""), side(), ""), (Row(ALL_ON_AGAIN, ""), side(pss=1050.0), ""))
    assert quiet[ALL_ON_AGAIN]["verdict"] == "noise under 10 %"
    noisy = analysed((Row(ALL_ON, ""), side(), ""), (Row(ALL_ON_AGAIN, ""), side(msgs_50=115.0), ""))
    assert noisy[ALL_ON_AGAIN]["verdict"].startswith("noise >= 10 % on 50 users msg/s")
    assert noisy[ALL_ON_AGAIN]["notes"] == []  # no override is off: nothing is "better off"


def test_text_and_files(tmp_path) -> None:
    measured = [
        (Row(ALL_ON, ""), side(), ""),
        (row("gc_freeze"), side(pss=1300.0), ""),
        (row("numpy_diet"), side(msgs_50=98.0), ""),
        (row("load_in_turn"), None, "TimeoutError: not up"),
    ]
    analysis = ablation.analyse(BASELINE, measured)
    text = ablation.text(analysis, BASELINE, measured)
    lines = text.splitlines()
    gc_line = next(line for line in lines if line.startswith("| gc_freeze off"))
    assert "1.08 (+30 %)" in gc_line  # PSS 1300/1200 against the baseline, +30 % against all on
    assert gc_line.rstrip(" |").endswith(KEEPS)
    assert (
        next(line for line in lines if line.startswith("| numpy_diet off")).rstrip(" |").endswith(CANDIDATE)
    )
    assert "TimeoutError: not up" in next(line for line in lines if line.startswith("| load_in_turn off"))
    # Every measure of make bench's table, for the baseline and every row.
    for label, _, _ in report.ROWS:
        assert any(line.startswith(f"| {label} ") for line in lines), label

    json_path, md_path = ablation.write(analysis, BASELINE, measured, {"scale": 0.1}, tmp_path)
    assert (json_path.name, md_path.name) == ("ablation.json", "ablation.md")
    document = json.loads(json_path.read_text())
    assert [r["verdict"] for r in document["rows"]] == ["reference", KEEPS, CANDIDATE, NOT_MEASURED]
    assert document["settings"] == {"scale": 0.1}
    assert document["results"]["load_in_turn off"] == {"results": None, "error": "TimeoutError: not up"}
    assert text in md_path.read_text()


def test_scale_shortens_every_run_length(monkeypatch) -> None:
    monkeypatch.delenv("BENCH_SCALE", raising=False)
    full = bench.parse_args(["--ablation"])
    assert (full.seconds, full.rounds, full.long, full.scale) == (12, 2, 400, 1)
    monkeypatch.setenv("BENCH_SCALE", "0.1")
    smoke = bench.parse_args(["--ablation"])
    assert (smoke.seconds, smoke.rounds, smoke.long) == (pytest.approx(1.2), 1, 40)
    # The flag wins over the variable.
    assert bench.parse_args(["--scale", "0.5"]).long == 200
    with pytest.raises(SystemExit):
        bench.parse_args(["--scale", "0"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--dry-run"])  # only with --ablation


def test_run_measures_the_baseline_once_and_each_row_alone_with_its_switch(monkeypatch, tmp_path) -> None:
    """The orchestration with the servers replaced: who is started with which environment."""
    started: list[tuple[str, str | None]] = []

    def measure_alone(side_name, model, env, workdir, script, args):
        started.append((side_name, env.get(overrides.DISABLE_VARIABLE)))
        assert workdir not in [w for w in seen_workdirs], "each run on fresh stores"
        seen_workdirs.append(workdir)
        if side_name == "baseline":
            return copy.deepcopy(BASELINE)
        if env[overrides.DISABLE_VARIABLE] == "numpy_diet":
            raise RuntimeError("project: a server exited (1):\nlog")
        return side(msgs_50=80.0 if env[overrides.DISABLE_VARIABLE] == "action_validation" else 100.0)

    seen_workdirs: list[Path] = []
    model = {"model": tmp_path / "m.tar.gz", "train_seconds": 1.0}
    monkeypatch.setattr(bench, "trained_models", lambda env: {"project": model, "baseline": model})
    monkeypatch.setattr(bench, "measure_alone", measure_alone)
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    monkeypatch.setenv(overrides.DISABLE_VARIABLE, "gc_freeze")  # inherited: ignored
    bench.main(["--ablation", "--scale", "0.1"])

    names = list(overrides.OVERRIDES)
    assert started == [("baseline", None), ("project", ""), *(("project", n) for n in names), ("project", "")]
    document = json.loads((tmp_path / "results" / "ablation.json").read_text())
    verdicts = {r["label"]: r["verdict"] for r in document["rows"]}
    assert verdicts["action_validation off"] == KEEPS
    assert verdicts["numpy_diet off"] == NOT_MEASURED
    assert verdicts["gc_freeze off"] == CANDIDATE
    assert verdicts[ALL_ON_AGAIN] == "noise under 10 %"
    assert document["settings"]["long"] == 40
    assert (tmp_path / "results" / "ablation.md").exists()


def test_make_bench_without_ablation_still_measures_both_sides_at_once(monkeypatch, tmp_path) -> None:
    """The plain `make bench` path after the refactoring it shares with the ablation, servers replaced."""
    monkeypatch.delenv("BENCH_SCALE", raising=False)
    calls = []

    def run_load(assistants, script, args):
        calls.append(sorted(assistants))
        return {name: copy.deepcopy(BASELINE) for name in assistants}, {}

    written = {}
    model = {"model": tmp_path / "m.tar.gz", "train_seconds": 7.0}
    monkeypatch.setattr(bench, "trained_models", lambda env: {"project": model, "baseline": model})
    monkeypatch.setattr(bench, "run_load", run_load)
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    monkeypatch.setattr(
        bench.report, "write", lambda results, series, folder: written.update(results) or (tmp_path, tmp_path)
    )
    bench.main([])
    assert calls == [["baseline", "project"]]
    assert written["project"]["train_seconds"] == 7.0
    assert written["settings"]["seconds"] == 12


def dry_run(*options: str) -> subprocess.CompletedProcess:
    """`python -m benchmarks --ablation --dry-run <options>` at smoke scale; it must succeed."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--ablation", "--dry-run", *options],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "BENCH_SCALE": "0.1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_dry_run_prints_each_row_s_environment_and_starts_nothing() -> None:
    result = dry_run("--no-again")
    assert "1.2 s per run, 1 round(s), 40-message conversation" in result.stdout
    for name in overrides.OVERRIDES:
        assert f"{name} off" in result.stdout
        assert f"{overrides.DISABLE_VARIABLE}='{name}'" in result.stdout
    assert f"{overrides.DISABLE_VARIABLE}=''" in result.stdout
    assert ALL_ON_AGAIN not in result.stdout
    assert "baseline model:" in result.stdout


def test_only_re_measures_the_named_overrides(monkeypatch) -> None:
    monkeypatch.delenv("BENCH_SCALE", raising=False)
    assert bench.parse_args(["--ablation", "--only", "action_payload,gc_freeze"]).only == [
        "action_payload",
        "gc_freeze",
    ]
    for bad in (
        ["--ablation", "--only", "no_such_override"],
        ["--ablation", "--only", ","],
        ["--only", "gc_freeze"],
    ):
        with pytest.raises(SystemExit):
            bench.parse_args(bad)
    result = dry_run("--only", "action_payload")
    assert "action_payload off" in result.stdout and "gc_freeze off" not in result.stdout
    assert ALL_ON_AGAIN in result.stdout
