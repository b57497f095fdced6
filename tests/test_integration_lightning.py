"""The Lightning adapter: trials equal the same model trained by hand, grid and compare through
the CLI, pruning, a raising fit, and bad input."""

from __future__ import annotations

import pytest

pytest.importorskip("lightning")

import torch
from integration_helpers import (
    LOSSES,
    METHODS,
    assert_matches_by_hand,
    example,
    run_job,
)
from torch.nn import functional as F

import weightsearch as ws
from weightsearch.errors import WeightsearchError
from weightsearch.integrations import lightning as wsl

EPOCHS = 2
ex = example("lightning_multitask")
METRICS = {"val_rel_mse": "minimize", "mse_task1": "minimize", "mse_task2": "minimize"}


def by_hand(weights: dict[str, float], method: str, seed: int) -> dict[str, float]:
    """The example's model and data in a plain loop: what wsl and Lightning must reproduce."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = ex.TwoTasks(lr=0.01)
    train_loader, val_loader = ex.loaders(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    run = ws.Run(weights=dict(weights), method=method, seed=seed, losses=LOSSES)
    balancer = run.balancer(shared=model.trunk.parameters())
    for epoch in range(EPOCHS):
        for x, y in train_loader:
            predictions = model(x)
            losses = {f"task{i + 1}": F.mse_loss(p, y[:, i]) for i, p in enumerate(predictions)}
            optimizer.zero_grad()
            balancer.backward(losses)
            optimizer.step()
        with torch.no_grad():
            metrics = {k: float(v) for k, v in ex.evaluate(model, *next(iter(val_loader))).items()}
        run.report(epoch, metrics)
        scheduler.step()
    return metrics


def task_of(module_class: type, **trainer_args: object) -> ws.Task:
    """A task that fits ``module_class`` on the example's data through the adapter."""

    @ws.task(losses=LOSSES, metrics=METRICS)
    def fit(run: ws.Run) -> dict[str, float]:
        trainer = wsl.trainer(run, shared="trunk", max_epochs=EPOCHS, **trainer_args)
        trainer.fit(module_class(), *ex.loaders(run.seed))
        return wsl.metrics(trainer)

    return fit


@pytest.mark.parametrize("method", ["static", "mgda", "uncertainty"])
def test_a_trial_equals_the_model_trained_by_hand(method):
    result = run_job(ex.train, method=method, params={"epochs": EPOCHS})

    assert result.state == "COMPLETE", result.traceback
    expected = by_hand({"task1": 0.5, "task2": 0.5}, method, 0)
    assert result.seed_values[0] == pytest.approx(expected, rel=1e-5, abs=1e-7)
    assert [step for step, _ in result.curves[0]] == list(range(EPOCHS))
    if method != "static":  # the adaptive weights moved, and the trial kept where they went
        assert result.final_weights[0] != {"task1": 0.5, "task2": 0.5}


@pytest.mark.slow
def test_grid_through_the_cli_equals_by_hand(cli, sqlite_url):
    result = cli(
        *("grid", ex.__file__, "--multipliers", "1,4", "--param", f"epochs={EPOCHS}"),
        *("--in-process", "--quiet", "--json", "--storage", sqlite_url),
    )

    assert result.code == 0, result.err
    report = result.json()
    assert len(report["trials"]) == 3
    assert_matches_by_hand(report, by_hand)


@pytest.mark.slow
def test_compare_through_the_cli_equals_by_hand(cli, sqlite_url):
    result = cli(
        *("compare", ex.__file__, "--methods", METHODS, "--seeds", "2"),
        *("--param", f"epochs={EPOCHS}", "--in-process", "--quiet", "--json"),
        *("--storage", sqlite_url),
    )

    assert result.code == 0, result.err
    report = result.json()
    assert sorted({t["method"] for t in report["trials"]}) == sorted(METHODS.split(","))
    assert_matches_by_hand(report, by_hand)


def test_pruning_ends_the_fit_and_the_trial_is_pruned():
    result = run_job(ex.train, params={"epochs": 3}, prune_at=0)

    assert result.state == "PRUNED", result.traceback
    assert [step for step, _ in result.curves[0]] == [0]


class RaisingModule(ex.TwoTasks):
    def training_step(self, batch, batch_idx):
        raise RuntimeError("the data loader handed a broken batch")


def test_a_raising_fit_fails_the_trial_with_its_traceback():
    result = run_job(task_of(RaisingModule))

    assert result.state == "FAIL"
    assert result.error == "RuntimeError: the data loader handed a broken batch"
    assert "in training_step" in result.traceback
    assert "test_integration_lightning.py" in result.traceback


class SummingModule(ex.TwoTasks):
    def training_step(self, batch, batch_idx):
        return sum(super().training_step(batch, batch_idx).values())


class MisnamedModule(ex.TwoTasks):
    def training_step(self, batch, batch_idx):
        losses = super().training_step(batch, batch_idx)
        return {"task1": losses["task1"], "depth": losses["task2"]}


@pytest.mark.parametrize(
    ("module_class", "expected"),
    [
        (
            SummingModule,
            "training_step must give the per-task losses as a dict of the task's losses "
            "['task1', 'task2'], but it gave Tensor. Return e.g. "
            '{"task1": loss_task1, "task2": loss_task2} instead of their sum.',
        ),
        (
            MisnamedModule,
            "training_step must give exactly the task's losses ['task1', 'task2'], but it gave "
            "['task1', 'depth'] (missing: ['task2']; not declared: ['depth']). Rename them to "
            "match, or change losses=[...] in @ws.task.",
        ),
    ],
)
def test_a_training_step_without_the_task_losses_is_a_plain_error(module_class, expected):
    result = run_job(task_of(module_class))

    assert result.state == "FAIL"
    assert result.bad_input  # the command stops with it (exit 2): every trial would meet it
    assert result.error == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"accelerator": "gpu"}, "wsl.trainer places the Trainer on the trial's device"),
        ({"accumulate_grad_batches": 2}, "can't accumulate or clip gradients"),
        ({"gradient_clip_val": 1.0}, "gradient_clip_val=1.0"),
    ],
)
def test_trainer_options_the_balancer_cannot_honour_are_refused(args, expected):
    result = run_job(task_of(ex.TwoTasks, **args))

    assert result.state == "FAIL"
    assert result.bad_input  # the command stops with it (exit 2): every trial would meet it
    assert expected in result.error


def test_shared_must_name_a_submodule():
    run = ws.Run(weights={"task1": 0.5, "task2": 0.5}, losses=LOSSES)
    trainer = wsl.trainer(run, shared="trunk_", max_epochs=1)

    with pytest.raises(WeightsearchError, match=r"its submodules are \['trunk', 'heads'\]"):
        trainer.fit(ex.TwoTasks(), *ex.loaders(0))
    assert "training_step" not in vars(ex.TwoTasks())  # the class stays the user's
