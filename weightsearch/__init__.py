"""weightsearch: tune the loss weights of multi-task models, and compare adaptive methods.

Example:
    >>> import weightsearch as ws
    >>> @ws.task(losses=["cls", "box"], metrics={"val_loss": "minimize"})
    ... def train(run: ws.Run) -> dict[str, float]:
    ...     return {"val_loss": 1.0}
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from weightsearch.task import Pruned, Run, Task, task

if TYPE_CHECKING:
    from weightsearch import methods

__all__ = ["Pruned", "Run", "Task", "methods", "task"]


def __getattr__(name: str) -> ModuleType:
    # ws.methods imports torch: loaded on first use, so that `import weightsearch` and
    # `weightsearch --help` stay fast (trials and probes import it when they run).
    if name == "methods":
        return importlib.import_module("weightsearch.methods")
    raise AttributeError(f"module 'weightsearch' has no attribute {name!r}")
