import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Control tests run on one thread: on the shared 2-core CPU this is faster and reproducible."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
