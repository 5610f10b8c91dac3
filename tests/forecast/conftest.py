"""Fixtures for the forecasting tests."""

import pytest

from ._helpers import long_frame, wide_frame


@pytest.fixture
def wide():
    return wide_frame()


@pytest.fixture
def long():
    return long_frame()
