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

import numpy as np
import torch
from torch import Tensor

from weightsearch.methods.gradients import GradientLevel
from weightsearch.methods.hyperparameters import Hyperparameter

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
            #: The torchjd aggregator (a module: its buffers, and what else it keeps between steps
            #: (:meth:`get_extra_state`), are in state_dict()).
            self.aggregator = aggregator_class(**options)
        except ImportError as error:  # a solver from one of torchjd's extras
            raise ValueError(f"{self.name} can't be created here: {error}") from None
        except TypeError as error:  # a required argument missing
            raise ValueError(
                f"{self.name} takes {_signature_text(aggregator_class)}, but {error}. Set its "
                f"arguments with --method-arg {self.name}.ARG=VALUE."
            ) from None
        self._initial_attributes = _attributes(self.aggregator)

    def get_extra_state(self) -> dict[str, dict[str, Any]]:
        """What a stateful aggregator keeps besides its buffers' values, for ``state_dict()``.

        torchjd's stateful aggregators (GradVac, PCD, ExcessMTL, NashMTL) create their buffers on
        first use and record in a plain attribute what they were made for (number of tasks,
        dtype); a new aggregator has neither, so a loaded state would be refused (no buffer to
        load into) or thrown away at the next step. NashMTL keeps its state in numpy arrays (the
        last weights, from which the next solve starts) instead. Saved: the attributes that
        changed since creation, the numpy arrays (as tensors, which ``torch.load`` reads with
        ``weights_only``) and the buffers' shapes, dtypes and devices; their values are the
        state_dict's buffers.
        """
        initial = self._initial_attributes
        state: dict[str, dict[str, Any]] = {}
        for name, module in self.aggregator.named_modules():
            before = initial.get(name, {})
            changed = {
                key: value
                for key, value in _attributes_of(module).items()
                if key not in before or before[key] != value
            }
            arrays = {
                key: torch.from_numpy(value.copy())
                for key, value in vars(module).items()
                if isinstance(value, np.ndarray)
            }
            buffers = {
                key: None if b is None else (tuple(b.shape), b.dtype, b.device)
                for key, b in module._buffers.items()
            }
            state[name] = {
                "type": type(module).__name__,
                "attributes": changed,
                "arrays": arrays,
                "buffers": buffers,
            }
        return state

    def set_extra_state(self, state: dict[str, dict[str, Any]]) -> None:
        modules = dict(self.aggregator.named_modules())
        for name, saved in state.items():
            module = modules.get(name)
            if (
                module is None
                or type(module).__name__ != saved["type"]
                or not saved["buffers"].keys() <= module._buffers.keys()
            ):
                raise ValueError(
                    f"this state_dict is not one of {self.name} (its aggregator's part {name!r} "
                    f"differs). Load a state saved by the same method."
                )
            module.__dict__.update(saved["attributes"])
            module.__dict__.update({k: a.numpy() for k, a in saved.get("arrays", {}).items()})
            if getattr(module, "step", 0) and hasattr(module, "_init_optim_problem"):
                # NashMTL builds its cvxpy problem at its first step and keeps it in memory only;
                # each solve sets all of the problem's parameters, so one built now is the same.
                module._init_optim_problem()
            for key, spec in saved["buffers"].items():
                # Made as saved (the aggregator keeps them where the gradients are); the
                # state_dict's values are loaded into them next.
                module._buffers[key] = (
                    None if spec is None else torch.empty(spec[0], dtype=spec[1], device=spec[2])
                )

    @classmethod
    @abc.abstractmethod
    def aggregator_class(cls) -> type:
        """The torchjd aggregator class this method runs."""

    def _backward(self, losses: list[Tensor], features: list[Tensor] | None) -> list[float]:
        from torchjd.aggregation import GramianWeightedAggregator, WeightedAggregator

        grads = self._grads
        grads.compute(losses, self.shared, seed=self._seed)
        self._synchronize(grads, losses)
        matrix = grads.unscaled()  # the aggregator sees the gradients, not a GradScaler's multiple
        aggregator = self.aggregator
        weights: Tensor | None = None
        if isinstance(aggregator, GramianWeightedAggregator):
            gram = torch.tensor(grads.gram(), dtype=matrix.dtype, device=matrix.device)
            weights = aggregator.gramian_weighting(gram)
        elif isinstance(aggregator, WeightedAggregator):
            weights = aggregator.weighting(matrix)
        shared = aggregator(matrix) if weights is None else weights.to(matrix) @ matrix
        if self._seed != 1.0:
            shared = (shared * self._seed).to(grads.matrix.dtype)
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


_MODULE_INTERNALS = frozenset(vars(torch.nn.Module()))


def _attributes(aggregator: torch.nn.Module) -> dict[str, dict[str, Any]]:
    return {name: _attributes_of(m) for name, m in aggregator.named_modules()}


def _attributes_of(module: torch.nn.Module) -> dict[str, Any]:
    """A module's own attributes that are plain data (numbers, dtypes, tuples of them)."""
    return {
        key: value
        for key, value in vars(module).items()
        if key not in _MODULE_INTERNALS and _plain_data(value)
    }


def _plain_data(value: Any) -> bool:
    if isinstance(value, tuple | list):
        return all(_plain_data(v) for v in value)
    return value is None or isinstance(value, bool | int | float | str | torch.dtype | torch.device)


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
