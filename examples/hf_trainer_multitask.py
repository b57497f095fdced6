"""Two regression tasks trained with the Hugging Face ``Trainer``: the user keeps their model.

The model is a small ``PreTrainedModel`` built from its config (nothing is downloaded). What
changes in a Trainer user's code: the model's output holds the per-task losses under ``losses``,
the ``Trainer`` becomes ``wshf.BalancedTrainer(run=run, shared="trunk", ...)`` (the trial's
balancer does the backward, each evaluation is reported to the trial), and the arguments come
from ``wshf.arguments(run, ...)`` (the trial's seed and device). The labels are those of
``lightning_multitask.py``. ``--param epochs=N`` (default 4) sets the training length.

    weightsearch grid examples/hf_trainer_multitask.py --multipliers 1,4
    weightsearch compare examples/hf_trainer_multitask.py --methods equal,mgda,uncertainty --seeds 2
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

import numpy as np
import torch
import transformers
from lightning_multitask import INPUTS, SCALES, make_data
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset

import weightsearch as ws
from weightsearch.integrations import transformers as wshf


class TwoTaskConfig(transformers.PretrainedConfig):
    model_type = "two_task_regressor"

    def __init__(self, inputs: int = INPUTS, hidden: int = 16, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.inputs, self.hidden = inputs, hidden


@dataclass
class TwoTaskOutput(transformers.utils.ModelOutput):
    loss: torch.Tensor | None = None
    losses: dict[str, torch.Tensor] | None = None
    logits: torch.Tensor | None = None


class TwoTaskModel(transformers.PreTrainedModel):
    config_class = TwoTaskConfig

    def __init__(self, config: TwoTaskConfig) -> None:
        super().__init__(config)
        self.trunk = nn.Sequential(nn.Linear(config.inputs, config.hidden), nn.Tanh())
        self.heads = nn.ModuleList(nn.Linear(config.hidden, 1) for _ in SCALES)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> TwoTaskOutput:
        features = self.trunk(x)
        logits = torch.cat([head(features) for head in self.heads], dim=1)
        if labels is None:
            return TwoTaskOutput(logits=logits)
        # Before weightsearch: loss = mse1 + mse2. Now the losses by name go along as well.
        losses = {f"task{i + 1}": F.mse_loss(logits[:, i], labels[:, i]) for i in range(2)}
        return TwoTaskOutput(loss=sum(losses.values()), losses=losses, logits=logits)


class Pairs(Dataset):
    """The (x, labels) pairs as the dicts the Trainer feeds to ``forward``."""

    def __init__(self, seed: int, n: int) -> None:
        self.x, self.y = make_data(seed, n).tensors

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "labels": self.y[i]}


def compute_metrics(prediction: transformers.EvalPrediction) -> dict[str, float]:
    """Each task's MSE, and their mean relative to each label's scale (the objective)."""
    logits, labels = np.asarray(prediction.predictions), np.asarray(prediction.label_ids)
    mse = [float(((logits[:, i] - labels[:, i]) ** 2).mean()) for i in range(2)]
    relative = sum(m / s**2 for m, s in zip(mse, SCALES, strict=True)) / len(SCALES)
    return {"rel_mse": relative, "mse_task1": mse[0], "mse_task2": mse[1]}


@ws.task(
    losses=["task1", "task2"],
    metrics={
        "eval_rel_mse": "minimize",
        "eval_mse_task1": "minimize",
        "eval_mse_task2": "minimize",
    },
)
def train(run: ws.Run) -> dict[str, float]:
    torch.set_num_threads(1)  # a model this small trains fastest on one thread
    with tempfile.TemporaryDirectory() as out:
        args = wshf.arguments(
            run,
            out,
            num_train_epochs=int(run.params.get("epochs", 4)),
            learning_rate=float(run.params.get("lr", 0.01)),
            per_device_train_batch_size=32,
            per_device_eval_batch_size=256,
            eval_strategy="epoch",
            logging_strategy="no",
        )
        trainer = wshf.BalancedTrainer(
            run=run,
            shared="trunk",
            model=TwoTaskModel(TwoTaskConfig()),  # after wshf.arguments: seeded
            args=args,
            train_dataset=Pairs(100 + run.seed, 512),
            eval_dataset=Pairs(999, 256),
            compute_metrics=compute_metrics,
        )
        trainer.train()
    return wshf.metrics(trainer)
