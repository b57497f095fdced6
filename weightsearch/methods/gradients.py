"""Per-task gradients on the shared parameters, and the base of methods that combine them.

Gradient-level methods look at each task's gradient on the shared parameters, pick one coefficient
per task, and apply ``sum(c_i * grad L_i)``. Computing the K gradients is the cost: one
``torch.autograd.grad`` call per task with ``retain_graph``, made on the engine directly where
that is safe (``engine.py``); on a CPU this loop beat the batched ``is_grads_batched``/vmap path
(see ``benchmarks/step_time.py``). The same calls also return each task's gradient on the
parameters only it reaches (its head), so the head gradients come for free and no extra backward
is needed: every parameter ends with the gradient of ``sum(c_i * L_i)``.

Everything around those calls is kept to a few tensor operations a step (one copy per task into a
reused matrix, one matrix product for the Gram matrix, one for the combination): on a small model
each operation costs several microseconds on the caches the backward passes leave behind.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from weightsearch.methods import amp, distributed, engine
from weightsearch.methods.base import Balancer, NumberView, number_view, reachable_leaves


class TaskGradients:
    """The gradient of each loss on a fixed list of tensors, as rows of a reused K x P matrix.

    One instance serves a balancer for its whole run: :meth:`compute` fills it each step; the
    matrix and the views that write into it are made again only when the shapes, dtype or device
    change (a fresh K x P buffer every step costs page faults that were a tenth of a step on the
    reference model).
    """

    def __init__(self) -> None:
        #: K x P matrix of this step's gradients on the tensors given to :meth:`compute`.
        self.matrix = torch.empty(0)
        self._key: tuple[object, ...] = ()
        self._rows: list[list[Tensor]] = []
        self._layout: list[tuple[torch.Size, tuple[int, ...], int]] = []
        self._coefficients = torch.empty(0)
        self._coefficient_view: NumberView | None = None
        self._inputs: list[Tensor] = []
        self._direct_inputs = False
        self._extra: list[Tensor] = []
        self._tails: list[tuple[Tensor | None, ...]] = []
        self._gram: list[list[float]] | None = None
        #: The output gradient of this step's backward passes: the rows are ``seed`` times the
        #: gradients (a GradScaler's scale, ``amp.py``); :meth:`gram` divides it out.
        self.seed = 1.0

    def compute(
        self,
        losses: Sequence[Tensor],
        inputs: Sequence[Tensor],
        *,
        others: bool = True,
        retain_graph: bool = False,
        seed: float = 1.0,
    ) -> Tensor:
        """Fill the matrix with each loss's gradient on ``inputs`` and return it.

        Args:
            losses: the K scalar losses.
            inputs: the tensors whose gradients make up a row (the shared parameters, or the
                shared representation for MGDA-UB).
            others: also keep each loss's gradient on every other leaf it reaches (its head),
                for :meth:`accumulate`.
            retain_graph: keep the graph after the last call (for methods that backward again).
            seed: the output gradient of each backward (a GradScaler's scale): the rows, and
                the gradients :meth:`accumulate` writes, are ``seed`` times the gradients.
        """
        inputs = list(inputs)
        self.seed = seed
        self._inputs = inputs
        self._gram = None
        first = inputs[0]
        key = (len(losses), first.dtype, first.device, *((type(t), t.shape) for t in inputs))
        if key != self._key:
            self._allocate(key, len(losses), inputs)
        rows = self._rows
        extra: list[Tensor] = []
        if others:
            ids = {id(t) for t in inputs}
            # One traversal for all losses: a leaf a loss doesn't reach comes back as None.
            extra = [t for k, t in reachable_leaves(losses).items() if k not in ids]
        tails: list[tuple[Tensor | None, ...]] = []
        self._extra, self._tails = extra, tails
        count = len(inputs)
        targets = (*inputs, *extra)
        fast = self._direct_inputs and engine.direct([*losses, *extra])
        last = len(losses) - 1
        for i, loss in enumerate(losses):
            grads = engine.gradients(loss, targets, retain_graph or i < last, fast, seed)
            try:
                torch._foreach_copy_(rows[i], grads[:count])  # type: ignore[arg-type]
            except TypeError:  # an input this loss doesn't reach: its gradient is None
                for row, g in zip(rows[i], grads[:count], strict=True):
                    row.zero_() if g is None else row.copy_(g)
            if extra:  # sorted out in accumulate: Python here runs on caches the backward left cold
                tails.append(grads[count:])
            # Drop this task's gradients before the next backward: kept alive, they raise the
            # loop's peak memory, and the allocator hands pages back to the OS and faults them in
            # again every step (200+ page faults a step, 5-10% of the floor on the reference model).
            del grads
        return self.matrix

    def _allocate(self, key: tuple[object, ...], k: int, inputs: list[Tensor]) -> None:
        first = inputs[0]
        sizes = [t.numel() for t in inputs]
        self.matrix = torch.empty((k, sum(sizes)), dtype=first.dtype, device=first.device)
        self._layout = []
        offset = 0
        for t, n in zip(inputs, sizes, strict=True):
            self._layout.append((t.shape, _contiguous_strides(t.shape), offset))
            offset += n
        self._rows = [
            [
                row.as_strided(shape, strides, row.storage_offset() + at)
                for shape, strides, at in self._layout
            ]
            for row in self.matrix
        ]
        self._coefficients = torch.zeros(k, dtype=first.dtype, device=first.device)
        self._coefficient_view = number_view(self._coefficients)
        self._direct_inputs = engine.direct(inputs)
        self._key = key

    def gram(self) -> list[list[float]]:
        """The K x K inner products of the (unscaled) gradients, as Python floats."""
        if self._gram is None:
            self._gram = amp.gram(self.matrix, self.seed)
        return self._gram

    def synchronize(
        self, mean: Sequence[Tensor], root: Sequence[Tensor], gram_only: bool = False
    ) -> tuple[list[Tensor], list[Tensor]]:
        """Average the gradients over the ranks (torch.distributed), with ``mean`` averaged and
        ``root`` shared from rank 0 in the same collective (``distributed.reduce``).

        Args:
            mean: more tensors to average (the loss values).
            root: tensors to take from rank 0 (this step's random draw).
            gram_only: average only the K x K Gram matrix, not the rows (MGDA-UB: the rows are
                the gradients on each rank's own samples; the sum over the ranks of their Gram
                matrices is the whole batch's, up to a factor MGDA's weights don't depend on).

        Returns:
            ``mean`` averaged and ``root`` as rank 0 has it.
        """
        if gram_only:
            gram = torch.tensor(self.gram(), dtype=torch.float64, device=self.matrix.device)
            out, shared = distributed.reduce([gram, *mean], root)
            self._gram = out[0].tolist()
            return out[1:], shared
        tails = [g for tail in self._tails for g in tail if g is not None]
        out, shared = distributed.reduce([self.matrix, *tails, *mean], root)
        self.matrix.copy_(out[0])
        self._gram = None
        averaged = iter(out[1 : 1 + len(tails)])
        self._tails = [
            tuple(None if g is None else next(averaged).to(g.dtype) for g in tail)
            for tail in self._tails
        ]
        return out[1 + len(tails) :], shared

    def finite(self) -> bool:
        """Whether every gradient is finite (read off the Gram matrix's diagonal)."""
        g = self.gram()
        return all(math.isfinite(g[i][i]) for i in range(len(g)))

    def unscaled(self) -> Tensor:
        """The gradients without the seed, in float32 at least (the matrix itself when seed 1)."""
        if self.seed == 1.0:
            return self.matrix
        m = self.matrix.float() if self.matrix.dtype in amp.LOW_PRECISION else self.matrix
        return m / self.seed

    def combine(self, coefficients: Sequence[float]) -> Tensor:
        """The flat vector ``sum(c_i * row_i)``."""
        view = self._coefficient_view
        if view is None:
            c = torch.tensor(coefficients, dtype=self.matrix.dtype, device=self.matrix.device)
        else:
            for i, value in enumerate(coefficients):
                view[i] = value
            c = self._coefficients
        return c @ self.matrix

    def accumulate(
        self, coefficients: Sequence[float], shared_vector: Tensor | None = None
    ) -> None:
        """Add ``sum(c_i * grad L_i)`` to ``.grad`` of every parameter the losses reach.

        Args:
            coefficients: one coefficient per task.
            shared_vector: a flat gradient to use on the inputs instead of the combination (for
                methods whose shared update isn't a combination of this step's gradients).
        """
        flat = self.combine(coefficients) if shared_vector is None else shared_vector.contiguous()
        start = flat.storage_offset()
        for p, (shape, strides, offset) in zip(self._inputs, self._layout, strict=True):
            _add_grad(p, flat.as_strided(shape, strides, start + offset))
        extra, tails = self._extra, self._tails
        if not tails:
            return
        leaves: list[Tensor] = []
        found: list[Tensor] = []
        scales: list[float] = []
        for c, tail in zip(coefficients, tails, strict=True):
            for leaf, g in zip(extra, tail, strict=True):
                if g is not None:
                    leaves.append(leaf)
                    found.append(g)
                    scales.append(float(c))
        # One foreach op scales them all, into new tensors: autograd may return one tensor for
        # two leaves (u + v) or a broadcast view (s.sum()), which scaling in place would get wrong.
        for leaf, g in zip(leaves, torch._foreach_mul(found, scales), strict=True):
            _add_grad(leaf, g)
        self._tails = []


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
        p.grad = g
    else:
        p.grad.add_(g)


class GradientLevel(Balancer):
    """Base of the methods that look at each task's gradient on the shared parameters.

    ``self._grads`` is the :class:`TaskGradients` workspace they fill each step.
    """

    kind = "gradient-level"
    needs_shared = True
    _cache_names = (*Balancer._cache_names, "_grads")

    def _reset_caches(self) -> None:
        super()._reset_caches()
        self._grads = TaskGradients()

    def _synchronize(
        self, grads: TaskGradients, losses: Sequence[Tensor], gram_only: bool = False
    ) -> None:
        """Under torch.distributed, average this step's task gradients (or their Gram matrix)
        and loss values over the ranks and share its random draw, all in one collective."""
        if distributed.world_size() == 1:
            return
        values = [loss.item() for loss in losses]
        local = torch.tensor(values, dtype=torch.float64, device=losses[0].device)
        root = [] if self._random is None else [self._random]
        mean, shared = grads.synchronize([local], root, gram_only)
        self._step_values = mean[0].tolist()
        if shared:
            self._random, self._random_shared = shared[0], True


class GradientBalancer(GradientLevel):
    """Base of methods that set per-task coefficients from the gradients on the shared parameters.

    Subclasses implement :meth:`_coefficients`; every parameter then gets the gradient of
    ``sum(c_i * L_i)``.
    """

    def _backward(
        self, losses: list[Tensor], features: list[Tensor] | None
    ) -> Sequence[float] | None:
        grads = self._grads
        grads.compute(losses, self.shared, seed=self._seed)
        self._synchronize(grads, losses)
        if self._seed != 1.0 and not grads.finite():
            # An overflow under a GradScaler: write it through (so scaler.step skips the step)
            # and solve nothing on it (the state is put back, see Balancer._scaled_backward).
            grads.accumulate([1.0] * len(losses))
            return None
        coefficients = self._coefficients(grads, losses)
        grads.accumulate(coefficients)
        return coefficients

    @abc.abstractmethod
    def _coefficients(self, grads: TaskGradients, losses: list[Tensor]) -> Sequence[float]:
        """One coefficient per task, from the task gradients and the loss values."""
