"""The task contract: ``@task`` and ``Task``, loading a task from a reference, ``--param`` values.

What a trial hands the function (``Run``, ``Pruned``) is in :mod:`weightsearch.run`, and
re-exported here.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from weightsearch.errors import WeightsearchError
from weightsearch.integrations import extra_hint
from weightsearch.run import Pruned, Reporter, Run, RungReached

__all__ = [
    "Direction",
    "Pruned",
    "Reporter",
    "Run",
    "RungReached",
    "Task",
    "load_task",
    "parse_params",
    "resolve_reference",
    "task",
    "task_stem",
]

Direction = Literal["minimize", "maximize"]
_DIRECTIONS = ("minimize", "maximize")


@dataclass(frozen=True)
class Task:
    """A user's training function with its declared losses and metrics.

    Calling it runs the function; it is what :func:`task` returns.
    """

    fn: Callable[[Run], Mapping[str, float]]
    losses: tuple[str, ...]
    metrics: dict[str, Direction]

    @property
    def name(self) -> str:
        return self.fn.__name__

    def __call__(self, run: Run) -> Mapping[str, float]:
        return self.fn(run)


def task(
    losses: Iterable[str], metrics: Mapping[str, Direction]
) -> Callable[[Callable[[Run], Mapping[str, float]]], Task]:
    """Declare a training function as a weightsearch task.

    Args:
        losses: names of the losses that ``balancer.backward`` receives, in order.
        metrics: the metrics the function returns, each with ``"minimize"`` or ``"maximize"``;
            the first is the default objective.

    Example:
        >>> import weightsearch as ws
        >>> @ws.task(losses=["a", "b"], metrics={"val_loss": "minimize"})
        ... def train(run: ws.Run) -> dict[str, float]:
        ...     return {"val_loss": run.weights["a"]}
        >>> train.losses
        ('a', 'b')
    """
    loss_names = tuple(losses)
    if isinstance(losses, str) or not loss_names:
        raise ValueError(f"losses must be a non-empty list of names, but got {losses!r}.")
    if len(set(loss_names)) != len(loss_names):
        raise ValueError(f"loss names must be unique, but got {list(loss_names)}.")
    metric_map = dict(metrics)
    if not metric_map:
        raise ValueError("metrics must name at least one metric, e.g. {'val_loss': 'minimize'}.")
    for name, direction in metric_map.items():
        if direction not in _DIRECTIONS:
            raise ValueError(
                f"metric directions must be 'minimize' or 'maximize', but {name!r} has "
                f"{direction!r}."
            )

    def wrap(fn: Callable[[Run], Mapping[str, float]]) -> Task:
        return Task(fn=fn, losses=loss_names, metrics=metric_map)

    return wrap


def load_task(reference: str) -> Task:
    """Load a task from ``path/file.py:function``, ``package.module:function`` or ``path/file.py``.

    A module name is looked up in the current folder first, as ``python -m`` does, so
    ``house:fit`` loads ``house.py`` from where the command runs.

    Raises:
        WeightsearchError: the file, module or function is missing, the file doesn't import,
            or the object is not a ``@weightsearch.task`` function.
    """
    source, _, attribute = reference.partition(":")
    if not source:
        raise WeightsearchError(
            f"a task is 'path/file.py:function' or 'package.module:function', but got "
            f"{reference!r}."
        )
    if source.endswith(".py") or Path(source).is_file():
        namespace = _import_file(Path(source))
    else:
        namespace = _import_module(source)
    if attribute:
        obj = namespace.get(attribute)
        if obj is None:
            found = ", ".join(_tasks_in(namespace)) or "none"
            raise WeightsearchError(
                f"{source} has no function {attribute!r} (weightsearch tasks there: {found})."
            )
        if not isinstance(obj, Task):
            raise WeightsearchError(
                f"{source}:{attribute} is not a weightsearch task. "
                "Decorate it with @weightsearch.task(losses=[...], metrics={...})."
            )
        return obj
    tasks = _tasks_in(namespace)
    if len(tasks) != 1:
        detail = "none" if not tasks else ", ".join(tasks)
        raise WeightsearchError(
            f"{source} must hold exactly one @weightsearch.task function to be named alone, "
            f"but has {detail}. Name one: {source}:FUNCTION."
        )
    return tasks[next(iter(tasks))]


def task_stem(reference: str) -> str:
    """The short name of a task, for default study names: ``train.py:fit`` -> ``train``."""
    source = reference.partition(":")[0]
    if source.endswith(".py") or Path(source).is_file():
        return Path(source).stem
    return source.rsplit(".", 1)[-1]


def resolve_reference(reference: str, created_in: str | None) -> str:
    """A task reference stored as given, made loadable from the current folder.

    A study stores the reference as the user typed it and the folder it was typed in. From that
    folder (or with no folder stored) the reference is returned unchanged. From elsewhere, a
    relative file reference (``examples/house.py:fit``) and a module name whose file lies in
    ``created_in`` (``house:fit``, from ``house.py``) become that file's path: relative to the
    current folder when the file is under it, else absolute. Absolute paths, installed modules
    and dotted package modules (whose imports need their package) stay as given.

    Args:
        reference: the task reference as given (``file.py:fn``, ``module:fn``, ``file.py``).
        created_in: the folder the study was created in, or None when unknown.

    Example:
        >>> resolve_reference("house:fit", None)
        'house:fit'
    """
    if created_in is None:
        return reference
    origin = Path(created_in).resolve()
    here = Path.cwd().resolve()
    if origin == here:
        return reference
    source, colon, attribute = reference.partition(":")
    if source.endswith(".py") or (origin / source).is_file():
        path = Path(source)
        if path.is_absolute():
            return reference
        file = origin / path
    elif "." not in source and (origin / f"{source}.py").is_file():
        file = origin / f"{source}.py"
    else:
        return reference
    shown = file.relative_to(here) if file.is_relative_to(here) else file
    return f"{shown}{colon}{attribute}"


def _tasks_in(namespace: Mapping[str, Any]) -> dict[str, Task]:
    return {name: obj for name, obj in namespace.items() if isinstance(obj, Task)}


def _import_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise WeightsearchError(f"task file {path} does not exist. Check the path.")
    path = path.resolve()
    # The task's own folder goes first on sys.path so that it can import its neighbours.
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    module_name = f"_weightsearch_task_{path.stem}_{abs(hash(str(path)))}"
    if module_name in sys.modules:
        return vars(sys.modules[module_name])
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise WeightsearchError(f"{path} can't be imported as Python. Give a .py file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[module_name]
        raise WeightsearchError(
            f"syntax error in {exc.filename or path} line {exc.lineno}: {exc.msg}."
        ) from None
    except Exception as exc:
        del sys.modules[module_name]
        raise WeightsearchError(
            f"importing {path} failed: {_where(exc)}{type(exc).__name__}: {exc}{extra_hint(exc)}"
        ) from None
    return vars(module)


def _import_module(name: str) -> dict[str, Any]:
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        # Only the module itself or one of its parent packages missing means a wrong name; a
        # missing dependency of the module (even one whose name is a prefix of it) is reported.
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            file = name.replace(".", "/") + ".py"
            raise WeightsearchError(
                f"no module or file named {name!r}: there is no {file} in the current folder "
                f"({here}) and no installed module {name!r}. Give the task's file "
                f"(path/to/{file}:FUNCTION), or run from the folder that holds {file}."
            ) from None
        raise WeightsearchError(
            f"importing {name} failed: {type(exc).__name__}: {exc}{extra_hint(exc)}"
        ) from None
    except SyntaxError as exc:
        raise WeightsearchError(
            f"syntax error in {exc.filename} line {exc.lineno}: {exc.msg}."
        ) from None
    except Exception as exc:
        raise WeightsearchError(
            f"importing {name} failed: {_where(exc)}{type(exc).__name__}: {exc}"
        ) from None
    return vars(module)


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f"{last.filename} line {last.lineno}: "


def parse_params(pairs: Iterable[str]) -> dict[str, Any]:
    """Parse ``--param KEY=VALUE`` pairs; values become int, float or bool where they read as one.

    Raises:
        WeightsearchError: a pair has no ``=`` or an empty key.
    """
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise WeightsearchError(
                f"--param takes KEY=VALUE, but got {pair!r}. Example: --param lr=0.001"
            )
        params[key.strip()] = _typed(value.strip())
    return params


def _typed(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
