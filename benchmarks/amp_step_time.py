"""Mixed-precision step time of every balancing method, as a ratio to its own float32 step.

The reference model of ``step_time.py`` (a shared MLP 64-256-256 with 3 linear heads, batch 256,
CPU, 1 thread). The float32 step is forward + ``balancer.backward(losses)``; the AMP step is the
forward under ``torch.autocast("cpu", dtype=torch.bfloat16)`` + ``balancer.backward(losses,
scaler=torch.amp.GradScaler("cpu"))`` (the optimiser step, the same for every method, is left
out, as in ``step_time.py``). Both are measured in the same process, interleaved in paired rounds
(``step_time.compare``), and each ratio of median CPU times comes with a 95% bootstrap interval
over the rounds. What the AMP path adds besides the autocast forward: reading the scaler's scale,
a copy of the method's state (put back on an inf/NaN step), a walk of the graph for the leaves
whose gradients are checked, and that check. CPU bf16 matmuls are not faster than float32 ones on
most CPUs, so the ``plain`` row (``sum(losses)``, through ``scaler.scale`` for AMP) gives what
autocast and the scaler cost without a balancer; a method's ratio over ``plain``'s is what its
AMP path adds. The ratios say what AMP costs on this CPU, not what a GPU gains.

    python benchmarks/amp_step_time.py --quick    # under a minute on 2 cores
    python benchmarks/amp_step_time.py            # 120 rounds
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.step_time import TASKS, Reference, compare, interval, keep_freed_memory, ratio
from weightsearch import methods

HEADER = f"{'method':<14} {'kind':<20} {'fp32 ms':>8} {'amp ms':>8} {'ratio':>6}  95% interval"


class _Plain:
    """``sum(losses)``'s backward, through ``scaler.scale`` when given one."""

    def backward(self, losses: dict, features: Any = None, scaler: Any = None) -> None:
        total = sum(losses.values())
        (total if scaler is None else scaler.scale(total)).backward()


def measure(names: list[str], rounds: int) -> list[str]:
    """One table line per method: its float32 and AMP step times and their ratio."""
    torch.manual_seed(0)
    model = Reference()
    x = torch.randn(256, 64)
    y = torch.randn(256, len(TASKS))
    lines = []
    for name in ["plain", *names]:
        shared = list(model.trunk.parameters())
        scaler = torch.amp.GradScaler("cpu")
        if name == "plain":  # no balancer: what autocast and the scaler cost by themselves
            plain: Any = _Plain()
            mixed: Any = _Plain()
        else:
            plain = methods.create(name, losses=list(TASKS), shared=shared)
            mixed = methods.create(name, losses=list(TASKS), shared=shared)

        def fp32(balancer=plain) -> None:
            model.zero_grad(set_to_none=False)
            losses, features = model(x, y)
            balancer.backward(losses, features=features)

        def amp(balancer=mixed, scaler=scaler) -> None:
            model.zero_grad(set_to_none=False)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                losses, features = model(x, y)
            balancer.backward(losses, features=features, scaler=scaler)

        times = compare({"fp32": fp32, "amp": amp}, rounds)
        low, high = interval(times, "amp", "fp32")
        fp32_ms = 1e3 * sorted(times["fp32"])[len(times["fp32"]) // 2]
        amp_ms = 1e3 * sorted(times["amp"])[len(times["amp"]) // 2]
        kind = "no balancer" if name == "plain" else methods.method_class(name).kind
        lines.append(
            f"{name:<14} {kind:<20} {fp32_ms:>8.2f} {amp_ms:>8.2f} "
            f"{ratio(times, 'amp', 'fp32'):>6.2f}  {low:.2f}-{high:.2f}"
        )
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 rounds instead of 120")
    parser.add_argument(
        "--rounds", type=int, default=None, help="paired rounds (overrides --quick)"
    )
    parser.add_argument(
        "--methods", default=",".join(methods.available()), help="comma-separated method names"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    keep_freed_memory()
    rounds = args.rounds or (20 if args.quick else 120)
    print(f"AMP (bf16 autocast + GradScaler) step time as a ratio to float32, {rounds} rounds")
    print(HEADER, flush=True)
    measure(args.methods.split(","), rounds)


if __name__ == "__main__":
    main()
