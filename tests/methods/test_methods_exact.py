"""Hand-checked values of each method on small inputs whose gradients are known exactly.

``linear(g, offset)`` gives losses ``L_i = theta . g_i + offset_i`` at ``theta = 0``: the gradient
of loss i on the shared ``theta`` is exactly ``g_i`` and its value is ``offset_i``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from weightsearch import methods
from weightsearch.methods import cagrad, nash_mtl
from weightsearch.methods.cagrad import cagrad_coefficients
from weightsearch.methods.mgda import min_norm_weights
from weightsearch.methods.pcgrad import pcgrad_coefficients

NAMES = ("a", "b", "c", "d")


def linear(gs, offsets=None):
    gs = torch.tensor(gs, dtype=torch.float64)
    theta = torch.nn.Parameter(torch.zeros(gs.shape[1], dtype=torch.float64))
    offsets = offsets or [1.0] * len(gs)

    def losses():
        return {n: theta @ g + o for n, g, o in zip(NAMES, gs, offsets, strict=False)}

    return theta, losses


def run(method, gs, offsets=None, steps=1, **hp):
    theta, losses = linear(gs, offsets)
    b = methods.create(method, losses=list(NAMES[: len(gs)]), shared=[theta], **hp)
    for _ in range(steps):
        theta.grad = None
        weights = b.backward(losses())
    return list(weights.values()), theta.grad, b


def close(got, want, tol=1e-9):
    assert np.allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), atol=tol), (
        got,
        want,
    )


def test_equal_and_static() -> None:
    close(run("equal", [[1, 0], [0, 2]])[1], [1, 2])
    weights, grad, _ = run("static", [[1, 0], [0, 2]], weights={"a": 0.5, "b": 3})
    close(weights, [0.5, 3])
    close(grad, [0.5, 6])


def test_mgda_two_tasks_closed_form() -> None:
    # gamma = (g2.g2 - g1.g2) / ||g1 - g2||^2 = 4 / 5 on g1 = (1, 0), g2 = (0, 2)
    weights, grad, _ = run("mgda", [[1, 0], [0, 2]], normalization="none")
    close(weights, [0.8, 0.2])
    close(grad, [0.8, 0.4])


def test_mgda_normalizations() -> None:
    gs, offsets = [[3, 0], [0, 1]], [2.0, 0.5]
    # l2: unit gradients (1,0), (0,1) -> weights 1/2 each
    close(run("mgda", gs, offsets, normalization="l2")[0], [0.5, 0.5])
    # loss: g/L = (1.5, 0), (0, 2) -> gamma = 4 / (2.25 + 4)
    close(run("mgda", gs, offsets, normalization="loss")[0], [4 / 6.25, 2.25 / 6.25])
    # loss+: g/(L ||g||) = (0.5, 0), (0, 2) -> gamma = 4 / 4.25
    close(run("mgda", gs, offsets, normalization="loss+")[0], [4 / 4.25, 0.25 / 4.25])


def test_mgda_three_tasks_satisfies_optimality() -> None:
    gs = [[1.0, 0.0, 0.5], [0.0, 1.0, 0.2], [-0.5, 0.4, 1.0]]
    weights, grad, _ = run("mgda", gs, normalization="none")
    g = np.array(gs)
    a = np.array(weights)
    assert a.min() >= 0
    assert math.isclose(a.sum(), 1)
    mx = g @ (a @ g)
    norm2 = a @ g @ (a @ g)
    # KKT of min ||sum a_i g_i||^2 on the simplex: g_j . d >= ||d||^2, equality where a_j > 0
    assert (mx >= norm2 - 1e-10).all()
    close(mx[a > 1e-9], norm2, 1e-9)
    close(grad, a @ g)


def test_min_norm_solver_matches_enumeration() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        k = int(rng.integers(3, 6))
        g = rng.normal(size=(k, int(rng.integers(1, 6))))
        m = g @ g.T
        best = min(
            (
                _affine_value(m, list(s))
                for r in range(1, k + 1)
                for s in itertools.combinations(range(k), r)
            ),
        )
        a = min_norm_weights(m)
        assert a @ m @ a <= best + 1e-12 * max(1.0, m.max())


def _affine_value(m, support):
    n = len(support)
    system = np.zeros((n + 1, n + 1))
    system[:n, :n] = m[np.ix_(support, support)]
    system[:n, n] = system[n, :n] = 1
    x = np.linalg.lstsq(system, np.eye(n + 1)[n], rcond=None)[0][:n]
    return math.inf if (x < -1e-12).any() else x @ m[np.ix_(support, support)] @ x


def test_mgda_ub_uses_the_representation() -> None:
    z = torch.nn.Parameter(torch.tensor([0.0, 0.0], dtype=torch.float64))
    w = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    b = methods.create("mgda", ["a", "b"], shared=[w], normalization="none")
    features = w * z  # dL/dfeatures is (1, 0) and (0, 2)
    losses = {"a": features[0] + 1, "b": 2 * features[1] + 1}
    close(list(b.backward(losses, features=features).values()), [0.8, 0.2])


def test_pcgrad_projects_a_conflicting_pair() -> None:
    # g1.g2 = -1: g1' = g1 + g2 / 2 = (0.5, 0.5), g2' = g2 + g1 = (0, 1); update (0.5, 1.5)
    weights, grad, _ = run("pcgrad", [[1, 0], [-1, 1]])
    close(grad, [0.5, 1.5])
    close(weights, [2.0, 1.5])
    # no conflict: plain sum
    close(run("pcgrad", [[1, 0], [1, 1]])[1], [2, 1])


def test_pcgrad_order_matters_for_three_tasks() -> None:
    gram = torch.tensor(
        [[1.0, -0.5, -0.5], [-0.5, 1.0, 0.0], [-0.5, 0.0, 1.0]], dtype=torch.float64
    )
    # task 0 on 1 (dot -0.5): e0 + 0.5 e1; on 2: dot -0.5 + 0 = -0.5 -> (1, 0.5, 0.5)
    # task 1 on 0 (dot -0.5): (0.5, 1, 0); on 2: dot 0.5 * -0.5 = -0.25 -> (0.5, 1, 0.25)
    # task 2 on 0: (0.5, 0, 1); on 1: dot -0.25 -> (0.5, 0.25, 1)
    c = pcgrad_coefficients(gram, orders=[[1, 2], [0, 2], [0, 1]])
    close(c, [2.0, 1.75, 1.75])
    # the other order for task 0 gives the same here (symmetric), but task 1 first on 2:
    # no conflict with 2 (dot 0), then on 0: (0.5, 1, 0)
    c = pcgrad_coefficients(gram, orders=[[1, 2], [2, 0], [0, 1]])
    close(c, [2.0, 1.75, 1.5])


def test_gradnorm_first_update() -> None:
    # n = (1, 3), w = (1, 1): G = (1, 3), target = mean G = 2 at step 0; the first Adam step
    # moves each weight by lr against sign(G - target) * n: w = (1.025, 0.975), sum 2.
    weights, grad, b = run("gradnorm", [[1, 0], [0, 3]])
    close(weights, [1, 1])
    close(grad, [1, 3])
    close(b.task_weights.detach(), [1.025, 0.975], 1e-6)


def test_gradnorm_on_all_shared_parameters() -> None:
    torch.manual_seed(0)
    trunk, head = torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)
    b = methods.create("gradnorm", ["a", "b"], trunk.parameters(), layer="all")
    x = torch.randn(5, 3)
    for _ in range(2):
        trunk.zero_grad()
        head.zero_grad()
        out = head(trunk(x))
        weights = b.backward({"a": out[:, 0].pow(2).mean(), "b": 10 * out[:, 1].pow(2).mean()})
    out = head(trunk(x))
    total = weights["a"] * out[:, 0].pow(2).mean() + weights["b"] * 10 * out[:, 1].pow(2).mean()
    params = [*trunk.parameters(), *head.parameters()]
    for p, want in zip(params, torch.autograd.grad(total, params), strict=True):
        torch.testing.assert_close(p.grad, want)
    assert weights["a"] > 1 > weights["b"]


def test_gradnorm_weights_sum_to_the_number_of_tasks() -> None:
    _, _, b = run("gradnorm", [[1, 0, 0], [0, 5, 0], [0, 0, 0.1]], steps=20)
    close(float(b.task_weights.detach().sum()), 3.0, 1e-9)
    w = b.task_weights.detach().tolist()
    assert w[2] > 1 > w[1]  # the small-gradient task gains weight


def test_uncertainty_kendall_tends_to_inverse_loss() -> None:
    # constant losses 4 and 0.25: the optimum of 0.5 exp(-s) L + 0.5 s is exp(-s) = 1/L
    weights, _, _b = run("uncertainty", [[1, 0], [0, 1]], [4.0, 0.25], steps=600, lr=0.05)
    close(weights, [0.5 / 4, 0.5 / 0.25], 1e-3)


def test_uncertainty_starts_at_one_half_and_liebel_moves_c_by_its_gradient() -> None:
    weights, _, b = run("uncertainty", [[1, 0], [0, 1]], [3.0, 0.5], form="liebel")
    close(weights, [0.5, 0.5])
    # d/dc (0.5 L / c^2 + log(1 + c^2)) at c = 1 is 1 - L: c rises for L = 3, falls for L = 0.5
    c = b.uncertainty.detach().tolist()
    assert c[0] > 1 > c[1]


def test_dwa_uses_the_ratio_of_the_last_two_epoch_means() -> None:
    theta, losses = linear([[1, 0], [0, 1]])
    b = methods.create("dwa", ["a", "b"], shared=[theta])
    for epoch_losses in ([2.0, 1.0], [1.0, 1.0]):
        values = losses()
        b.backward({"a": values["a"] * epoch_losses[0], "b": values["b"] * epoch_losses[1]})
        assert b.weights == {"a": 1.0, "b": 1.0}
        b.epoch_end()
    r = torch.tensor([0.5, 1.0], dtype=torch.float64)
    close(list(b.weights.values()), 2 * torch.softmax(r / 2, 0))


def test_rlw_draws_softmax_of_a_normal() -> None:
    torch.manual_seed(4)
    expected = torch.softmax(torch.randn(3, dtype=torch.float64), 0)
    torch.manual_seed(4)
    close(run("rlw", [[1, 0], [0, 1], [1, 1]])[0], expected)


def test_gls_weights() -> None:
    # GLS = sqrt(1 * 4) = 2; weights GLS / (K L_i) = (1, 0.25)
    close(run("gls", [[1, 0], [0, 1]], [1.0, 4.0])[0], [1.0, 0.25])


def test_cagrad_orthogonal_pair() -> None:
    # symmetric: w = (1/2, 1/2), g_w = g0, lam = c ||g0|| / ||g_w|| = c
    weights, _grad, _ = run("cagrad", [[1, 0], [0, 1]])
    close(weights, [(0.5 + 0.4 * 0.5) / 1.16] * 2, 1e-6)
    close(run("cagrad", [[1, 0], [0, 3]], c=0.0)[0], [0.5, 0.5])


def test_cagrad_solution_is_optimal() -> None:
    rng = np.random.default_rng(1)
    g = rng.normal(size=(3, 4))
    m = g @ g.T
    c = 0.4
    weights = cagrad_coefficients(m, c)
    g0 = g.mean(0)
    d = weights @ g * (1 + c**2)
    # CAGrad's d maximises min_i g_i . d over the ball ||d - g0|| <= c ||g0||: check on the sphere
    assert np.linalg.norm(d - g0) <= c * np.linalg.norm(g0) * (1 + 1e-6)
    best = min(g @ d)
    for _ in range(2000):
        v = rng.normal(size=4)
        candidate = g0 + c * np.linalg.norm(g0) * v / np.linalg.norm(v)
        assert min(g @ candidate) <= best + 1e-4


@pytest.mark.parametrize("seed", range(6))
def test_cagrad_support_search_finds_the_minimum(seed: int) -> None:
    # The weights minimise w.u + r ||g_w|| on the simplex whatever support the search tries first:
    # gradient scales spread over 1e-2..1e2 put the minimum on vertices, edges and the interior.
    rng = np.random.default_rng(seed)
    k = 2 + seed % 4
    g = rng.normal(size=(k, 5)) * np.logspace(-2, 2, k)[rng.permutation(k)][:, None]
    m = g @ g.T
    m = m / (np.trace(m) / k)
    u = m.mean(1)
    r = 0.4 * math.sqrt(u.mean() + 1e-8)
    weights = np.array(cagrad._solve_by_support(m.tolist(), u.tolist(), r))

    def objective(w: np.ndarray) -> np.ndarray:
        return w @ u + r * np.sqrt(np.maximum(np.einsum("...i,ij,...j->...", w, m, w), 0.0))

    samples = np.concatenate([np.eye(k), rng.dirichlet(np.full(k, 0.3), size=20000)])
    assert weights.min() >= 0
    assert math.isclose(weights.sum(), 1.0)
    assert objective(weights) <= objective(samples).min() + 1e-9


def test_cagrad_minimum_on_a_vertex() -> None:
    # One tiny gradient (the reference model at its start): the minimum is that task alone.
    g = np.array([[0.4, 0.0, 0.1], [0.0, 3.9, 0.0], [0.01, -0.02, 0.03]])
    m = g @ g.T
    u = m.mean(1)
    weights = cagrad._solve_by_support(m.tolist(), u.tolist(), 0.4 * math.sqrt(u.mean()))
    close(weights, [0.0, 0.0, 1.0])


def test_imtl_equal_projections() -> None:
    # g1 = (2, 0), g2 = (0, 1): 2 a1 = a2 and a1 + a2 = 1
    weights, grad, _ = run("imtl", [[2, 0], [0, 1]])
    close(weights, [1 / 3, 2 / 3])
    gs = np.array([[1.0, 0.2, 0.0], [0.3, 2.0, 0.1], [-0.2, 0.1, 0.5]])
    _, grad, _ = run("imtl", gs.tolist())
    units = gs / np.linalg.norm(gs, axis=1, keepdims=True)
    projections = units @ grad.numpy()
    close(projections, [projections[0]] * 3)


def test_imtl_direction_ignores_gradient_scales() -> None:
    # What docs/methods.md says of IMTL-L's hybrid: IMTL-G on exp(s_i) * g_i moves along the same
    # direction as on g_i; only the length changes.
    gs = np.array([[1.0, 0.2, 0.0], [0.3, 2.0, 0.1], [-0.2, 0.1, 0.5]])
    _, grad, _ = run("imtl", gs.tolist())
    scales = np.array([[0.01], [3.0], [40.0]])
    _, scaled, _ = run("imtl", (gs * scales).tolist())
    cosine = float(grad @ scaled) / float(grad.norm() * scaled.norm())
    close(cosine, 1.0)
    assert not np.isclose(float(scaled.norm()), float(grad.norm()))


def test_aligned_mtl_orthogonal_pair() -> None:
    # Gram diag(4, 1): singular values (2, 1); B = 1 * diag(1/2, 1): both aligned gradients unit
    close(run("aligned-mtl", [[2, 0], [0, 1]])[0], [0.5, 1.0])
    # rmse: sqrt of the mean eigenvalue, sqrt(2.5)
    close(run("aligned-mtl", [[2, 0], [0, 1]], scale_mode="rmse")[0], [2.5**0.5 / 2, 2.5**0.5])


def test_nash_mtl_orthogonal_pair() -> None:
    # Gram diag(4, 1): a_i^2 M_ii = 1 on the raw Gram matrix, so a = (1/2, 1)
    close(run("nash-mtl", [[2, 0], [0, 1]])[0], [0.5, 1.0], 1e-12)
    gs = np.array([[1.0, 0.2], [0.3, 2.0], [0.5, 0.5]])  # K > P: singular, a relative ridge
    weights = np.array(run("nash-mtl", gs.tolist())[0])
    m = gs @ gs.T
    close(weights * (m @ weights), [1, 1, 1], 1e-4)


def test_famo_weights_and_logit_update() -> None:
    theta, losses = linear([[1, 0], [0, 1]], [1.0, 3.0])
    b = methods.create("famo", ["a", "b"], shared=[theta])
    # z uniform: weights z_i / L_i normalised: (1, 1/3) / (4/3)
    close(list(b.backward(losses()).values()), [0.75, 0.25])
    values = losses()
    b.backward({"a": values["a"] * 0.5, "b": values["b"]})  # task a improved, b didn't
    logits = b.logits.detach().tolist()
    assert logits[0] < logits[1]  # the slower task gets more weight


def test_db_mtl_first_step() -> None:
    # h_i = g_i / L_i = (2, 0) and (0, 0.5); averages (1 - beta) h; factors max|m| / |m_i| = (1, 4)
    weights, grad, _ = run("db-mtl", [[4, 0], [0, 1]], [2.0, 2.0])
    close(weights, [1, 4], 1e-6)
    close(grad, [0.1 * 2, 0.1 * 0.5 * 4], 1e-6)


def test_db_mtl_average_decays_with_the_step() -> None:
    # beta_sigma 0.5: b = 0.9 at step 1, 0.9 / sqrt(2) at step 2; h constant, so m = w h with
    # w = (1 - 0.9) * b2 + (1 - b2); the update is max|m| * (1, 1) = 2 w (1, 1)
    b2 = 0.9 / 2**0.5
    w = 0.1 * b2 + (1 - b2)
    weights, grad, _ = run("db-mtl", [[4, 0], [0, 1]], [2.0, 2.0], steps=2, beta_sigma=0.5)
    close(weights, [1, 4], 1e-6)
    close(grad, [2 * w, 2 * w], 1e-6)


@pytest.mark.parametrize("method", ["mgda", "imtl", "aligned-mtl", "nash-mtl", "cagrad"])
def test_scale_free_methods_ignore_a_common_scale(method: str) -> None:
    gs = [[1.0, 0.2, 0.0], [0.3, 2.0, 0.1], [0.5, -0.5, 1.0]]
    base = np.array(run(method, gs)[0])
    scaled = np.array(run(method, (np.array(gs) * 1e3).tolist(), [1e3] * 3)[0])
    direction = base @ np.array(gs)
    scaled_direction = scaled @ np.array(gs)
    cos = (
        direction @ scaled_direction / np.linalg.norm(direction) / np.linalg.norm(scaled_direction)
    )
    assert cos > 1 - 1e-6


@pytest.mark.parametrize("form", ["kendall", "liebel"])
def test_uncertainty_gradient_and_adam_match_autograd_and_torch(form: str) -> None:
    theta, losses = linear([[1, 0], [0, 1]], [3.0, 0.5])
    b = methods.create("uncertainty", ["a", "b"], [theta], form=form, lr=0.1)
    u = torch.nn.Parameter(b.uncertainty.detach().clone())
    reference = torch.optim.Adam([u], lr=0.1)
    values = torch.tensor([3.0, 0.5], dtype=torch.float64)
    for _ in range(5):
        b.backward(losses())
        if form == "kendall":
            objective = (0.5 * torch.exp(-u) * values + 0.5 * u).sum()
        else:
            objective = (0.5 / u**2 * values + torch.log1p(u**2)).sum()
        reference.zero_grad()
        objective.backward()
        reference.step()
    torch.testing.assert_close(b.uncertainty.detach(), u.detach())


def test_nash_mtl_newton_stops_at_convergence(monkeypatch: pytest.MonkeyPatch) -> None:
    # Task gradients of very different norms: near the solution the potential's decrease falls
    # below its rounding, where a line search can no longer judge a step.
    calls = []
    solve = nash_mtl.solve
    monkeypatch.setattr(nash_mtl, "solve", lambda *a: calls.append(1) or solve(*a))
    rng = np.random.default_rng(0)
    for _ in range(50):
        g = rng.normal(size=(3, 5)) * rng.choice([0.01, 1.0, 100.0], size=(3, 1))
        m = g @ g.T
        calls.clear()
        a = np.array(nash_mtl.nash_weights(m))
        close(a * (m @ a), [1, 1, 1], 1e-8)
        assert len(calls) <= 15
