"""benchmarks/memory.py: the per-process PSS timeline that tells a loading peak from the steady state."""

from __future__ import annotations

import os

from benchmarks.memory import MB, Sample, describe, group_members, peak, pss_bytes, timeline


def test_pss_of_this_process_and_of_a_process_that_has_gone() -> None:
    assert 1 * MB < pss_bytes(os.getpid()) < 8000 * MB
    assert pss_bytes(2**22 + 12345) == 0  # above the kernel's pid limit: no such process


def test_group_members_finds_this_process_by_its_group() -> None:
    assert os.getpid() in group_members({os.getpgid(0)})
    assert group_members({2**22 + 12345}) == []


def test_peak_is_the_largest_total_and_says_who_held_it() -> None:
    samples = [
        Sample(0.0, {1: 300 * MB}),
        Sample(0.5, {1: 300 * MB, 2: 400 * MB, 3: 100 * MB}),  # one worker loading: the transient
        Sample(1.0, {1: 300 * MB, 2: 200 * MB, 3: 200 * MB}),
    ]
    assert peak(samples) is samples[1]
    assert describe("peak", samples[1]).split()[:5] == ["peak", "800", "MB", "at", "0.5"]
    assert "2: 400" in describe("peak", samples[1])


def test_timeline_has_one_line_per_interval() -> None:
    samples = [Sample(t / 4, {1: 100 * MB, 2: 50 * MB}) for t in range(40)]  # 10 s, every 0.25 s
    lines = timeline(samples, every=2.0)
    assert len(lines) == 5
    assert lines[0].split()[:4] == ["0.0", "s", "150", "MB"]
    assert lines[0].split()[-2:] == ["100", "50"]
