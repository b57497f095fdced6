"""DDP inside a trial: two CPU ranks (gloo) against one process on the whole batch, every method."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from methods_toy import batch, make

from weightsearch import methods

STEPS = 3
RANKS = 2
CASES = [(name, {}) for name in methods.available()] + [("mgda", {"use_features": False})]


class _Forward(torch.nn.Module):
    """The toy model's losses as a forward, so DistributedDataParallel's hooks see them."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        return self.model.losses(x)


def _train(name: str, args: dict, rank: int | None):
    """Weights per step, final parameters and collectives per backward; rank None: one process
    on the whole batch, else a DDP rank on its half."""
    model = make(dtype=torch.float64)
    forward = _Forward(model)
    if rank is not None:
        forward = torch.nn.parallel.DistributedDataParallel(forward)
    torch.manual_seed(1)  # the same draws (RLW, PCGrad) in every process
    b = methods.create(name, losses=["a", "b", "c"], shared=model.trunk.parameters(), **args)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    history, counts = [], []
    for step in range(STEPS):
        x = batch(step, torch.float64, n=8)
        if rank is not None:
            x = x.chunk(RANKS)[rank]
        opt.zero_grad()
        losses, features = forward(x)
        before = _calls[0]
        weights = b.backward(losses, features=features)
        counts.append(_calls[0] - before)
        b.epoch_end()
        history.append(list(weights.values()))
        opt.step()
    return history, [p.detach().clone() for p in model.parameters()], counts


_calls = [0]


def _worker(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=RANKS
    )
    original = dist.all_reduce

    def counted(*args, **kwargs):
        _calls[0] += 1
        return original(*args, **kwargs)

    dist.all_reduce = counted  # the methods call torch.distributed.all_reduce
    try:
        results = {f"{name}{args}": _train(name, args, rank) for name, args in CASES}
    finally:
        dist.all_reduce = original
        dist.destroy_process_group()
    torch.save(results, f"{out}/{rank}.pt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=RANKS)
    return [torch.load(out / f"{rank}.pt") for rank in range(RANKS)]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "args"), CASES, ids=[f"{n}{a or ''}" for n, a in CASES])
def test_ranks_agree_with_one_process_on_the_whole_batch(
    ranks: list[dict], name: str, args: dict
) -> None:
    history, params, _ = _train(name, args, None)
    for result in ranks:
        rank_history, rank_params, counts = result[f"{name}{args}"]
        assert rank_history == ranks[0][f"{name}{args}"][0]  # identical on every rank
        for got, want in zip(rank_history, history, strict=True):
            assert got == pytest.approx(want, rel=1e-5, abs=1e-9)
        for got, want in zip(rank_params, params, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-9)
        assert max(counts) <= 1  # at most one collective per backward
        if methods.method_class(name).kind != "loss-level":
            assert min(counts) == 1
