"""Degenerate inputs: zero, parallel and opposite gradients, one task, extreme scales, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from methods_toy import batch, grads, make

from weightsearch import methods


def _finite(weights: dict[str, float], model: torch.nn.Module) -> None:
    assert all(math.isfinite(w) for w in weights.values()), weights
    assert all(torch.isfinite(g).all() for g in grads(model))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_loss_scales(method: str, dtype: torch.dtype) -> None:
    model = make(dtype=dtype)
    b = methods.create(method, ["a", "b", "c"], model.trunk.parameters())
    for seed in range(3):
        model.zero_grad()
        losses, f = model.losses(batch(seed, dtype), scales=(1e-4, 1.0, 1e4))
        _finite(b.backward(losses, features=f), model)
        b.epoch_end()


def test_a_loss_that_is_exactly_zero_and_has_zero_gradient(method: str) -> None:
    model = make()
    b = methods.create(method, ["a", "b", "c"], model.trunk.parameters())
    for seed in range(3):
        model.zero_grad()
        losses, f = model.losses(batch(seed))
        losses["b"] = 0.0 * losses["b"]
        _finite(b.backward(losses, features=f), model)
        b.epoch_end()


def test_parallel_and_identical_gradients(method: str) -> None:
    model = make()
    b = methods.create(method, ["a", "b", "c"], model.trunk.parameters())
    for seed in range(3):
        model.zero_grad()
        losses, f = model.losses(batch(seed))
        losses["b"] = losses["a"] * 1.0
        losses["c"] = losses["a"] * 3.0
        _finite(b.backward(losses, features=f), model)


def test_opposite_gradients(method: str) -> None:
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    b = methods.create(method, ["a", "b"], [w])
    for _ in range(3):
        w.grad = None
        weights = b.backward({"a": w.sum() + 5.0, "b": 5.0 - w.sum()})
        assert all(math.isfinite(v) for v in weights.values())
        assert torch.isfinite(w.grad).all()


def test_a_single_task(method: str) -> None:
    model = make(tasks=1)
    b = methods.create(method, ["a"], model.trunk.parameters())
    for seed in range(3):
        model.zero_grad()
        losses, f = model.losses(batch(seed))
        _finite(b.backward(losses, features=f), model)
        b.epoch_end()


def test_wrong_inputs_have_clear_errors(method: str) -> None:
    model = make()
    b = methods.create(method, ["a", "b", "c"], model.trunk.parameters())
    losses, _ = model.losses(batch())
    with pytest.raises(ValueError, match=r"\['c'\] is missing"):
        b.backward({"a": losses["a"], "b": losses["b"]})
    with pytest.raises(ValueError, match=r"\['z'\] is unknown"):
        b.backward({**losses, "z": losses["a"]})
    with pytest.raises(ValueError, match=r"scalar tensor.*'a' is \(2,\)"):
        b.backward({**losses, "a": torch.stack([losses["a"], losses["a"]])})
    with pytest.raises(ValueError, match="requires_grad"):
        b.backward({**losses, "a": losses["a"].detach()})
    other = torch.nn.Linear(2, 2)
    unreached = methods.create(method, ["a", "b", "c"], other.parameters())
    with pytest.raises(ValueError, match="none of the 2 shared tensors is reached"):
        unreached.backward(losses)


def test_gls_rejects_negative_losses() -> None:
    w = torch.nn.Parameter(torch.ones(2))
    b = methods.create("gls", ["a", "b"], [w])
    with pytest.raises(ValueError, match=r"non-negative losses.*\['b'\] is negative"):
        b.backward({"a": w.sum(), "b": -w.sum()})
