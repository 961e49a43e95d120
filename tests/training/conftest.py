"""Fixtures for training tests: tiny synthetic PNG data, small thread counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.training.synthetic import make_png_dataset

# One thread: with another process busy on the 2 cores, 2 threads run 20-30x slower
# (OpenMP spin-waits); uncontended, 1 thread costs about 1.7x.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def png_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight 64x64 synthetic images (PNG layout), half with a bright ellipse mask."""
    return make_png_dataset(tmp_path_factory.mktemp("png_data"), 8, size=64, seed=1)
