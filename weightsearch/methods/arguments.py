"""``--method-arg METHOD.KEY=VALUE`` options, parsed into each method's typed hyperparameters."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from weightsearch.methods.hyperparameters import convert, names
from weightsearch.methods.registry import method_class


def parse_method_args(items: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Parse ``METHOD.KEY=VALUE`` strings into ``{method: {key: typed value}}``.

    Values are converted to the hyperparameter's declared type (``float``, ``int``, ``bool``,
    one of a fixed set of choices, or ``name:value,...`` for weight maps) and checked; any problem
    raises ValueError with the rule, what was given and an example.

    Example:
        >>> parse_method_args(["mgda.normalization=l2", "gradnorm.alpha=1"])
        {'mgda': {'normalization': 'l2'}, 'gradnorm': {'alpha': 1.0}}
    """
    parsed: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        method, dot, key = target.strip().rpartition(".")
        if not sep or not dot or not method or not key:
            raise ValueError(
                f"--method-arg must look like METHOD.KEY=VALUE, but got {item!r}. "
                f"Example: --method-arg mgda.normalization=l2"
            )
        cls = method_class(method)
        known = {h.name: h for h in cls.hyperparameters()}
        if key not in known:
            raise ValueError(
                f"--method-arg: {method} takes {names(known)}, but got {key!r} in {item!r}. "
                f"Run `weightsearch methods` to see each method's hyperparameters."
            )
        parsed.setdefault(method, {})[key] = convert(method, known[key], raw.strip())
    return parsed
