"""weightsearch: tune the loss weights of multi-task models, and compare adaptive methods.

Example:
    >>> import weightsearch as ws
    >>> @ws.task(losses=["cls", "box"], metrics={"val_loss": "minimize"})
    ... def train(run: ws.Run) -> dict[str, float]:
    ...     return {"val_loss": 1.0}
"""

from weightsearch import methods
from weightsearch.task import Pruned, Run, Task, task

__all__ = ["Pruned", "Run", "Task", "methods", "task"]
