"""Work moved into predict's decode threads (#11 §1, speed) gives the very same results.

:func:`pneumoviewer.predict.pipeline.decode_image` computes the model inputs and the pixel
rules ahead of the models; :func:`process_image` with and without it must agree exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import pneumoviewer
from pneumoviewer.core.ground_truth import find_ground_truth_csv, read_rle_csv
from pneumoviewer.core.studies import StudyEntry, load_entry, scan_folder
from pneumoviewer.predict.pipeline import decode_image, process_image
from tests.core import dicom_factory as factory

pytestmark = pytest.mark.filterwarnings("ignore:End of file reached:UserWarning")


@pytest.fixture(scope="module")
def engine():
    from pneumoviewer.core.inference.engine import InferenceEngine

    if not (pneumoviewer.DEMO_MODEL_DIR / "manifest.json").is_file():
        pytest.skip("the bundled demo model is missing")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield InferenceEngine(pneumoviewer.DEMO_MODEL_DIR, device="cpu")
    torch.set_num_threads(before)


def _entries(folder):
    return [e for e in scan_folder(folder) if isinstance(e, StudyEntry)]


def _same(a, b) -> None:
    (ra, ma, ga, da, qa), (rb, mb, gb, db, qb) = a, b
    # everything but the timing column
    assert dataclasses.replace(ra, seconds=0.0) == dataclasses.replace(rb, seconds=0.0)
    for x, y in ((ma, mb), (ga, gb), (da.mask, db.mask)):
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x, y)
    assert (da.state, da.label, da.area) == (db.state, db.label, db.area)
    assert qa == qb


def test_prepared_in_decode_thread_equals_inline_on_the_samples(engine, samples_dir):
    gt = read_rle_csv(find_ground_truth_csv(samples_dir))
    params = engine.postprocess_params()
    positives = 0
    for entry in _entries(samples_dir):
        image, prepared = decode_image(entry, engine)
        np.testing.assert_array_equal(image.pixels, load_entry(entry).pixels)
        inline = process_image(entry, image, engine, params, gt, 0.5)
        ahead = process_image(entry, image, engine, params, gt, 0.5, prepared)
        _same(inline, ahead)
        positives += inline[0].rle not in (None, "-1")
    assert positives > 0  # the comparison covered masks and run-length strings


def test_prepared_equals_inline_with_padding(engine, tmp_path):
    rng = np.random.default_rng(0)
    pixels = np.kron(rng.integers(20, 4000, (32, 32)), np.ones((16, 16))).astype(np.uint16)
    pixels[:, :100] = 0  # a padded border
    factory.write_image(tmp_path / "padded.dcm", pixels, bits_stored=12, padding=0)
    (entry,) = _entries(tmp_path)
    image, prepared = decode_image(entry, engine)
    assert image.padding is not None and image.padding.any()
    params = engine.postprocess_params()
    _same(
        process_image(entry, image, engine, params, None, 0.5),
        process_image(entry, image, engine, params, None, 0.5, prepared),
    )
