import os

import pytest
import torch


def pytest_configure(config):
    """Under pytest-xdist (``make test``) each worker computes with one thread: the workers
    share the cores, and the smoke pipeline's processes (its own threads) are the suite's
    longest chain."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


def pytest_collection_modifyitems(config, items):
    """The smoke pipeline's tests first (stable otherwise). Under ``make test`` (pytest-xdist,
    one module per worker, in collection order) the pipeline is the longest chain of the
    suite, so it starts at once on one worker while every other module shares the others."""
    items.sort(key=lambda item: item.get_closest_marker("pipeline") is None)
