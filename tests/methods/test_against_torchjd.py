"""weightsearch's own methods against torchjd's aggregators: the same direction and, up to the
factor each scale convention implies, the same norm of the update on the shared parameters."""

from __future__ import annotations

import math

import pytest
import torch

from weightsearch import methods

pytest.importorskip("torchjd")
from torchjd import aggregation

# Three task gradients in conflict (cos(g1, g2) < 0) at scales 1 : 10 : 0.1, and two for PCGrad,
# whose projection order is random in both (with two tasks there is only one order).
JACOBIAN = [[1.0, 0.5, 0.0, 0.2], [-9.0, 1.0, 3.0, 0.0], [0.02, -0.08, 0.05, 0.01]]
PAIR = [[1.0, 0.5, 0.0, 0.2], [-0.9, 0.1, 0.3, 0.0]]
C = 0.4

# method, its hyperparameters, the torchjd aggregator, Jacobian, and ||ours|| / ||torchjd's||.
CASES = {
    "equal": ({}, lambda k: aggregation.Sum(), JACOBIAN, lambda k: 1.0),
    "mgda": (
        {"normalization": "none"},
        lambda k: aggregation.MGDA(epsilon=1e-9, max_iters=10000),
        JACOBIAN,
        lambda k: 1.0,
    ),
    "imtl": ({}, lambda k: aggregation.IMTLG(), JACOBIAN, lambda k: 1.0),
    "pcgrad": ({}, lambda k: aggregation.PCGrad(), PAIR, lambda k: 1.0),
    # torchjd's NashMTL clips the update to max_norm (1.0 by default, as the authors' code clips
    # the shared gradients); with clipping off both solve a_i (G G^T a)_i = 1: norm sqrt(K).
    # On the pair: its sequence of convex programs doesn't reach the solution for 1 : 10 : 0.1.
    "nash-mtl": (
        {},
        lambda k: aggregation.NashMTL(n_tasks=k, max_norm=0.0, optim_niter=100),
        PAIR,
        lambda k: 1.0,
    ),
    # torchjd weights B by the mean preference vector (1/K each); the authors' code and LibMTL
    # sum B's rows, as weightsearch does: K times torchjd's update.
    "aligned-mtl": ({}, lambda k: aggregation.AlignedMTL(), JACOBIAN, lambda k: float(k)),
    # torchjd leaves out the authors' default rescaling by 1 / (1 + c^2) (rescale=1).
    "cagrad": ({"c": C}, lambda k: aggregation.CAGrad(c=C), JACOBIAN, lambda k: 1 / (1 + C**2)),
}


def _ours(method: str, jacobian: list[list[float]], **hyperparameters) -> torch.Tensor:
    g = torch.tensor(jacobian, dtype=torch.float64)
    theta = torch.nn.Parameter(torch.zeros(g.shape[1], dtype=torch.float64))
    names = [f"t{i}" for i in range(len(g))]
    b = methods.create(method, names, shared=[theta], **hyperparameters)
    b.backward({n: theta @ row for n, row in zip(names, g, strict=True)})
    assert theta.grad is not None
    return theta.grad


@pytest.mark.parametrize("method", list(CASES))
# torchjd's NashMTL problem isn't in cvxpy's parametrised form: cvxpy says so at every solve.
@pytest.mark.filterwarnings("ignore:You are solving a parameterized problem that is not DPP")
def test_same_direction_and_norm_as_torchjd(method: str) -> None:
    hyperparameters, aggregator, jacobian, ratio = CASES[method]
    ours = _ours(method, jacobian, **hyperparameters)
    try:
        theirs = aggregator(len(jacobian))(torch.tensor(jacobian, dtype=torch.float64))
    except ImportError as error:  # an aggregator's optional solver isn't installed
        pytest.skip(str(error))
    cos = float(ours @ theirs) / float(ours.norm() * theirs.norm())
    assert cos > 1 - 1e-5
    # torchjd's NashMTL stops its convex programs at a tolerance of about 1e-3.
    assert float(ours.norm()) == pytest.approx(
        ratio(len(jacobian)) * float(theirs.norm()), rel=2e-3
    )


def test_nash_mtl_norm_is_sqrt_k_like_torchjds() -> None:
    assert float(_ours("nash-mtl", JACOBIAN).norm()) == pytest.approx(math.sqrt(3), rel=1e-12)
