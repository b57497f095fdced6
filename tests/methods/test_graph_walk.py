"""reachable_leaves: the leaves a backward from the losses accumulates into, and no others."""

from __future__ import annotations

import torch

from weightsearch import methods
from weightsearch.methods.base import reachable_leaves


def test_leaves_of_shared_and_separate_branches() -> None:
    shared, head_a, head_b, unused = (torch.randn(2, requires_grad=True) for _ in range(4))
    constant = torch.randn(2)  # no grad: not a leaf of the graph
    features = (shared * constant).tanh()
    a = (features * head_a).sum()
    b = (features + head_b).pow(2).sum() + a.detach()
    assert set(reachable_leaves([a])) == {id(shared), id(head_a)}
    assert set(reachable_leaves([a, b])) == {id(shared), id(head_a), id(head_b)}
    assert id(unused) not in reachable_leaves([a, b])


def test_a_loss_that_is_a_leaf_is_its_own_leaf() -> None:
    w = torch.tensor(2.0, requires_grad=True)
    assert reachable_leaves([w]) == {id(w): w}


def test_a_method_gives_a_leaf_loss_its_weighted_gradient() -> None:
    shared = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    scalar = torch.nn.Parameter(torch.tensor(3.0))  # a task whose loss is a parameter itself
    b = methods.create("pcgrad", ["a", "b"], [shared])
    weights = b.backward({"a": (shared * shared).sum(), "b": scalar})
    assert scalar.grad is not None
    torch.testing.assert_close(scalar.grad, torch.tensor(weights["b"]))
