"""Fixtures of the methods tests."""

from __future__ import annotations

import pytest
import torch

from weightsearch import methods


@pytest.fixture(params=methods.available())
def method(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: threads only add contention on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
