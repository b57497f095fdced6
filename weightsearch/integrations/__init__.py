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
