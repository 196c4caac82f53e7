import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def one_torch_thread():
    # Tiny models gain nothing from a second thread, and on a busy 2-core machine OpenMP threads
    # spinning against other processes make greedy decoding several times slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
