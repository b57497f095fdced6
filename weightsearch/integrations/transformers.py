"""The Hugging Face ``Trainer``: keep your model and your Trainer; the trial's balancer does the
backward.

Your model's output holds the per-task losses as a dict under ``losses`` (next to ``loss`` and
``logits`` if it has them), or your Trainer overrides :meth:`BalancedTrainer.compute_losses`.
:class:`BalancedTrainer` overrides ``training_step`` (the Trainer's own extension point) to hand
those losses to the trial's balancer, and reports every evaluation to the trial (so the pruner
can stop it). :func:`arguments` builds the ``TrainingArguments`` of the trial's device and seed.

Example:
    >>> import weightsearch as ws
    >>> from weightsearch.integrations import transformers as wshf
    >>> @ws.task(losses=["a", "b"], metrics={"eval_mse": "minimize"})
    ... def train(run: ws.Run) -> dict[str, float]:
    ...     args = wshf.arguments(run, "out", eval_strategy="epoch")  # seeds: call it first
    ...     trainer = wshf.BalancedTrainer(
    ...         run=run, shared="trunk", model=MyModel(config), args=args, ...
    ...     )
    ...     trainer.train()
    ...     return wshf.metrics(trainer)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from weightsearch.errors import WeightsearchError
from weightsearch.integrations import missing_extra
from weightsearch.integrations.step import Shared, balanced_backward, shared_parameters, task_losses
from weightsearch.task import Run

try:
    import transformers as hf
except ModuleNotFoundError as exc:
    if exc.name != "transformers":
        raise  # transformers is there, but something it needs is not: its own message says what
    raise missing_extra("transformers", "transformers") from None

__all__ = ["BalancedTrainer", "ReportEvaluation", "arguments", "metrics"]

#: Endings of the timings the Trainer adds to each evaluation: no metric of the model.
_TIMINGS = ("_runtime", "_per_second")


class BalancedTrainer(hf.Trainer):
    """A ``transformers.Trainer`` whose backward is the trial's balancer's.

    Args:
        run: the trial.
        shared: the parameters all losses share: the name of a submodule of the model
            (``"trunk"``) or a function of the model that returns them.
        balancer_args: method hyperparameters for ``run.balancer`` (``--method-arg`` wins).
        *args, **kwargs: the ``Trainer``'s own arguments (``model``, ``args``, datasets, ...).
    """

    def __init__(
        self,
        *args: Any,
        run: Run,
        shared: Shared,
        balancer_args: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        _check_arguments(self.args, run)
        self.run = run
        self.balancer: Any = None
        self._shared = shared
        self._balancer_args = dict(balancer_args or {})
        self.add_callback(ReportEvaluation(run))
        # It prints every log line to stdout, where weightsearch writes its table and JSON.
        self.remove_callback(hf.trainer_callback.PrinterCallback)

    def compute_losses(self, model: torch.nn.Module, inputs: Mapping[str, Any]) -> tuple[Any, Any]:
        """The per-task losses of one batch and the model's output; override to compute them.

        The default reads the dict under ``losses`` in the model's output.
        """
        outputs = model(**inputs)
        found = outputs.get("losses") if isinstance(outputs, Mapping) else None
        return task_losses(found, self.run.losses, "the model's output['losses']"), outputs

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        """The losses summed with the balancer's current weights (what evaluation reports)."""
        losses, outputs = self.compute_losses(model, inputs)
        weights = self.run.current_weights
        total = sum(weights[name] * loss for name, loss in losses.items())
        if not return_outputs:
            return total
        if isinstance(outputs, Mapping):  # the dict of losses is no prediction to gather
            outputs = {key: value for key, value in outputs.items() if key != "losses"}
        return total, outputs

    def training_step(
        self, model: torch.nn.Module, inputs: dict[str, Any], num_items_in_batch: Any = None
    ) -> torch.Tensor:
        model.train()
        inputs = self._prepare_inputs(inputs)
        if self.balancer is None:
            unwrapped = self.accelerator.unwrap_model(model)
            self.balancer = self.run.balancer(
                shared=shared_parameters(unwrapped, self._shared), **self._balancer_args
            )
        with self.compute_loss_context_manager():
            losses, _ = self.compute_losses(model, inputs)
        weights = balanced_backward(
            self.balancer, losses, self.accelerator.scaler, "the Trainer (fp16=True)"
        )
        return sum(weights[name] * loss.detach() for name, loss in losses.items())


class ReportEvaluation(hf.TrainerCallback):
    """Reports every evaluation's metrics to the trial at the Trainer's global step."""

    def __init__(self, run: Run) -> None:
        self.run = run
        #: The metrics of the last evaluation (what :func:`metrics` returns).
        self.metrics: dict[str, float] = {}

    def on_evaluate(
        self,
        args: Any,
        state: Any,
        control: Any,
        metrics: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> None:
        self.metrics = {
            name: float(value)
            for name, value in (metrics or {}).items()
            if isinstance(value, (int, float))
            and not isinstance(value, bool)
            and name != "epoch"
            and not name.endswith(_TIMINGS)
        }
        self.run.report(state.global_step, self.metrics)  # raises ws.Pruned: training stops


def arguments(run: Run, output_dir: str, **training_args: Any) -> hf.TrainingArguments:
    """``TrainingArguments`` for this trial: its seed and its device.

    It seeds everything (``transformers.set_seed(run.seed)``): call it before you build the
    model, so that its initial weights follow the trial's seed. Reporting to trackers and saving
    checkpoints are off unless you turn them on.

    Args:
        run: the trial.
        output_dir: where the Trainer may write.
        **training_args: the other ``TrainingArguments`` (``num_train_epochs``, ...), but not
            ``seed``, ``use_cpu`` or ``no_cuda``: the trial decides those.
    """
    given = sorted({"seed", "data_seed", "use_cpu", "no_cuda"} & set(training_args))
    if given:
        raise WeightsearchError(
            f"wshf.arguments takes the seed and the device from the trial, but got "
            f"{', '.join(given)}=... . Leave them out: use --seeds and --devices instead."
        )
    hf.set_seed(run.seed)
    kind, _, index = run.device.partition(":")
    if kind == "cuda" and index:
        torch.cuda.set_device(int(index))  # the Trainer trains on the current CUDA device
    training_args.setdefault("report_to", "none")
    training_args.setdefault("save_strategy", "no")
    training_args.setdefault("disable_tqdm", True)
    return hf.TrainingArguments(
        output_dir=output_dir, seed=run.seed, use_cpu=kind == "cpu", **training_args
    )


def metrics(trainer: hf.Trainer) -> dict[str, float]:
    """The metrics of the trainer's last evaluation, as numbers: what the task returns."""
    found = [c for c in trainer.callback_handler.callbacks if isinstance(c, ReportEvaluation)]
    if not found or not found[0].metrics:
        raise WeightsearchError(
            "wshf.metrics found no evaluation metrics: the Trainer never evaluated. Give it an "
            "eval_dataset and eval_strategy='epoch' (or call trainer.evaluate())."
        )
    return dict(found[0].metrics)


def _check_arguments(args: Any, run: Run) -> None:
    if args.gradient_accumulation_steps != 1:
        raise WeightsearchError(
            "the trial's balancer combines the losses of one batch, so the Trainer can't "
            f"accumulate gradients, but gradient_accumulation_steps="
            f"{args.gradient_accumulation_steps}. Leave it at 1 (raise the batch size instead)."
        )
    if args.seed != run.seed:
        raise WeightsearchError(
            f"the Trainer must train with the trial's seed {run.seed}, but args.seed={args.seed}. "
            "Build the arguments with wshf.arguments(run, output_dir, ...)."
        )
