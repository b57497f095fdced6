"""Two regression tasks trained with Lightning: the user keeps their ``LightningModule``.

What changes in a Lightning user's code: ``training_step`` returns the per-task losses as a dict
instead of their sum, and the ``Trainer`` comes from ``wsl.trainer(run, shared="trunk", ...)``
(the trial's device and seed, with the callback that lets the trial's balancer do the backward and
reports each validation to the trial). The two tasks' labels differ in scale by 10x, so their
weights matter. ``--param epochs=N`` (default 4) sets the training length.

    weightsearch grid examples/lightning_multitask.py --multipliers 1,4
    weightsearch compare examples/lightning_multitask.py --methods equal,mgda,uncertainty --seeds 2
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

import weightsearch as ws
from weightsearch.integrations import lightning as wsl

INPUTS, HIDDEN, SCALES = 8, 16, (1.0, 10.0)


def make_data(seed: int, n: int) -> TensorDataset:
    """``n`` inputs and two labels (columns) of scales 1 and 10; the tasks share structure."""
    fixed = torch.Generator().manual_seed(7)
    directions = torch.randn(INPUTS, 2, generator=fixed)
    samples = torch.Generator().manual_seed(seed)
    x = torch.randn(n, INPUTS, generator=samples)
    z = x @ directions
    y = torch.stack([SCALES[0] * torch.sin(z[:, 0]), SCALES[1] * torch.tanh(z[:, 0] + z[:, 1])], 1)
    return TensorDataset(x, y + 0.05 * torch.randn(n, 2, generator=samples))


def loaders(seed: int) -> tuple[DataLoader, DataLoader]:
    """Training batches and one validation batch. The samples are drawn i.i.d., so the batches
    keep their order: Lightning draws from a shuffling loader's generator more often than a
    plain loop does, and the tests compare the trials with the same model trained by hand."""
    train = DataLoader(make_data(100 + seed, 512), batch_size=32)
    return train, DataLoader(make_data(999, 256), batch_size=256)


class TwoTasks(L.LightningModule):
    def __init__(self, lr: float = 0.01) -> None:
        super().__init__()
        self.lr = lr
        self.trunk = nn.Sequential(nn.Linear(INPUTS, HIDDEN), nn.Tanh())
        self.heads = nn.ModuleList(nn.Linear(HIDDEN, 1) for _ in SCALES)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.trunk(x)
        return [head(features).squeeze(-1) for head in self.heads]

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        x, y = batch
        predictions = self(x)
        # Before weightsearch: return sum of the two losses. Now: the losses by name.
        return {f"task{i + 1}": F.mse_loss(p, y[:, i]) for i, p in enumerate(predictions)}

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        for name, value in evaluate(self, *batch).items():
            self.log(name, value)

    def configure_optimizers(self) -> dict[str, object]:
        optimizer = torch.optim.Adam(self.parameters(), lr=self.lr)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each task's MSE, and their mean relative to each label's scale (the objective)."""
    mse = [F.mse_loss(p, y[:, i]) for i, p in enumerate(model(x))]
    relative = sum(m / s**2 for m, s in zip(mse, SCALES, strict=True)) / len(SCALES)
    return {"val_rel_mse": relative, "mse_task1": mse[0], "mse_task2": mse[1]}


@ws.task(
    losses=["task1", "task2"],
    metrics={"val_rel_mse": "minimize", "mse_task1": "minimize", "mse_task2": "minimize"},
)
def train(run: ws.Run) -> dict[str, float]:
    torch.set_num_threads(1)  # a model this small trains fastest on one thread
    trainer = wsl.trainer(run, shared="trunk", max_epochs=int(run.params.get("epochs", 4)))
    model = TwoTasks(lr=float(run.params.get("lr", 0.01)))  # after wsl.trainer: seeded
    trainer.fit(model, *loaders(run.seed))
    return wsl.metrics(trainer)
