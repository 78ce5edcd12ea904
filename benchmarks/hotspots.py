"""Where the time goes, from py-spy's collapsed stacks: share of samples inside each function.

.venv/bin/python -m benchmarks.hotspots results/bench/profile-project-rasa.folded [--top 40] [--match rasa]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def inclusive_shares(lines: list[str]) -> tuple[Counter[str], Counter[str], int]:
    """Samples inside each frame (inclusive), samples at the top of the stack (self), and the total."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [shorten(frame) for frame in stack.split(";")]
        weight = int(count)
        total += weight
        for frame in set(frames):
            inclusive[frame] += weight
        own[frames[-1]] += weight
    return inclusive, own, total


def shorten(frame: str) -> str:
    """`func (/long/path/site-packages/pkg/mod.py:12)` -> `func (pkg/mod.py:12)`."""
    return frame.replace("site-packages/", "\0").split("\0")[-1] if "site-packages/" in frame else frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("folded", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--match", default="", help="only frames containing this text")
    args = parser.parse_args()
    inclusive, own, total = inclusive_shares(args.folded.read_text().splitlines())
    print(f"{total} samples; inclusive share of each frame:")
    shown = [(f, n) for f, n in inclusive.most_common() if args.match in f][: args.top]
    for frame, count in shown:
        print(f"{100 * count / total:5.1f} %  {frame}")
    print("\nself (top of stack):")
    for frame, count in own.most_common(15):
        print(f"{100 * count / total:5.1f} %  {frame}")


if __name__ == "__main__":
    main()
