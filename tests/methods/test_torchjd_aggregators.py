"""torchjd's aggregators as methods (``torchjd:<Aggregator>``): the same gradients as torchjd's
own ``mtl_backward`` + ``jac_to_grad``, the properties every method has, and clear errors."""

from __future__ import annotations

import copy
import importlib.metadata
import io
import math
import pickle

import pytest
import torch
from methods_toy import batch, grads, make

from weightsearch import methods
from weightsearch.methods import torchjd_aggregators

torchjd = pytest.importorskip("torchjd")
from torchjd import aggregation  # noqa: E402
from torchjd.autojac import jac_to_grad, mtl_backward  # noqa: E402

# Gramian-weighted, weighted and plain aggregators, with their required arguments.
AGGREGATORS = {
    "Sum": {},
    "Mean": {},
    "MGDA": {},
    "PCGrad": {},
    "IMTLG": {},
    "AlignedMTL": {},
    "Random": {},
    "GradDrop": {},
    "ConFIG": {},
    "TrimmedMean": {"trim_number": 1},
    "CAGrad": {"c": 0.4},  # with torchjd's cagrad extra (cvxpy)
}
LOSSES = ["a", "b", "c"]


def _ours(name: str, seed: int = 1, **options):
    model = make()
    b = methods.create(f"torchjd:{name}", LOSSES, model.trunk.parameters(), **options)
    torch.manual_seed(0)
    losses, _ = model.losses(batch(seed))
    return model, b, b.backward(losses)


@pytest.mark.parametrize("name", list(AGGREGATORS))
def test_gradients_are_torchjds_own(name: str) -> None:
    model, _, weights = _ours(name, **AGGREGATORS[name])
    reference = make()
    torch.manual_seed(0)
    losses, features = reference.losses(batch(1))
    shared = list(reference.trunk.parameters())
    mtl_backward(
        list(losses.values()),
        features,
        shared_params=shared,
        tasks_params=[list(h.parameters()) for h in reference.heads],
    )
    jac_to_grad(shared, getattr(aggregation, name)(**AGGREGATORS[name]))
    for got, want in zip(grads(model), grads(reference), strict=True):
        torch.testing.assert_close(got, want)
    assert list(weights) == LOSSES
    assert all(math.isfinite(w) for w in weights.values())


def test_weights_are_the_aggregators_and_the_heads_get_their_plain_gradient() -> None:
    model, _, weights = _ours("MGDA")
    assert math.isclose(sum(weights.values()), 1.0, rel_tol=1e-5)
    losses, _ = model.losses(batch(1))
    shared = list(model.trunk.parameters())
    total = sum(w * losses[n] for n, w in weights.items())
    combined = torch.autograd.grad(total, shared, retain_graph=True)
    for p, want in zip(shared, combined, strict=True):
        torch.testing.assert_close(p.grad, want, rtol=1e-4, atol=1e-6)
    for head, name in zip(model.heads, LOSSES, strict=True):
        plain = torch.autograd.grad(losses[name], list(head.parameters()), retain_graph=True)
        for p, want in zip(head.parameters(), plain, strict=True):
            torch.testing.assert_close(p.grad, want)
    assert not methods.method_class("torchjd:MGDA").weighted_sum


@pytest.mark.parametrize("name", ["MGDA", "Random", "GradDrop"])
def test_deterministic_under_a_seed_and_state_round_trip(name: str) -> None:
    runs = [_ours(name)[2] for _ in range(2)]
    assert runs[0] == runs[1]
    model, b, _ = _ours(name)
    copy_ = methods.create(f"torchjd:{name}", LOSSES, model.trunk.parameters())
    copy_.load_state_dict(b.state_dict())
    torch.manual_seed(3)
    after = b.backward(model.losses(batch(2))[0])
    torch.manual_seed(3)
    assert copy_.backward(model.losses(batch(2))[0]) == after


# Stateful aggregators, with options under which their state changes the next step.
STATEFUL = {
    "GradVac": {},
    "PCD": {},
    "ExcessMTL": {"robust_step_size": 0.01},
    "NashMTL": {"update_weights_every": 2},
}


@pytest.mark.parametrize("name", list(STATEFUL))
# torchjd's NashMTL problem isn't in cvxpy's parametrised form: cvxpy says so at every solve.
@pytest.mark.filterwarnings("ignore:You are solving a parameterized problem that is not DPP")
def test_a_stateful_aggregator_resumes_from_a_saved_state_dict(name: str) -> None:
    options = STATEFUL[name]
    model, b, _ = _ours(name, **options)
    for seed in (2, 3):
        model.zero_grad()
        b.backward(model.losses(batch(seed))[0])
    saved = io.BytesIO()
    torch.save(b.state_dict(), saved)
    saved.seek(0)
    resumed = methods.create(f"torchjd:{name}", LOSSES, model.trunk.parameters(), **options)
    resumed.load_state_dict(torch.load(saved, weights_only=True))

    # Two steps after resuming: NashMTL solves on every other step only (update_weights_every).
    def two_steps(balancer) -> list:
        taken = []
        for seed in (4, 5):
            model.zero_grad()
            torch.manual_seed(seed)
            weights = balancer.backward(model.losses(batch(seed))[0])
            taken.append((weights, [g.clone() for g in grads(model)]))
        return taken

    original = two_steps(b)
    for (weights, got), (want_weights, want) in zip(two_steps(resumed), original, strict=True):
        assert weights == want_weights
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g, w, rtol=0, atol=0)
    # A fresh aggregator, given the state of a stateful one, would differ: the state matters.
    model.zero_grad()
    torch.manual_seed(4)
    fresh = methods.create(f"torchjd:{name}", LOSSES, model.trunk.parameters(), **options)
    assert fresh.backward(model.losses(batch(4))[0]) != original[0][0]


def test_a_state_of_another_aggregator_is_refused() -> None:
    _, b, _ = _ours("GradVac")
    other = methods.create("torchjd:PCGrad", LOSSES, make().trunk.parameters())
    with pytest.raises(ValueError, match="not one of torchjd:PCGrad"):
        other.load_state_dict(b.state_dict())


def test_copies_and_pickles_find_the_method_class() -> None:
    model, b, _ = _ours("PCGrad")
    for twin_model, twin in (copy.deepcopy((model, b)), pickle.loads(pickle.dumps((model, b)))):
        assert type(twin) is methods.method_class("torchjd:PCGrad")
        losses, _ = twin_model.losses(batch(2))
        assert list(twin.backward(losses)) == LOSSES


def test_hyperparameters_are_the_aggregators_arguments() -> None:
    info = {i.name: i for i in methods.describe()}
    assert [n for n in info if not n.startswith("torchjd:")] == methods.available()
    mgda = {h.name: h for h in info["torchjd:MGDA"].hyperparameters}
    assert (mgda["epsilon"].default, mgda["epsilon"].type) == (0.001, float)
    assert mgda["max_iters"].help.startswith("The maximum number of iterations")
    trimmed = info["torchjd:TrimmedMean"]
    assert trimmed.hyperparameters_text() == "trim_number=required"
    assert "n_tasks" not in {h.name for h in info["torchjd:NashMTL"].hyperparameters}
    version = importlib.metadata.version("torchjd")
    assert info["torchjd:UPGrad"].reference.startswith(f"torchjd {version}, aggregation.UPGrad")
    assert "Jacobian Descent" in info["torchjd:UPGrad"].reference
    assert info["torchjd:Sum"].summary == "Sums the rows of the input matrices."
    assert methods.parse_method_args(["torchjd:TrimmedMean.trim_number=1"]) == {
        "torchjd:TrimmedMean": {"trim_number": 1}
    }


def test_clear_errors() -> None:
    model = make()
    with pytest.raises(ValueError, match=r"torchjd's aggregators are .*UPGrad.*'Nosuch'"):
        methods.create("torchjd:Nosuch", LOSSES, model.trunk.parameters())
    with pytest.raises(
        ValueError, match=r"torchjd:TrimmedMean takes \(trim_number\).*--method-arg"
    ):
        methods.create("torchjd:TrimmedMean", LOSSES, model.trunk.parameters())
    with pytest.raises(ValueError, match="epsilon"):
        methods.create("torchjd:MGDA", LOSSES, model.trunk.parameters(), epsilon="small")
    with pytest.raises(ValueError, match="takes hyperparameters epsilon, max_iters"):
        methods.create("torchjd:MGDA", LOSSES, model.trunk.parameters(), nosuch=1)


def test_without_torchjd_the_name_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torchjd_aggregators, "aggregator_names", lambda: None)
    with pytest.raises(ValueError, match=r"needs torchjd, which isn't installed.*pip install"):
        methods.method_class("torchjd:UPGrad")
