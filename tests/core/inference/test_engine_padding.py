"""Padding pixels (DICOM Pixel Padding Value) play no part in the model input (#7 §4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pneumoviewer.core.inference.engine import InferenceEngine


@pytest.fixture(scope="module")
def engines(tiny_model_dir, tmp_path_factory):
    from tests.tiny_models import make_tiny_model_dir

    torch.set_num_threads(1)
    plain = make_tiny_model_dir(tmp_path_factory.mktemp("no_clahe"), clahe=False)
    return {
        "clahe": InferenceEngine(tiny_model_dir, device="cpu"),
        "no clahe": InferenceEngine(plain, device="cpu"),
    }


def _framed(value: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    image = np.full((160, 160), value, dtype=np.uint8)
    image[20:-20, 20:-20] = rng.integers(30, 220, (120, 120), dtype=np.uint8)
    padding = np.ones(image.shape, dtype=bool)
    padding[20:-20, 20:-20] = False
    return image, padding


@pytest.mark.parametrize("which", ["clahe", "no clahe"])
def test_padding_value_does_not_change_the_prediction(engines, which):
    engine = engines[which]
    black, padding = _framed(0)
    white, _ = _framed(255)
    a = engine.predict(black, padding=padding)
    b = engine.predict(white, padding=padding)
    assert a.class_probability == b.class_probability
    np.testing.assert_array_equal(a.probability_map, b.probability_map)
    if which == "no clahe":  # then a black frame (what load_xray gives) is all it takes
        assert engine.predict(black).class_probability == a.class_probability
    # without the mask a white frame is seen by the models
    d = engine.predict(white)
    assert not np.array_equal(d.probability_map, a.probability_map)


def test_batch_takes_one_padding_per_image(engines):
    engine = engines["clahe"]
    black, padding = _framed(0)
    white, _ = _framed(255)
    batch = engine.predict_batch([white, white], paddings=[padding, None])
    single = engine.predict(white, padding=padding)
    np.testing.assert_allclose(batch[0].probability_map, single.probability_map, atol=1e-6)
    with pytest.raises(ValueError, match="paddings"):
        engine.predict_batch([white, white], paddings=[padding])
