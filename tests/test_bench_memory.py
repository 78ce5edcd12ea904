"""benchmarks/memory.py: the per-process PSS timeline that tells a loading peak from the steady state."""

from __future__ import annotations

import os

from benchmarks.memory import MB, Sample, describe, peak, timeline
from benchmarks.servers import group_memory_bytes, process_memory_bytes


def test_memory_of_this_process_found_by_its_group() -> None:
    memory = process_memory_bytes({os.getpgid(0)})
    rss, pss = memory[os.getpid()]
    assert 1 * MB < pss <= rss < 8000 * MB
    assert process_memory_bytes({2**22 + 12345}) == {}  # above the kernel's pid limit: no such group
    group_rss, group_pss = group_memory_bytes([os.getpgid(0)])  # the sum make bench reports
    assert group_rss >= group_pss > 1 * MB


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
