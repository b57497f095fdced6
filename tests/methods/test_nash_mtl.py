"""Nash-MTL's scale: the paper's condition on the raw Gram matrix and an update of norm sqrt(K).

With ``a_i (M a)_i = 1`` for ``M = G G^T``, the update ``d = G^T a`` has
``||d||^2 = a^T M a = sum_i a_i (M a)_i = K``: its norm is ``sqrt(K)`` at any gradient scale.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from weightsearch import methods
from weightsearch.methods.nash_mtl import nash_weights


def _step(gs: np.ndarray, dtype: torch.dtype = torch.float64) -> tuple[np.ndarray, np.ndarray]:
    """One nash-mtl step on losses ``theta . g_i``: the weights and the gradient on theta."""
    g = torch.tensor(gs, dtype=dtype)
    theta = torch.nn.Parameter(torch.zeros(g.shape[1], dtype=dtype))
    names = [f"t{i}" for i in range(len(gs))]
    b = methods.create("nash-mtl", names, shared=[theta])
    weights = b.backward({n: theta @ row for n, row in zip(names, g, strict=True)})
    assert theta.grad is not None
    return np.array(list(weights.values())), theta.grad.double().numpy()


@pytest.mark.parametrize("scales", [(1e-3, 1.0, 1e3), (1e3, 1e3, 1e-3), (10.6, 0.078, 1.0)])
def test_the_bargaining_condition_holds_on_the_raw_gram_matrix(scales) -> None:
    rng = np.random.default_rng(1)
    for _ in range(5):
        gs = rng.normal(size=(3, 7)) * np.array(scales)[:, None]
        weights, _ = _step(gs)
        m = gs @ gs.T
        np.testing.assert_allclose(weights * (m @ weights), 1.0, rtol=1e-9)


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_the_update_has_norm_sqrt_k_at_any_scale(k: int, scale: float) -> None:
    rng = np.random.default_rng(k)
    gs = rng.normal(size=(k, 9)) * scale * rng.uniform(0.1, 10.0, size=(k, 1))
    _, update = _step(gs)
    assert np.linalg.norm(update) == pytest.approx(math.sqrt(k), rel=1e-9)


def test_float32_gradients_keep_the_condition_to_their_precision() -> None:
    rng = np.random.default_rng(2)
    gs = rng.normal(size=(4, 50)) * np.array([[10.6], [0.078], [1.0], [3.0]])
    weights, update = _step(gs, torch.float32)
    m = gs @ gs.T
    np.testing.assert_allclose(weights * (m @ weights), 1.0, rtol=1e-4)
    assert np.linalg.norm(update) == pytest.approx(2.0, rel=1e-4)


def test_a_regular_gram_matrix_gets_no_ridge() -> None:
    # Norms 10.6 and 0.078 (ratio 136): a fixed ridge on the normalised matrix skewed the small
    # task's condition by 1.8%.
    g = np.array([[10.6, 0.0, 1.0], [0.05, 0.06, 0.0]])
    m = g @ g.T
    a = np.array(nash_weights(m.tolist()))
    np.testing.assert_allclose(a * (m @ a), 1.0, rtol=1e-12)


@pytest.mark.parametrize(
    "gs",
    [
        [[1.0, 2.0], [-1.0, -2.0]],  # directly opposed: M a = 0 for a = (1, 1)
        [[1.0, 2.0], [0.0, 0.0]],  # a task with no gradient
        [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],  # more tasks than dimensions
    ],
)
def test_a_singular_gram_matrix_gives_finite_weights_and_a_bounded_update(gs) -> None:
    weights, update = _step(np.array(gs))
    assert np.isfinite(weights).all()
    assert (weights > 0).all()
    assert np.linalg.norm(update) <= math.sqrt(len(gs)) * (1 + 1e-6)


def test_the_ridge_of_a_singular_matrix_skews_the_other_tasks_little() -> None:
    # Task c has no gradient; a and b (norms 10 and 0.1) still meet the condition closely.
    g = np.array([[10.0, 0.0, 0.0], [0.0, 0.1, 0.05], [0.0, 0.0, 0.0]])
    m = g @ g.T
    a = np.array(nash_weights(m.tolist()))
    np.testing.assert_allclose((a * (m @ a))[:2], 1.0, rtol=1e-5)
