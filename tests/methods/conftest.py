"""Fixtures of the methods tests."""

from __future__ import annotations

import pytest

from weightsearch import methods


@pytest.fixture(params=methods.available())
def method(request: pytest.FixtureRequest) -> str:
    return request.param
