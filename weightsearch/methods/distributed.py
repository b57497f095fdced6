"""Data-parallel training: the same weights on every rank, equal to the whole batch's.

When ``torch.distributed`` is initialised with more than one rank, each rank holds a shard of the
batch. A method that reads anything of its shard (loss values, task gradients, the Gram matrix of
the features' gradients) averages it over the ranks first, in one ``all_reduce`` per backward,
so every rank solves the same problem, the one the whole batch gives (equal shards, mean losses),
and keeps the same state. Random draws (RLW's weights, PCGrad's orders) travel in the same
collective: every rank draws, and rank 0's draw is used everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def world_size() -> int:
    """The number of ranks; 1 when ``torch.distributed`` is not initialised."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return 1
    return torch.distributed.get_world_size()


def reduce(
    mean: Sequence[Tensor], root: Sequence[Tensor] = ()
) -> tuple[list[Tensor], list[Tensor]]:
    """One ``all_reduce`` of a flat buffer: each of ``mean`` averaged over the ranks, each of
    ``root`` as rank 0 has it (the other ranks add zeros).

    The buffer's dtype is the widest of the tensors' (float32 at least); the results are new
    tensors in that dtype, shaped as given.
    """
    tensors = [*mean, *root]
    dtype = torch.float32
    for t in tensors:
        dtype = torch.promote_types(dtype, t.dtype)
    rank_zero = torch.distributed.get_rank() == 0
    parts = [t.reshape(-1).to(dtype) for t in mean]
    parts += [t.reshape(-1).to(dtype) * (1.0 if rank_zero else 0.0) for t in root]
    flat = torch.cat(parts)
    torch.distributed.all_reduce(flat)
    out: list[Tensor] = []
    offset = 0
    size = world_size()
    for i, t in enumerate(tensors):
        piece = flat[offset : offset + t.numel()].view(t.shape)
        out.append(piece / size if i < len(mean) else piece)
        offset += t.numel()
    return out[: len(mean)], out[len(mean) :]
