"""A method's hyperparameters: declared by its ``__init__``, described, checked and parsed.

Hyperparameters are the keyword-only arguments of a method's ``__init__``; their names, types,
defaults and help texts are read from the signature and the class docstring's ``Args:``, so there
is one place to declare them. This module describes one (:class:`Hyperparameter`), checks a value
given in Python against its type and converts the text of a ``--method-arg`` value to it.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of a method, as declared by its ``__init__``.

    Args:
        name: keyword argument name.
        type: the annotation, e.g. ``float`` or ``Literal["none", "l2"]``.
        default: the default value (the paper's or the authors' code's).
        help: one line from the class docstring's ``Args:`` section.
        required: it has no default and must be given (some torchjd aggregators' arguments).
    """

    name: str
    type: Any
    default: Any
    help: str = ""
    required: bool = False

    @property
    def choices(self) -> tuple[Any, ...] | None:
        """The allowed values of a ``Literal`` hyperparameter, else None."""
        if typing.get_origin(self.type) is Literal:
            return typing.get_args(self.type)
        return None

    @property
    def type_name(self) -> str:
        """A short readable name of the type: ``float``, ``int``, ``none|l2|loss|loss+``."""
        choices = self.choices
        if choices is not None:
            return "|".join(str(c) for c in choices)
        args = [a for a in typing.get_args(self.type) if a is not type(None)]
        if typing.get_origin(self.type) in (typing.Union, types.UnionType):
            return "|".join(_type_name(a) for a in args)
        return _type_name(self.type)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is not None and issubclass(origin, Mapping):
        return "name:value,..."
    return getattr(tp, "__name__", str(tp))


_ARG_LINE = re.compile(r"^(\s*)(\w+)(?: \([^)]*\))?:\s*(.*)$")


def arg_docs(doc: str) -> dict[str, str]:
    """Map argument names to their help text in a Google-style ``Args:`` section."""
    lines = inspect.cleandoc(doc).splitlines()
    out: dict[str, str] = {}
    inside, indent, current = False, None, None
    for line in lines:
        if line.strip() == "Args:":
            inside, indent, current = True, None, None
            continue
        if not inside:
            continue
        if line and not line.startswith(" "):
            inside = False
            continue
        match = _ARG_LINE.match(line)
        if match and (indent is None or len(match.group(1)) == indent):
            indent = len(match.group(1))
            current = match.group(2)
            out[current] = match.group(3).strip()
        elif current and line.strip():
            out[current] += " " + line.strip()
    return out


def names(known: Mapping[str, Hyperparameter]) -> str:
    return ", ".join(known) if known else "no hyperparameters"


def convert(method: str, h: Hyperparameter, raw: str) -> Any:
    """Convert the text of a ``--method-arg`` value to the hyperparameter's type."""
    tp = h.type
    options = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if raw.lower() == "none" and type(None) in typing.get_args(tp):
            return None
        tp = options[0] if len(options) == 1 else tp
    example = f"Example: --method-arg {method}.{h.name}={_example(h)}"
    where = f"{method}.{h.name} must be {h.type_name}, but got {raw!r}."
    if typing.get_origin(tp) is Literal:
        for choice in typing.get_args(tp):
            if str(choice) == raw:
                return choice
        raise ValueError(f"{where} {example}")
    origin = typing.get_origin(tp)
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        return _convert_mapping(raw, where, example)
    try:
        if tp is bool:
            lowered = raw.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            return int(raw)
        if tp is float:
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
            return value
        if tp is str:
            return raw
    except ValueError:
        raise ValueError(f"{where} {example}") from None
    raise ValueError(f"{method}.{h.name} can't be set from the command line. Set it in Python.")


def _convert_mapping(raw: str, where: str, example: str) -> dict[str, float]:
    if raw.startswith("{"):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError(f"{where} {example}") from None
        if isinstance(value, dict):
            return {str(k): float(v) for k, v in value.items()}
        raise ValueError(f"{where} {example}")
    out: dict[str, float] = {}
    for part in raw.split(","):
        name, sep, number = part.partition(":")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip()] = float(number)
        except ValueError:
            raise ValueError(f"{where} {example}") from None
    return out


def _example(h: Hyperparameter) -> str:
    choices = h.choices
    if h.required:
        return {int: "1", float: "0.5"}.get(h.type, "VALUE")
    if choices:
        return str(choices[-1] if choices[0] == h.default and len(choices) > 1 else choices[0])
    if h.default is None or isinstance(h.default, Mapping):
        return "a:0.5,b:2"
    return str(h.default)


def check_value(method: str, h: Hyperparameter, value: Any) -> None:
    """Check a Python-given hyperparameter value against its declared type."""
    tp = h.type
    allowed = (
        list(typing.get_args(tp))
        if typing.get_origin(tp)
        in (
            typing.Union,
            types.UnionType,
        )
        else [tp]
    )
    for option in allowed:
        if option is type(None) and value is None:
            return
        if typing.get_origin(option) is Literal and value in typing.get_args(option):
            return
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return
        if option in (bool, str) and isinstance(value, option):
            return
        origin = typing.get_origin(option)
        if origin is not None and isinstance(origin, type) and isinstance(value, origin):
            return
        if option is Any or (isinstance(option, type) and isinstance(value, option)):
            return
    raise ValueError(
        f"{method}.{h.name} must be {h.type_name}, but got {value!r}. "
        f"Example: {method}.{h.name}={_example(h)}"
    )
