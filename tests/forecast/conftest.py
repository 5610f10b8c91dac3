"""Fixtures for the forecasting tests."""

import pytest
import torch

from ._helpers import long_frame, wide_frame


@pytest.fixture(autouse=True)
def _one_thread():
    # Two shared cores: keep torch from oversubscribing them.
    torch.set_num_threads(1)


@pytest.fixture
def wide():
    return wide_frame()


@pytest.fixture
def long():
    return long_frame()
