"""A tiny multi-task model and helpers shared by the methods tests."""

from __future__ import annotations

import torch

LOSSES = ("a", "b", "c")


class TinyNet(torch.nn.Module):
    """A 2-layer trunk and one linear head per task."""

    def __init__(self, tasks: int = 3, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.trunk = torch.nn.Sequential(
            torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 6)
        ).to(dtype)
        self.heads = torch.nn.ModuleList(torch.nn.Linear(6, 1).to(dtype) for _ in range(tasks))

    def losses(
        self, x: torch.Tensor, scales: tuple[float, ...] = (1.0, 10.0, 0.1)
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        features = self.trunk(x)
        names = (
            LOSSES[: len(self.heads)]
            if len(self.heads) <= 3
            else [f"t{i}" for i in range(len(self.heads))]
        )
        out = {
            name: ((head(features) - 1.0) ** 2).mean() * scale
            for name, head, scale in zip(names, self.heads, scales, strict=False)
        }
        return out, features


def make(seed: int = 0, dtype: torch.dtype = torch.float32, tasks: int = 3) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet(tasks, dtype)


def batch(seed: int = 1, dtype: torch.dtype = torch.float32, n: int = 8) -> torch.Tensor:
    return torch.randn(n, 4, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def grads(model: torch.nn.Module) -> list[torch.Tensor]:
    return [
        p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()
    ]
