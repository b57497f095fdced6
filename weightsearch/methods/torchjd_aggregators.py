"""torchjd's aggregators as balancing methods, named ``torchjd:<Aggregator>`` (needs torchjd).

torchjd (Quinton & Rey 2024, *Jacobian Descent for Multi-Objective Optimization*,
arXiv:2406.16232) implements many ways of turning the task gradients into one update (UPGrad,
DualProj, GradDrop, ConFIG, ...). ``method_class("torchjd:UPGrad")`` makes a method of its
``UPGrad``; the aggregator's constructor arguments are the method's hyperparameters
(``--method-arg torchjd:UPGrad.ARG=VALUE``), and ``n_tasks`` is filled in from the losses.

The gradients are those of torchjd's own ``mtl_backward`` + ``jac_to_grad``: the shared
parameters get the aggregation of the task gradients, every other parameter (a task's head) its
task's plain gradient. The reported weights are the aggregator's weights where it has them (its
``Weighting``), else 1 for every task. torchjd loads only when such a method is asked for.
"""

from __future__ import annotations

import abc
import functools
import importlib.metadata
import inspect
import re
import typing
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from weightsearch.methods.base import Hyperparameter
from weightsearch.methods.gradients import GradientLevel

PREFIX = "torchjd:"


class TorchJDMethod(GradientLevel):
    """Base of the ``torchjd:<Aggregator>`` methods; :func:`torchjd_method` makes one per name."""

    # The heads get their plain gradients, not the weighted ones (torchjd's mtl_backward).
    weighted_sum = False

    def __init__(
        self, losses: Sequence[str], shared: Iterable[Tensor] | Tensor = (), **options: Any
    ) -> None:
        super().__init__(losses, shared)
        aggregator_class = self.aggregator_class()
        if "n_tasks" in inspect.signature(aggregator_class).parameters:
            options.setdefault("n_tasks", self.num_tasks)
        try:
            #: The torchjd aggregator (a module: its buffers, if any, are in state_dict()).
            self.aggregator = aggregator_class(**options)
        except ImportError as error:  # a solver from one of torchjd's extras
            raise ValueError(f"{self.name} can't be created here: {error}") from None
        except TypeError as error:  # a required argument missing
            raise ValueError(
                f"{self.name} takes {_signature_text(aggregator_class)}, but {error}. Set its "
                f"arguments with --method-arg {self.name}.ARG=VALUE."
            ) from None

    @classmethod
    @abc.abstractmethod
    def aggregator_class(cls) -> type:
        """The torchjd aggregator class this method runs."""

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> list[float]:
        from torchjd.aggregation import GramianWeightedAggregator, WeightedAggregator

        grads = self._grads
        matrix = grads.compute(losses, self.shared)
        aggregator = self.aggregator
        weights: Tensor | None = None
        if isinstance(aggregator, GramianWeightedAggregator):
            gram = torch.tensor(grads.gram(), dtype=matrix.dtype, device=matrix.device)
            weights = aggregator.gramian_weighting(gram)
        elif isinstance(aggregator, WeightedAggregator):
            weights = aggregator.weighting(matrix)
        shared = aggregator(matrix) if weights is None else weights.to(matrix) @ matrix
        ones = [1.0] * self.num_tasks
        grads.accumulate(ones, shared_vector=shared)
        return ones if weights is None else weights.tolist()

    @classmethod
    def hyperparameters(cls) -> tuple[Hyperparameter, ...]:
        """The aggregator's constructor arguments (but ``n_tasks``, which the losses give)."""
        aggregator_class = cls.aggregator_class()
        try:
            hints = typing.get_type_hints(aggregator_class.__init__)  # type: ignore[misc]
        except Exception:  # an annotation torchjd doesn't export: take the arguments untyped
            hints = {}
        docs = _param_docs(aggregator_class.__doc__ or "")
        return tuple(
            Hyperparameter(
                p.name,
                hints.get(p.name, Any),
                None if p.default is p.empty else _shown(p.default),
                docs.get(p.name, ""),
                required=p.default is p.empty,
            )
            for p in inspect.signature(aggregator_class).parameters.values()
            if p.name != "n_tasks" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        )

    @classmethod
    def summary(cls) -> str:
        """The first sentence of the aggregator's docstring, without its markup and without the
        torchjd base class it opens with."""
        text = _plain(cls.aggregator_class().__doc__ or "")
        text = re.sub(r"^(Stateful )?\w*Aggregator (that |implementing |performing )?", "", text)
        sentence = text.split(". ")[0].rstrip(".")
        return sentence[:1].upper() + sentence[1:] + "."


def is_torchjd_name(name: object) -> bool:
    """Whether ``name`` asks for a torchjd aggregator (``torchjd:<Aggregator>``)."""
    return isinstance(name, str) and name.startswith(PREFIX)


def torchjd_method(name: str) -> type[TorchJDMethod]:
    """The method class of ``torchjd:<Aggregator>``.

    Raises:
        ValueError: torchjd isn't installed, or has no such aggregator.
    """
    names = aggregator_names()
    if names is None:
        raise ValueError(
            f"method {name!r} needs torchjd, which isn't installed. Install it with "
            f"pip install torchjd, or pick a built-in method (weightsearch methods)."
        )
    aggregator = name[len(PREFIX) :]
    if aggregator not in names:
        raise ValueError(
            f"torchjd's aggregators are {', '.join(names)}, but got {aggregator!r}. "
            f"Example: --methods torchjd:{names[0]}"
        )
    return _method_class(aggregator)


@functools.cache
def aggregator_names() -> list[str] | None:
    """The aggregators torchjd exports, in its order; None when torchjd isn't installed."""
    try:
        from torchjd import aggregation
    except ImportError:
        return None
    bases = (
        aggregation.Aggregator,
        aggregation.WeightedAggregator,
        aggregation.GramianWeightedAggregator,
    )
    return sorted(
        name
        for name in aggregation.__all__
        if isinstance(cls := getattr(aggregation, name), type)
        and issubclass(cls, aggregation.Aggregator)
        and cls not in bases
    )


@functools.cache
def _method_class(aggregator: str) -> type[TorchJDMethod]:
    from torchjd import aggregation

    aggregator_class = getattr(aggregation, aggregator)
    version = importlib.metadata.version("torchjd")
    papers = re.findall(r"`([^`<]+?)\s*<(https?://[^>]+)>`_", aggregator_class.__doc__ or "")
    cited = "; ".join(f"{' '.join(title.split())}, {url}" for title, url in papers)
    cited = f" ({cited})" if cited else ""
    return type(
        f"TorchJD{aggregator}",
        (TorchJDMethod,),
        {
            "__module__": __name__,
            "__doc__": f"torchjd's {aggregator} aggregator as a balancing method.",
            "name": PREFIX + aggregator,
            "reference": f"torchjd {version}, aggregation.{aggregator}{cited}",
            "aggregator_class": classmethod(lambda cls: aggregator_class),
        },
    )


def __getattr__(name: str) -> type[TorchJDMethod]:
    # The method classes are made on demand; this lets pickle find ``TorchJD<Aggregator>`` by name.
    aggregator = name.removeprefix("TorchJD")
    if name.startswith("TorchJD") and aggregator in (aggregator_names() or ()):
        return _method_class(aggregator)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _shown(default: Any) -> Any:
    """A default as the listing shows it: plain values as they are, a function by its name."""
    if default is None or isinstance(default, bool | int | float | str):
        return default
    return getattr(default, "__name__", type(default).__name__)


def _signature_text(aggregator_class: type) -> str:
    params = [
        p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
        for p in inspect.signature(aggregator_class).parameters.values()
        if p.name != "n_tasks"
    ]
    return f"({', '.join(params)})" if params else "no arguments"


_PARAM = re.compile(r":param (\w+):\s*(.*?)(?=\n\s*:param |\n\s*\n|\Z)", re.S)


def _param_docs(doc: str) -> dict[str, str]:
    """Map argument names to their help in a Sphinx-style docstring (``:param x: ...``)."""
    return {m[1]: _plain(m[2]) for m in _PARAM.finditer(doc)}


def _plain(text: str) -> str:
    """Sphinx markup to plain text on one line: roles, links and literals reduced to their words."""
    text = re.sub(r":\w+:`~?(?:[\w.]+\.)?([^`]+)`", r"\1", text)
    text = re.sub(r"`([^`<]+?)\s*<[^>]+>`_", r"\1", text)
    text = text.replace("``", "")
    return " ".join(text.split())
