"""Shared fixtures."""

import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """Run a test on one torch thread: the test machine's two cores are shared with other jobs."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
