"""A file without any weightsearch task."""

from __future__ import annotations


def train(run: object) -> dict[str, float]:
    return {"loss": 0.0}
