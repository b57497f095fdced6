"""Per-task gradients on the shared parameters, and the base of methods that combine them.

Gradient-level methods look at each task's gradient on the shared parameters, pick one coefficient
per task, and apply ``sum(c_i * grad L_i)``. Computing the K gradients is the cost: one
``torch.autograd.grad`` call per task with ``retain_graph`` (on a CPU this loop beat the batched
``is_grads_batched``/vmap path; see ``benchmarks/step_time.py``). The same calls also return each
task's gradient on the parameters only it reaches (its head), so the head gradients come for free
and no extra backward is needed: every parameter ends with the gradient of ``sum(c_i * L_i)``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from weightsearch.methods.base import Balancer, reachable_leaves


class TaskGradients:
    """The gradient of each loss on the shared parameters (flattened) and on every other leaf.

    Args:
        losses: the K scalar losses.
        shared: the shared parameters.
        retain_graph: keep the graph after the last call (for methods that backward again).
        workspace: the ``matrix`` of the previous step, reused when it fits: a fresh K x P
            buffer every step costs page faults that were a tenth of a step on the reference
            model.
    """

    def __init__(
        self,
        losses: Sequence[Tensor],
        shared: Sequence[Tensor],
        *,
        retain_graph: bool = False,
        workspace: Tensor | None = None,
    ) -> None:
        self.shared = list(shared)
        shared_ids = {id(p) for p in self.shared}
        # One traversal for all losses: a leaf a loss doesn't reach just comes back as None.
        extra = [t for k, t in reachable_leaves(losses).items() if k not in shared_ids]
        sizes = [p.numel() for p in self.shared]
        #: K x P matrix of the tasks' gradients on the shared parameters.
        shape = (len(losses), sum(sizes))
        first = self.shared[0]
        if (
            workspace is not None
            and workspace.shape == shape
            and workspace.dtype == first.dtype
            and workspace.device == first.device
        ):
            self.matrix = workspace
        else:
            self.matrix = torch.empty(shape, dtype=first.dtype, device=first.device)
        # Contiguous views of a flat vector with each parameter's shape, for writing ``.grad``.
        self._layout: list[tuple[torch.Size, tuple[int, ...], int]] = []
        offset = 0
        for p, n in zip(self.shared, sizes, strict=True):
            self._layout.append((p.shape, _contiguous_strides(p.shape), offset))
            offset += n
        self.others: dict[int, tuple[Tensor, list[tuple[int, Tensor]]]] = {}
        count = len(self.shared)
        same_dtype = all(p.dtype == first.dtype for p in self.shared)
        last = len(losses) - 1
        for i, loss in enumerate(losses):
            grads = torch.autograd.grad(
                loss,
                self.shared + extra,
                retain_graph=retain_graph or i < last,
                allow_unused=True,
            )
            pieces = [
                g.reshape(-1) if g is not None else self.matrix.new_zeros(n)
                for g, n in zip(grads[:count], sizes, strict=True)
            ]
            if same_dtype:
                # One op writes the whole row: far cheaper than a copy per parameter.
                torch.cat(pieces, out=self.matrix[i])
            else:
                for dst, piece in zip(self.matrix[i].split(sizes), pieces, strict=True):
                    dst.copy_(piece)
            for leaf, g in zip(extra, grads[count:], strict=True):
                if g is not None:
                    self.others.setdefault(id(leaf), (leaf, []))[1].append((i, g))
            # Drop this task's gradients before the next backward: kept alive, they raise the
            # loop's peak memory, and the allocator hands pages back to the OS and faults them in
            # again every step (200+ page faults a step, 5-10% of the floor on the reference model).
            del grads, pieces
        self._gram: Tensor | None = None

    def gram(self) -> Tensor:
        """The K x K matrix of inner products of the shared gradients, in float64."""
        if self._gram is None:
            self._gram = (self.matrix @ self.matrix.T).double()
        return self._gram

    def accumulate(self, coefficients: Tensor, shared_vector: Tensor | None = None) -> None:
        """Add ``sum(c_i * grad L_i)`` to ``.grad`` of every parameter the losses reach.

        Args:
            coefficients: one coefficient per task.
            shared_vector: a flat gradient to use on the shared parameters instead of the
                combination (for methods whose shared update isn't a combination of this step's
                gradients).
        """
        c = coefficients.to(self.matrix)
        flat = c @ self.matrix if shared_vector is None else shared_vector.to(self.matrix)
        flat = flat.contiguous()
        start = flat.storage_offset()
        for p, (shape, strides, offset) in zip(self.shared, self._layout, strict=True):
            _add_grad(p, flat.as_strided(shape, strides, start + offset))
        if not self.others:
            return
        cl = c.tolist()
        others = list(self.others.values())
        # Usually each such leaf (a head) is reached by one task: one foreach op scales them all.
        totals = torch._foreach_mul(
            [parts[0][1] for _, parts in others], [cl[parts[0][0]] for _, parts in others]
        )
        for (leaf, parts), total in zip(others, totals, strict=True):
            for i, g in parts[1:]:
                total = total + g * cl[i]
            _add_grad(leaf, total)


def _contiguous_strides(shape: torch.Size) -> tuple[int, ...]:
    strides = []
    step = 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


def _add_grad(p: Tensor, g: Tensor) -> None:
    if g.dtype != p.dtype:
        g = g.to(p.dtype)
    if p.grad is None:
        p.grad = g if g.is_contiguous() else g.contiguous()
    else:
        p.grad.add_(g)


class GradientBalancer(Balancer):
    """Base of methods that set per-task coefficients from the gradients on the shared parameters.

    Subclasses implement :meth:`_coefficients`; every parameter then gets the gradient of
    ``sum(c_i * L_i)``.
    """

    kind = "gradient-level"
    needs_shared = True

    def __init__(self, losses: Sequence[str], shared: Iterable[Tensor] | Tensor = ()) -> None:
        super().__init__(losses, shared)
        self._workspace: Tensor | None = None

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> Tensor | None:
        grads = self._task_gradients(losses)
        coefficients = self._coefficients(grads, losses)
        grads.accumulate(coefficients)
        return coefficients

    def _task_gradients(self, losses: list[Tensor]) -> TaskGradients:
        grads = TaskGradients(losses, self.shared, workspace=self._workspace)
        self._workspace = grads.matrix
        return grads

    @abc.abstractmethod
    def _coefficients(self, grads: TaskGradients, losses: list[Tensor]) -> Tensor:
        """One coefficient per task (float64), from the task gradients and the loss values."""


def loss_values(losses: Sequence[Tensor]) -> Tensor:
    """The losses as a detached float64 vector (on the CPU)."""
    return torch.tensor([loss.item() for loss in losses], dtype=torch.float64)
