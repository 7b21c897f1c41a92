"""Suite-wide test settings: single-threaded torch (small tensors run far faster that way on 2 cores)."""

import os

import pytest
import torch

torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` run only where a CUDA device exists (never skip CPU tests)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def in_ci() -> bool:
    """True when running under CI (tests that need system tools must then fail instead of skipping)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
