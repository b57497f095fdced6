"""The Hugging Face Trainer adapter: trials equal the same model trained by hand, grid and
compare through the CLI, pruning, a raising training, and bad input. Nothing is downloaded."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("transformers")
pytest.importorskip("accelerate")
os.environ["HF_HUB_OFFLINE"] = "1"

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

EPOCHS, LR, BATCH, SAMPLES = 2, 0.01, 32, 512
ex = example("hf_trainer_multitask")


def by_hand(weights: dict[str, float], method: str, seed: int) -> dict[str, float]:
    """The example's model and data in a plain loop, with the Trainer's defaults written out:
    AdamW (no weight decay), a linear decay to zero, clipping at norm 1, and accelerate's
    shuffling (a permutation seeded with seed + epoch)."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = ex.TwoTaskModel(ex.TwoTaskConfig())
    data, val = ex.Pairs(100 + seed, SAMPLES), ex.Pairs(999, 256)
    total = EPOCHS * (SAMPLES // BATCH)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / total)
    run = ws.Run(weights=dict(weights), method=method, seed=seed, losses=LOSSES)
    balancer = run.balancer(shared=model.trunk.parameters())
    for epoch in range(EPOCHS):
        order = torch.randperm(SAMPLES, generator=torch.Generator().manual_seed(seed + epoch))
        for batch in order.split(BATCH):
            logits = model(data.x[batch]).logits
            losses = {f"task{i + 1}": F.mse_loss(logits[:, i], data.y[batch, i]) for i in (0, 1)}
            optimizer.zero_grad()
            balancer.backward(losses)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
        with torch.no_grad():
            logits = model(val.x).logits
        mse = [float(F.mse_loss(logits[:, i], val.y[:, i])) for i in (0, 1)]
        metrics = {
            "eval_rel_mse": sum(m / s**2 for m, s in zip(mse, ex.SCALES, strict=True)) / 2,
            "eval_mse_task1": mse[0],
            "eval_mse_task2": mse[1],
        }
        run.report(epoch, metrics)
    return metrics


@pytest.mark.parametrize("method", ["static", "mgda", "uncertainty"])
def test_a_trial_equals_the_model_trained_by_hand(method):
    result = run_job(ex.train, method=method, params={"epochs": EPOCHS})

    assert result.state == "COMPLETE", result.traceback
    expected = by_hand({"task1": 0.5, "task2": 0.5}, method, 0)
    got = {name: result.seed_values[0][name] for name in expected}
    assert got == pytest.approx(expected, rel=1e-4, abs=1e-6)
    steps = SAMPLES // BATCH
    assert [step for step, _ in result.curves[0]] == [steps, 2 * steps]


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ["grid", "--multipliers", "1,4"],
        ["compare", "--methods", METHODS, "--seeds", "2"],
    ],
    ids=["grid", "compare"],
)
def test_grid_and_compare_through_the_cli_equal_by_hand(cli, sqlite_url, command):
    result = cli(
        *(command[0], ex.__file__, *command[1:], "--param", f"epochs={EPOCHS}"),
        *("--in-process", "--quiet", "--json", "--storage", sqlite_url),
    )

    assert result.code == 0, result.err
    assert_matches_by_hand(result.json(), by_hand)


def test_pruning_ends_the_training_and_the_trial_is_pruned():
    result = run_job(ex.train, params={"epochs": 3}, prune_at=1)

    assert result.state == "PRUNED", result.traceback
    assert len(result.curves[0]) == 1


class RaisingModel(ex.TwoTaskModel):
    def forward(self, x, labels=None):
        raise RuntimeError("the tokenizer handed an empty batch")


class SummingModel(ex.TwoTaskModel):
    def forward(self, x, labels=None):
        return ex.TwoTaskOutput(loss=super().forward(x, labels).loss)


class MisnamedModel(ex.TwoTaskModel):
    def forward(self, x, labels=None):
        output = super().forward(x, labels)
        losses = output.losses or {}
        return ex.TwoTaskOutput(loss=output.loss, losses={"task1": losses.get("task1"), "depth": 0})


def task_of(model_class: type, **training_args: object) -> ws.Task:
    """The example's task with another model class (and other training arguments)."""
    from weightsearch.integrations import transformers as wshf

    @ws.task(losses=LOSSES, metrics={"eval_rel_mse": "minimize"})
    def fit(run: ws.Run) -> dict[str, float]:
        args = wshf.arguments(run, "out", num_train_epochs=1, **training_args)
        trainer = wshf.BalancedTrainer(
            run=run,
            shared="trunk",
            model=model_class(ex.TwoTaskConfig()),
            args=args,
            train_dataset=ex.Pairs(0, 64),
            eval_dataset=ex.Pairs(1, 64),
            compute_metrics=ex.compute_metrics,
        )
        trainer.train()
        return wshf.metrics(trainer)

    return fit


def test_a_raising_training_fails_the_trial_with_its_traceback(workdir):
    result = run_job(task_of(RaisingModel))

    assert result.state == "FAIL"
    assert result.error == "RuntimeError: the tokenizer handed an empty batch"
    assert "test_integration_transformers.py" in result.traceback


@pytest.mark.parametrize(
    ("model_class", "training_args", "expected"),
    [
        (
            SummingModel,
            {},
            "the model's output['losses'] must give the per-task losses as a dict of the task's "
            "losses ['task1', 'task2'], but it gave None.",
        ),
        (
            MisnamedModel,
            {},
            "must give exactly the task's losses ['task1', 'task2'], but it gave "
            "['task1', 'depth'] (missing: ['task2']; not declared: ['depth']).",
        ),
        (ex.TwoTaskModel, {"gradient_accumulation_steps": 2}, "can't accumulate gradients"),
        (ex.TwoTaskModel, {"seed": 3}, "takes the seed and the device from the trial"),
    ],
    ids=["no losses", "other names", "accumulation", "own seed"],
)
def test_bad_input_is_a_plain_error(workdir, model_class, training_args, expected):
    result = run_job(task_of(model_class, **training_args))

    assert result.state == "FAIL"
    assert result.bad_input  # the command stops with it (exit 2): every trial would meet it
    assert expected in result.error
