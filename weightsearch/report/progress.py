"""A rich progress bar for running commands: trials done of total, best so far, ETA (stderr)."""

from __future__ import annotations

from collections.abc import Sequence

from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from weightsearch.study import StudyDefinition


class ProgressBar:
    """Draws the runner's progress on stderr; silent when stderr is not a terminal unless asked."""

    def __init__(self, definition: StudyDefinition, console: Console) -> None:
        self.objective = definition.objectives[0]
        self.multi = len(definition.objectives) > 1
        self.best: float | None = None
        self.failed = 0
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[best]}"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def start(self, total: int, finished: Sequence[FrozenTrial]) -> None:
        for trial in finished:
            self._note(trial)
        # Failed points run again, so only completed and pruned ones count as done.
        done = sum(1 for t in finished if t.state != TrialState.FAIL)
        self._progress.start()
        self._task = self._progress.add_task(
            "trials", total=max(total, done), completed=min(done, total), best=self._best_text()
        )

    def trial_finished(self, trial: FrozenTrial) -> None:
        self._note(trial)
        if self._task is not None:
            self._progress.update(self._task, advance=1, best=self._best_text())

    def stop(self) -> None:
        self._progress.stop()

    def _note(self, trial: FrozenTrial) -> None:
        if trial.state == TrialState.FAIL:
            self.failed += 1
        if trial.state != TrialState.COMPLETE or not trial.values or self.multi:
            return
        value = trial.values[0]
        better = self.best is None or (
            value > self.best if self.objective.direction == "maximize" else value < self.best
        )
        if better:
            self.best = value

    def _best_text(self) -> str:
        text = "" if self.best is None else f"best {self.objective.name}={self.best:.5g}"
        if self.failed:
            text += f" [red]{self.failed} failed[/red]"
        return text
