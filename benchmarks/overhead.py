"""Whole-command overhead: ``weightsearch grid`` on trials that do nothing, against plain Optuna.

Both sides are whole commands in fresh processes, timed from start to exit, on a SQLite file of
their own: ``weightsearch grid`` over 115 points of a task that returns at once (in the default
worker mode, and with ``--in-process``), and a plain Optuna script whose objective suggests the
same three weights and returns at once. Imports, opening the storage and starting workers all
count, as they do for a user. Paired runs, median ratio with a 95% interval (see paired.py).
Target: the default mode <= 1.2x.

    python benchmarks/overhead.py            # 7 pairs per mode
    python benchmarks/overhead.py --pairs 3
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.paired import environment, paired, wall_time

TRIALS = 115
TARGET = 1.2
NOOP_TASK = """
import weightsearch as ws

@ws.task(losses=["a", "b", "c"], metrics={"score": "minimize"})
def noop(run: ws.Run) -> dict[str, float]:
    return {"score": run.weights["a"]}
"""
PLAIN_SCRIPT = """
import sys
import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(storage=sys.argv[1], study_name="plain")

def objective(trial):
    weights = [trial.suggest_float(f"w_{name}", 0.0, 1.0) for name in "abc"]
    return weights[0]

study.optimize(objective, n_trials=int(sys.argv[2]))
"""
# 3 losses and these factors give more than TRIALS distinct points; --n-trials stops at TRIALS.
MULTIPLIERS = "1,2,3,4,5,6,7,8"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--trials", type=int, default=TRIALS)
    args = parser.parse_args(argv)
    env = environment()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "noop.py").write_text(NOOP_TASK)
        (folder / "plain.py").write_text(PLAIN_SCRIPT)

        def ours(extra: list[str]) -> Callable[[int], float]:
            mode = "in-process" if extra else "worker"

            def run(index: int) -> float:
                url = f"sqlite:///{folder / f'ours-{mode}-{index}.db'}"
                argv = [sys.executable, "-m", "weightsearch", "grid", "noop.py"]
                argv += ["--multipliers", MULTIPLIERS, "--n-trials", str(args.trials)]
                return wall_time([*argv, "--storage", url, "--quiet", *extra], folder, env)

            return run

        plain_runs = itertools.count()

        def theirs(index: int) -> float:
            url = f"sqlite:///{folder / f'plain-{next(plain_runs)}.db'}"
            return wall_time([sys.executable, "plain.py", url, str(args.trials)], folder, env)

        print(
            f"whole-command overhead: {args.trials} no-op trials on SQLite, weightsearch grid "
            "against a plain Optuna script, fresh processes"
        )
        wall_time([sys.executable, "plain.py", f"sqlite:///{folder / 'warm.db'}", "3"], folder, env)
        for label, extra in (("default (worker)", []), ("--in-process", ["--in-process"])):
            result = paired(ours(extra), theirs, args.pairs, TARGET)
            print(result.line(label))
    return 0


if __name__ == "__main__":
    sys.exit(main())
