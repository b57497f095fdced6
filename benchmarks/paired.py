"""Paired timings of whole commands in fresh processes, and the verdict on a ratio target.

Each pair runs the two commands one after the other (in alternating order, so that neither
always runs on a warmer disk cache) and records ``ours / theirs``. The claim is the median
ratio; the interval is the 95% t-interval of the mean log ratio, turned back into a ratio. A
target is met when the whole interval is at or below it, missed when the whole interval is above
it, and undecided otherwise.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from weightsearch.stats import ci95

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Ratio:
    """Paired ratios of two commands' wall times, against a target."""

    ratios: list[float]
    ours: list[float]
    theirs: list[float]
    target: float

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    @property
    def interval(self) -> tuple[float, float]:
        low, high = ci95([math.log(r) for r in self.ratios])
        return math.exp(low), math.exp(high)

    @property
    def verdict(self) -> str:
        low, high = self.interval
        if high <= self.target:
            return "met"
        if low > self.target:
            return "missed"
        return "undecided"

    def line(self, label: str) -> str:
        low, high = self.interval
        return (
            f"  {label}: median {self.median:.2f}x (95% CI {low:.2f}-{high:.2f}x, "
            f"{len(self.ratios)} pairs; ours median {statistics.median(self.ours):.2f} s, "
            f"baseline {statistics.median(self.theirs):.2f} s)   target <= {self.target:g}x: "
            f"{self.verdict}"
        )


def environment() -> dict[str, str]:
    """This process's environment, with this checkout first on the import path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("WEIGHTSEARCH_STORAGE", None)
    return env


def wall_time(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> float:
    """Seconds from starting ``argv`` in a fresh process to its exit (which must be 0)."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-2000:]}")
    return seconds


def paired(
    ours: Callable[[int], float], theirs: Callable[[int], float], pairs: int, target: float
) -> Ratio:
    """Run ``pairs`` pairs (each callable gets the pair's index and returns seconds)."""
    result = Ratio([], [], [], target)
    for index in range(pairs):
        if index % 2:
            b = theirs(index)
            a = ours(index)
        else:
            a = ours(index)
            b = theirs(index)
        result.ours.append(a)
        result.theirs.append(b)
        result.ratios.append(a / b)
    return result
