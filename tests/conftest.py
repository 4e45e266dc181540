"""Fixtures shared by several test files."""
import pytest
import torch


@pytest.fixture
def one_thread():
    """One torch thread while a test runs: values recorded with one thread compare exactly."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
