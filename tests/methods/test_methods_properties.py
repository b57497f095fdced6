"""Properties every registered method must have, run over all of them."""

from __future__ import annotations

import copy as copy_module
import math
import pickle

import pytest
import torch
from methods_toy import batch, grads, make

from weightsearch import methods


def _step(model, balancer, seed=1, features=True, scales=(1.0, 10.0, 0.1)):
    losses, f = model.losses(batch(seed, next(model.parameters()).dtype), scales)
    return balancer.backward(losses, features=f if features else None), losses


@pytest.mark.parametrize("features", [False, True])
def test_weights_are_finite_and_named(method: str, features: bool) -> None:
    model = make()
    b = methods.create(method, losses=["a", "b", "c"], shared=model.trunk.parameters())
    for seed in range(3):
        model.zero_grad()
        weights, _ = _step(model, b, seed, features)
        assert weights == b.weights
        b.epoch_end()
        assert list(weights) == ["a", "b", "c"]
        assert all(math.isfinite(w) for w in weights.values())
        assert all(torch.isfinite(g).all() for g in grads(model))


@pytest.mark.parametrize("features", [False, True])
def test_grad_is_the_weighted_sum_it_reports(method: str, features: bool) -> None:
    cls = methods.method_class(method)
    if not cls.weighted_sum:
        pytest.skip(f"{method} doesn't claim a combination of this step's gradients")
    model = make()
    b = methods.create(method, losses=["a", "b", "c"], shared=model.trunk.parameters())
    _step(model, b, 0, features)  # let stateful methods move off their start
    model.zero_grad()
    weights, _ = _step(model, b, 1, features)
    losses, _ = model.losses(batch(1))
    total = sum(w * losses[n] for n, w in weights.items())
    expected = torch.autograd.grad(total, list(model.parameters()))
    for got, want in zip(grads(model), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_grad_accumulates_like_backward(method: str) -> None:
    model = make()
    b = methods.create(method, losses=["a", "b", "c"], shared=model.trunk.parameters())
    torch.manual_seed(3)
    _step(model, b)
    once = grads(model)
    model2 = make()
    b2 = methods.create(method, losses=["a", "b", "c"], shared=model2.trunk.parameters())
    for p in model2.parameters():
        p.grad = torch.ones_like(p)
    torch.manual_seed(3)
    _step(model2, b2)
    for g1, g2 in zip(once, grads(model2), strict=True):
        torch.testing.assert_close(g2, g1 + 1)


def test_deterministic_under_a_seed(method: str) -> None:
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = make()
        b = methods.create(method, losses=["a", "b", "c"], shared=model.trunk.parameters())
        history = []
        for seed in range(3):
            model.zero_grad()
            history.append(_step(model, b, seed)[0])
        runs.append((history, grads(model)))
    assert runs[0][0] == runs[1][0]
    for g1, g2 in zip(runs[0][1], runs[1][1], strict=True):
        assert torch.equal(g1, g2)


def test_state_dict_round_trip(method: str) -> None:
    model = make()
    b = methods.create(method, losses=["a", "b", "c"], shared=model.trunk.parameters())
    for seed in range(3):
        _step(model, b, seed)
        b.epoch_end()
    copy = methods.create(method, losses=["a", "b", "c"], shared=model.trunk.parameters())
    copy.load_state_dict(b.state_dict())
    assert copy.weights == b.weights
    torch.manual_seed(5)
    after = _step(model, b, 7)[0]
    torch.manual_seed(5)
    assert _step(model, copy, 7)[0] == after


def test_float64_model(method: str) -> None:
    model = make(dtype=torch.float64)
    b = methods.create(method, losses=["a", "b", "c"], shared=model.trunk.parameters())
    weights, _ = _step(model, b)
    assert all(math.isfinite(w) for w in weights.values())
    assert all(g.dtype == torch.float64 and torch.isfinite(g).all() for g in grads(model))


def test_state_dict_holds_only_the_methods_own_state(method: str) -> None:
    model = make()
    b = methods.create(method, losses=["a", "b", "c"], shared=model.trunk.parameters())
    _step(model, b)
    state = b.state_dict()
    model_memory = {p.data_ptr() for p in model.parameters()}
    assert not [k for k, t in state.items() if t.data_ptr() in model_memory]
    pointers = [t.data_ptr() for t in state.values() if t.numel()]
    assert len(pointers) == len(set(pointers)), sorted(state)


@pytest.mark.parametrize("how", ["deepcopy", "pickle", "load_state_dict(assign=True)"])
def test_a_copy_carries_on_like_the_original(method: str, how: str) -> None:
    model = make()
    b = methods.create(method, losses=["a", "b", "c"], shared=model.trunk.parameters())
    for seed in range(2):
        _step(model, b, seed)
        b.epoch_end()
    # A copy of the balancer with its model (the model's parameters are its shared ones).
    if how == "deepcopy":
        model2, b2 = copy_module.deepcopy((model, b))
    elif how == "pickle":
        model2, b2 = pickle.loads(pickle.dumps((model, b)))
    else:
        model2 = copy_module.deepcopy(model)
        b2 = methods.create(method, losses=["a", "b", "c"], shared=model2.trunk.parameters())
        b2.load_state_dict({k: v.clone() for k, v in b.state_dict().items()}, assign=True)
    # Each has a state of its own: stepping one leaves the other where it was.
    torch.manual_seed(5)
    after = _step(model, b, 7)[0]
    torch.manual_seed(5)
    assert _step(model2, b2, 7)[0] == pytest.approx(after, rel=1e-12)


def test_moving_the_balancer_keeps_its_state_in_float64_on_the_cpu(method: str) -> None:
    model = make()
    b = methods.create(method, losses=["a", "b", "c"], shared=model.trunk.parameters())
    _step(model, b)
    before = b.state_dict()
    assert b.to(torch.float16) is b
    b.double()
    for name, tensor in b.state_dict().items():
        assert tensor.dtype == before[name].dtype, name
        assert tensor.device.type == "cpu", name
    weights, _ = _step(model, b, 2)
    assert all(math.isfinite(w) for w in weights.values())


def test_heads_whose_gradients_alias_or_broadcast_get_the_weighted_sum(method: str) -> None:
    # Autograd may hand back one tensor for two leaves (u + v) or a broadcast view (s.sum()):
    # scaling such gradients in place would scale one twice or write through a stride of 0.
    cls = methods.method_class(method)
    if not cls.weighted_sum:
        pytest.skip(f"{method} doesn't claim a combination of this step's gradients")
    torch.manual_seed(0)
    trunk = torch.nn.Linear(3, 4)
    u, v, s = (torch.nn.Parameter(torch.randn(shape)) for shape in (4, 4, (2, 2)))
    x = torch.randn(5, 3)

    def losses() -> dict[str, torch.Tensor]:
        f = torch.tanh(trunk(x))
        return {
            "a": (f @ (u + v)).pow(2).mean(),
            "b": f.pow(2).mean() * s.sum().exp(),
            "c": (f.sum(1) - 1).pow(2).mean(),
        }

    b = methods.create(method, losses=["a", "b", "c"], shared=trunk.parameters())
    b.backward(losses())  # let stateful methods move off their start
    params = [*trunk.parameters(), u, v, s]
    for p in params:
        p.grad = None
    weights = b.backward(losses())
    values = losses()
    expected = torch.autograd.grad(sum(w * values[n] for n, w in weights.items()), params)
    for p, want in zip(params, expected, strict=True):
        torch.testing.assert_close(p.grad, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("factor", [10.0, 0.1])
def test_a_scale_invariant_method_ignores_a_common_loss_scale(method: str, factor: float) -> None:
    # Every loss times `factor` (so every task gradient and loss value): a method declared
    # invariant-update takes the same step, one declared invariant-weights the same weights.
    cls = methods.method_class(method)
    if cls.scale == "adaptive":
        pytest.skip(f"{method} promises nothing about the losses' scale")

    def run(multiplier: float):
        torch.manual_seed(0)
        model = make(dtype=torch.float64)
        b = methods.create(method, losses=["a", "b", "c"], shared=model.trunk.parameters())
        scales = tuple(multiplier * s for s in (1.0, 10.0, 0.1))
        for seed in range(3):
            model.zero_grad()
            weights, _ = _step(model, b, seed, scales=scales)
            b.epoch_end()
        return list(weights.values()), grads(model)

    weights, update = run(1.0)
    scaled_weights, scaled_update = run(factor)
    # Not exact: the authors' small constants (DB-MTL's log(L + 1e-8), Adam's eps in GradNorm)
    # don't scale; off by 1e-5 at most here, far from the factor 10 of a scale-dependent step.
    tolerance = {"rtol": 1e-4, "atol": 1e-12}
    if cls.scale == "invariant-update":
        for got, want in zip(scaled_update, update, strict=True):
            torch.testing.assert_close(got, want, **tolerance)
    else:
        assert scaled_weights == pytest.approx(weights, rel=1e-4)
        for got, want in zip(scaled_update, update, strict=True):
            torch.testing.assert_close(got, want * factor, **tolerance)
