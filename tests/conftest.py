"""One torch thread for every test: on a busy 2-core machine two threads ran 30x slower."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)
