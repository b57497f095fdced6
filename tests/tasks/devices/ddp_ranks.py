"""The function each process of a multi-GPU trial runs: a module of its own, beside the task.

A function of the task file itself could not be handed to new processes: the task file is
loaded under a name that they can't import.
"""

import os


def train_rank(rank: int, out: str) -> None:
    with open(f"{out}.{rank}", "w") as file:
        file.write(os.environ.get("CUDA_VISIBLE_DEVICES", "unset"))
