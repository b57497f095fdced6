"""The direct engine calls give what torch.autograd.grad/backward give, else fall back to them."""

from __future__ import annotations

import logging

import pytest
import torch

from weightsearch import methods
from weightsearch.methods import engine
from weightsearch.methods.pcgrad import pcgrad_coefficients


class Tagged(torch.Tensor):
    """A tensor subclass, as libraries such as DTensor make: must take the public functions."""


def _graph(dtype: torch.dtype = torch.float32):
    torch.manual_seed(0)
    w = torch.randn(3, 2, dtype=dtype, requires_grad=True)
    u = torch.randn(2, dtype=dtype, requires_grad=True)
    unused = torch.randn(2, dtype=dtype, requires_grad=True)
    loss = ((w @ u).tanh() ** 2).sum()
    return loss, (w, u, unused)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_match_autograd_grad(dtype: torch.dtype) -> None:
    loss, inputs = _graph(dtype)
    assert engine.direct([loss, *inputs])
    expected = torch.autograd.grad(loss, inputs, retain_graph=True, allow_unused=True)
    got = engine.gradients(loss, inputs, True, True)
    assert got[2] is None
    assert expected[2] is None
    for g, e in zip(got[:2], expected[:2], strict=True):
        assert g is not None
        assert e is not None
        assert g.dtype == dtype
        torch.testing.assert_close(g, e, rtol=0, atol=0)


def test_gradients_free_the_graph_unless_retained() -> None:
    loss, inputs = _graph()
    engine.gradients(loss, inputs, False, True)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        engine.gradients(loss, inputs, False, True)


def test_backward_accumulates_like_autograd_backward() -> None:
    loss, (w, u, _) = _graph()
    other = (w.sum() * u.sum()) ** 2
    scales = (torch.tensor(0.5), torch.tensor(-2.0))
    torch.autograd.backward([loss, other], grad_tensors=scales, retain_graph=True)
    expected = (w.grad.clone(), u.grad.clone())
    w.grad, u.grad = torch.ones_like(w), None  # accumulates onto an existing .grad too
    engine.backward([loss, other], scales, engine.direct([loss, other]))
    torch.testing.assert_close(w.grad, expected[0] + 1, rtol=0, atol=1e-6)
    torch.testing.assert_close(u.grad, expected[1], rtol=0, atol=0)


def test_direct_only_for_plain_cpu_tensors_without_debug_logging(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plain = torch.zeros(2, requires_grad=True)
    assert engine.direct([plain, torch.nn.Parameter(torch.zeros(2))])
    assert not engine.direct([plain, torch.zeros(2).as_subclass(Tagged)])
    assert not engine.direct([plain, torch.zeros(2, device="meta")])
    with caplog.at_level(logging.DEBUG, logger="torch.autograd.graph"):
        assert not engine.direct([plain])


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    run = engine._run_backward

    def counting(*args):
        calls.append(1)
        return run(*args)

    monkeypatch.setattr(engine, "_run_backward", counting)
    return calls


@pytest.mark.parametrize("subclass", [False, True])
def test_a_method_takes_the_direct_path_only_on_plain_tensors(
    monkeypatch: pytest.MonkeyPatch, subclass: bool
) -> None:
    calls = _spy(monkeypatch)
    torch.manual_seed(0)
    w = torch.randn(3)
    w = (w.as_subclass(Tagged) if subclass else w).requires_grad_()
    b = methods.create("pcgrad", ["a", "b"], [w])
    b.backward({"a": (w * w).sum(), "b": (w - 1.0).sum()})
    assert len(calls) == (0 if subclass else 2)
    g_a, g_b = 2 * w.detach().as_subclass(torch.Tensor), torch.ones(3)
    # With two tasks each one's order holds only the other: no randomness left.
    c = pcgrad_coefficients([[g_a @ g_a, g_a @ g_b], [g_b @ g_a, g_b @ g_b]], orders=[[1], [0]])
    assert w.grad is not None
    torch.testing.assert_close(
        w.grad.as_subclass(torch.Tensor), c[0] * g_a + c[1] * g_b, rtol=1e-6, atol=1e-6
    )
