"""Shared test fixtures: paths to the bundled sample, the optional ../shared data, tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "2")
# predict's --runtime default: torch in tests (tests/core/inference/test_runtimes.py runs
# auto and the others on purpose); converted models never go to the user's cache.
os.environ.setdefault("PNEUMOVIEWER_RUNTIME", "torch")

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = REPO_ROOT / "resources" / "samples"
SAMPLE_CSV = SAMPLES_DIR / "train-rle-sample.csv"
SHARED_DATA = Path(os.environ.get("PNEUMOVIEWER_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def _decode_as_users_do() -> None:
    """Take GDCM out of pydicom's decoders: the test extra has it only to *encode* files.

    A user's install decodes with Pillow / pylibjpeg / pyjpegls; with python-gdcm present,
    pydicom would try GDCM first and the tests would no longer exercise that path.
    """
    from pydicom.pixels import decoders
    from pydicom.pixels.decoders.base import Decoder

    for obj in vars(decoders).values():
        if isinstance(obj, Decoder) and "gdcm" in obj._available:
            obj.remove_plugin("gdcm")


_decode_as_users_do()


def _guard_singletons() -> None:
    """PySide6 6.12 on CPython 3.11 drops a reference to True per emit (see the module)."""
    from pneumoviewer.ui.refcount_guard import keep_singletons_alive

    keep_singletons_alive()


_guard_singletons()


@pytest.fixture(autouse=True)
def isolated_results_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> Path:
    """Every test gets its own empty results store (never the user's cache directory)."""
    folder = tmp_path_factory.mktemp("results_store")
    monkeypatch.setenv("PNEUMOVIEWER_RESULTS_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True, scope="session")
def isolated_runtime_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Converted models (ONNX, OpenVINO) go to a session folder, never the user's cache."""
    folder = tmp_path_factory.mktemp("runtime_cache")
    before = os.environ.get("PNEUMOVIEWER_RUNTIME_CACHE")
    os.environ["PNEUMOVIEWER_RUNTIME_CACHE"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("PNEUMOVIEWER_RUNTIME_CACHE", None)
    else:
        os.environ["PNEUMOVIEWER_RUNTIME_CACHE"] = before


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The bundled sample study (10 SIIM DICOMs + run-length CSV), always in the repository."""
    return SAMPLES_DIR


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    """The sample study's run-length CSV (BOM, no header, -1 for empty)."""
    return SAMPLE_CSV


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (development machines only); tests using it skip on a user's clone."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not present at {SHARED_DATA} (only on development machines)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised classifier + segmenter small enough for CPU tests."""
    from tests.tiny_models import make_tiny_model_dir

    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny_model"))
