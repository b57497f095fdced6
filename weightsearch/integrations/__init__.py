"""Adapters for training frameworks: Lightning and the Hugging Face ``Trainer``.

Each adapter lives in its own module and imports its framework when that module is imported, never
when ``weightsearch`` is: ``import weightsearch.integrations.lightning`` needs
``pip install "weightsearch[lightning]"``, ``weightsearch.integrations.transformers`` needs
``pip install "weightsearch[transformers]"``.
"""

from __future__ import annotations

from weightsearch.errors import WeightsearchError


def missing_extra(extra: str, module: str) -> WeightsearchError:
    """The error for a framework that is not installed, naming the extra that installs it."""
    return WeightsearchError(
        f"weightsearch.integrations.{extra} needs {module}, which is not installed. "
        f'Install it: pip install "weightsearch[{extra}]"'
    )


# The top-level modules each extra installs, for a task file that imports its framework first.
_EXTRA_OF_MODULE = {
    "lightning": "lightning",
    "pytorch_lightning": "lightning",
    "transformers": "transformers",
    "accelerate": "transformers",
}


def extra_hint(exc: BaseException) -> str:
    """The hint ". Install it: pip install weightsearch[X]" for a missing framework, else ""."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return ""
    extra = _EXTRA_OF_MODULE.get(exc.name.partition(".")[0])
    return f'. Install it: pip install "weightsearch[{extra}]"' if extra else ""
