"""Start-up time of the CLI: ``weightsearch`` commands against ``optuna --help``.

Every command runs in a fresh process, timed from start to exit, paired with an ``optuna
--help`` run (alternating which goes first; see paired.py). Targets: ``weightsearch --help``
<= 1.0x, and ``weightsearch report`` / ``weightsearch studies`` on an existing study <= 1.5x.

    python benchmarks/startup.py             # 9 pairs per command
    python benchmarks/startup.py --pairs 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.paired import environment, paired, wall_time

TASK = """
import weightsearch as ws

@ws.task(losses=["a", "b"], metrics={"score": "minimize"})
def noop(run: ws.Run) -> dict[str, float]:
    return {"score": run.weights["a"]}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=9)
    args = parser.parse_args(argv)
    env = environment()
    scripts = Path(sys.executable).parent
    weightsearch = [sys.executable, "-m", "weightsearch"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "noop.py").write_text(TASK)
        url = f"sqlite:///{folder / 'studies.db'}"
        study = [*weightsearch, "grid", "noop.py", "--multipliers", "1,2", "--storage", url]
        wall_time([*study, "--in-process", "--quiet"], folder, env)

        def command(argv: list[str]) -> Callable[[int], float]:
            return lambda index: wall_time(argv, folder, env)

        optuna_help = command([str(scripts / "optuna"), "--help"])
        print("CLI start-up against optuna --help, fresh processes")
        cases = [
            ("weightsearch --help", [*weightsearch, "--help"], 1.0),
            ("weightsearch report", [*weightsearch, "report", "noop-grid", "--storage", url], 1.5),
            ("weightsearch studies", [*weightsearch, "studies", "--storage", url], 1.5),
        ]
        optuna_help(0)  # untimed: the first run of a process pays for cold caches
        for label, argv, target in cases:
            print(paired(command(argv), optuna_help, args.pairs, target).line(label))
    return 0


if __name__ == "__main__":
    sys.exit(main())
