"""Lightning: keep your ``LightningModule``; the trial's balancer does its backward.

Your ``training_step`` returns the per-task losses as a dict instead of their sum; the
:class:`Balance` callback switches the module to manual optimisation (Lightning's own way in), hands
those losses to the trial's balancer, steps the optimizer and the learning-rate schedulers, and
reports every validation to the trial (so the pruner can stop it). :func:`trainer` builds the
``Trainer`` on the trial's device, seeded with the trial's seed, with the callback in place.

Example:
    >>> import weightsearch as ws
    >>> from weightsearch.integrations import lightning as wsl
    >>> @ws.task(losses=["a", "b"], metrics={"val_mse": "minimize"})
    ... def train(run: ws.Run) -> dict[str, float]:
    ...     trainer = wsl.trainer(run, shared="trunk", max_epochs=5)  # seeds: call it first
    ...     trainer.fit(MyModule(), train_loader, val_loader)
    ...     return wsl.metrics(trainer)
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping
from typing import Any

import torch

from weightsearch.errors import WeightsearchError
from weightsearch.integrations import missing_extra
from weightsearch.integrations.step import Shared, balanced_backward, shared_parameters, task_losses
from weightsearch.task import Run

try:
    import lightning.pytorch as pl
except ModuleNotFoundError as exc:
    if exc.name not in ("lightning", "lightning.pytorch"):
        raise  # Lightning is there, but something it needs is not: its own message says what
    raise missing_extra("lightning", "lightning") from None

__all__ = ["Balance", "metrics", "trainer"]


class Balance(pl.Callback):
    """Routes ``training_step``'s dict of losses through the trial's balancer; reports validation.

    Args:
        run: the trial.
        shared: the parameters all losses share: the name of a submodule (``"trunk"``) or a
            function of the module that returns them (``lambda m: m.trunk.parameters()``).
        balancer_args: method hyperparameters for ``run.balancer`` (``--method-arg`` wins).
    """

    def __init__(
        self, run: Run, shared: Shared, balancer_args: Mapping[str, Any] | None = None
    ) -> None:
        self.run = run
        self.shared = shared
        self.balancer_args = dict(balancer_args or {})
        self.balancer: Any = None
        #: The metrics of the last validation (what :func:`metrics` returns).
        self.metrics: dict[str, float] = {}
        self._sigint: Any = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _check_trainer(trainer)
        if threading.current_thread() is threading.main_thread():
            self._sigint = signal.getsignal(signal.SIGINT)
        pl_module.automatic_optimization = False
        self.balancer = self.run.balancer(
            shared=shared_parameters(pl_module, self.shared), **self.balancer_args
        )
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        user_step = pl_module.training_step

        def training_step(*args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
            losses = task_losses(user_step(*args, **kwargs), self.run.losses, "training_step")
            optimizer = _the_optimizer(pl_module)
            optimizer.zero_grad()
            balanced_backward(self.balancer, losses, scaler, "Lightning")
            optimizer.step()
            _step_schedulers(trainer, "step", trainer.global_step)
            return {name: loss.detach() for name, loss in losses.items()}

        # An attribute of this instance only, removed at teardown: the class stays the user's.
        pl_module.training_step = training_step  # type: ignore[method-assign]

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _step_schedulers(trainer, "epoch", trainer.current_epoch + 1)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self.metrics = {
            name: float(value)
            for name, value in trainer.callback_metrics.items()
            if isinstance(value, (torch.Tensor, float, int)) and torch.as_tensor(value).numel() == 1
        }
        self.run.report(trainer.current_epoch, self.metrics)  # raises ws.Pruned: fit stops

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._restore(pl_module)
        if isinstance(exception, KeyboardInterrupt):
            # Lightning would ignore further Ctrl-C and exit(1); weightsearch decides what it means.
            if self._sigint is not None:
                signal.signal(signal.SIGINT, self._sigint)
            raise exception

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._restore(pl_module)

    @staticmethod
    def _restore(pl_module: pl.LightningModule) -> None:
        pl_module.__dict__.pop("training_step", None)


def trainer(
    run: Run,
    shared: Shared,
    *,
    balancer_args: Mapping[str, Any] | None = None,
    **trainer_args: Any,
) -> pl.Trainer:
    """A ``lightning.Trainer`` for this trial: its device, its seed, the :class:`Balance` callback.

    It seeds everything (``lightning.seed_everything(run.seed)``): call it before you build the
    module, so that its initial weights follow the trial's seed. Logging, checkpoints, the progress
    bar and the model summary are off unless you turn them on.

    Args:
        run: the trial.
        shared: see :class:`Balance`.
        balancer_args: see :class:`Balance`.
        **trainer_args: the ``Trainer``'s own arguments (``max_epochs``, ``precision``, ...), but
            not ``accelerator`` and ``devices``: the trial's device decides.
    """
    given = sorted({"accelerator", "devices"} & set(trainer_args))
    if given:
        raise WeightsearchError(
            f"wsl.trainer places the Trainer on the trial's device, but got {', '.join(given)}="
            f"... . Leave them out and choose devices with weightsearch's --devices option."
        )
    pl.seed_everything(run.seed, workers=True, verbose=False)
    chatter = logging.getLogger("lightning.pytorch")
    if chatter.level <= logging.INFO:  # its banner on every trial would bury the progress bar
        chatter.setLevel(logging.WARNING)
    accelerator, devices = _accelerator(run.device)
    callbacks = [*(trainer_args.pop("callbacks", None) or []), Balance(run, shared, balancer_args)]
    for option in ("logger", "enable_checkpointing", "enable_progress_bar", "enable_model_summary"):
        trainer_args.setdefault(option, False)
    return pl.Trainer(accelerator=accelerator, devices=devices, callbacks=callbacks, **trainer_args)


def metrics(trainer: pl.Trainer) -> dict[str, float]:
    """The metrics of the trainer's last validation, as numbers: what the task returns."""
    found = [c for c in trainer.callbacks if isinstance(c, Balance)]  # type: ignore[attr-defined]
    if not found:
        raise WeightsearchError(
            "wsl.metrics reads the Balance callback's last validation, but this Trainer has no "
            "Balance callback. Build it with wsl.trainer(run, shared=...)."
        )
    if not found[0].metrics:
        raise WeightsearchError(
            "wsl.metrics found no validation metrics: the fit ran no validation. Pass "
            "val_dataloaders to trainer.fit and log the task's metrics with self.log in "
            "validation_step."
        )
    return dict(found[0].metrics)


def _accelerator(device: str) -> tuple[str, Any]:
    kind, _, index = device.partition(":")
    if kind == "cuda":
        return "gpu", [int(index)] if index else 1
    return kind, 1


def _check_trainer(trainer: pl.Trainer) -> None:
    if trainer.accumulate_grad_batches != 1 or trainer.gradient_clip_val:
        raise WeightsearchError(
            "the trial's balancer steps the optimizer after every batch, so the Trainer can't "
            f"accumulate or clip gradients, but it has accumulate_grad_batches="
            f"{trainer.accumulate_grad_batches}, gradient_clip_val={trainer.gradient_clip_val}. "
            "Leave both out (clip in the module's on_before_optimizer_step if you must)."
        )


def _the_optimizer(pl_module: pl.LightningModule) -> Any:
    optimizers = pl_module.optimizers()
    if isinstance(optimizers, list):
        if len(optimizers) != 1:
            raise WeightsearchError(
                "the trial's balancer steps one optimizer, but configure_optimizers returned "
                f"{len(optimizers)}. Return one optimizer (with parameter groups if needed)."
            )
        return optimizers[0]
    return optimizers


def _step_schedulers(trainer: pl.Trainer, interval: str, count: int) -> None:
    """Step the schedulers of this interval, as Lightning's automatic optimisation would."""
    for config in trainer.lr_scheduler_configs:
        if config.interval != interval or count % config.frequency:
            continue
        if config.reduce_on_plateau:
            monitored = trainer.callback_metrics.get(config.monitor or "")
            if monitored is None:
                raise WeightsearchError(
                    f"ReduceLROnPlateau monitors {config.monitor!r}, which the module doesn't log "
                    f"(it logs {sorted(trainer.callback_metrics)}). Log it with self.log."
                )
            plateau: Any = config.scheduler  # ReduceLROnPlateau: step takes the metric
            plateau.step(monitored)
        else:
            scheduler: Any = config.scheduler
            scheduler.step()
