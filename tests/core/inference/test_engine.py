"""InferenceEngine: shapes at the image's resolution, TTA, Platt math, device fallback."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pneumoviewer.core.inference.engine import (
    InferenceEngine,
    platt_probability,
    scores_to_probability,
)
from pneumoviewer.core.inference.manifest import ClassifierSpec
from pneumoviewer.core.postprocessing import PostprocessParams
from tests.tiny_models import make_tiny_model_dir


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    return InferenceEngine(tiny_model_dir, device="cpu")


def _image(shape, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    img = (xx * 3 + yy * 2) % 256 + rng.integers(0, 40, shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_prediction_at_non_square_resolution(engine):
    pred = engine.predict(_image((300, 200)), image_id="abc")
    assert pred.image_id == "abc"
    assert pred.probability_map.shape == (300, 200)
    assert pred.probability_map.dtype == np.float32
    assert 0.0 <= pred.probability_map.min() <= pred.probability_map.max() <= 1.0
    assert 0.0 < pred.class_probability < 1.0
    # no Platt scaling in the tiny model: p = sigmoid(margin)
    assert pred.class_probability == pytest.approx(1 / (1 + math.exp(-pred.class_score)))
    assert pred.device == "cpu" and pred.seconds > 0


def test_predict_is_deterministic_and_batch_matches(engine):
    a, b = _image((128, 128), 1), _image((256, 192), 2)
    one = engine.predict(a)
    again = engine.predict(a)
    np.testing.assert_array_equal(one.probability_map, again.probability_map)
    batch = engine.predict_batch([a, b], image_ids=["a", "b"])
    assert [p.image_id for p in batch] == ["a", "b"]
    assert batch[1].probability_map.shape == (256, 192)
    np.testing.assert_allclose(batch[0].probability_map, one.probability_map, atol=1e-5)
    assert batch[0].class_probability == pytest.approx(one.class_probability, abs=1e-5)
    assert engine.predict_batch([]) == []


def test_tta_averages_image_and_mirror(tmp_path):
    # Without CLAHE (OpenCV's CLAHE is not exactly mirror-symmetric) and with integer scale
    # factors, mirroring the image equals mirroring the network input.
    d = make_tiny_model_dir(tmp_path / "m", clahe=False)
    img = _image((256, 128), 3)
    tta = InferenceEngine(d, device="cpu", tta=True)
    engine = InferenceEngine(d, device="cpu")
    got = tta.predict(img)
    plain = engine.predict(img)
    mirror = engine.predict(np.ascontiguousarray(img[:, ::-1]))
    want = (plain.map_at_model_size + mirror.map_at_model_size[:, ::-1]) / 2
    np.testing.assert_allclose(got.map_at_model_size, want, atol=1e-4)
    # the full-resolution map comes from the uint8 model-size map (core.probability_map):
    # equal within one quantisation step
    want_map = (plain.probability_map + mirror.probability_map[:, ::-1]) / 2
    np.testing.assert_allclose(got.probability_map, want_map, atol=1 / 255 + 1e-6)
    want_p = (plain.class_probability + mirror.class_probability) / 2
    assert got.class_probability == pytest.approx(want_p, abs=1e-4)
    assert not np.allclose(plain.probability_map, got.probability_map, atol=1e-6)


def test_platt_math_for_known_margin():
    # p = 1 / (1 + exp(a * margin + b)) with a=-2, b=0.5, margin=1: 1 / (1 + e^-1.5)
    assert float(platt_probability(1.0, -2.0, 0.5)) == pytest.approx(0.8175744761936437)
    assert float(platt_probability(0.25, -2.0, 0.5)) == pytest.approx(0.5)
    assert float(platt_probability(1e6, 1.0, 0.0)) < 1e-300  # clipped: no overflow warning
    spec = ClassifierSpec(head="svm", input_size=64, mean=0.5, std=0.25, platt_a=-2.0, platt_b=0.5)
    p, s = scores_to_probability(np.array([[1.0], [0.25]]), spec)
    np.testing.assert_allclose(p, [0.8175744761936437, 0.5])
    np.testing.assert_array_equal(s, [1.0, 0.25])
    soft = ClassifierSpec(head="softmax", input_size=64, mean=0.5, std=0.25)
    p, s = scores_to_probability(np.array([[0.5, 2.0]]), soft)
    want = math.exp(2.0) / (math.exp(0.5) + math.exp(2.0))
    assert p[0] == pytest.approx(want) and s[0] == pytest.approx(1.5)


def test_engine_applies_platt_from_manifest(tmp_path):
    d = make_tiny_model_dir(tmp_path / "m", segmenter=False, platt=(-2.0, 0.5))
    e = InferenceEngine(d, device="cpu")
    pred = e.predict(_image((64, 64)))
    assert pred.probability_map is None
    want = 1 / (1 + math.exp(-2.0 * pred.class_score + 0.5))
    assert pred.class_probability == pytest.approx(want)


def test_segmenter_only_model_and_gate_default(tmp_path):
    d = make_tiny_model_dir(tmp_path / "m", classifier=False, gate_threshold=0.3)
    e = InferenceEngine(d, device="cpu")
    pred = e.predict(_image((100, 80)))
    assert pred.class_probability is None and pred.class_score is None
    assert pred.probability_map.shape == (100, 80)
    # the gate needs a classifier: off for a segmenter-only model
    assert e.postprocess_params() == PostprocessParams(
        scheme="triplet", bottom_threshold=0.5, min_area=0, gate_enabled=False, gate_threshold=0.3
    )


def test_postprocess_params_from_manifest(tmp_path, engine):
    # A new model: the triplet; the gate on, at the classifier's decision threshold.
    assert engine.postprocess_params() == PostprocessParams(
        scheme="triplet", bottom_threshold=0.5, top_threshold=0.75, min_area=0, gate_threshold=0.5
    )
    d = make_tiny_model_dir(tmp_path / "m", gate_threshold=0.7)
    e = InferenceEngine(d, device="cpu")
    assert e.postprocess_params().gate_enabled
    assert e.postprocess_params().gate_threshold == 0.7


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_unavailable_falls_back_with_warning(tiny_model_dir):
    e = InferenceEngine(tiny_model_dir, device="cuda")
    assert e.device == "cpu"
    assert any("CUDA" in w and "CPU" in w for w in e.warnings)
    assert e.predict(_image((64, 64))).device == "cpu"


def test_cuda_failure_during_inference_falls_back(tiny_model_dir, monkeypatch):
    e = InferenceEngine(tiny_model_dir, device="cpu")
    want = e.predict(_image((64, 64)))
    real_forward = e._forward
    calls = []

    def flaky(cls_batch, seg_batch):
        calls.append(e.device)
        if len(calls) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return real_forward(cls_batch, seg_batch)

    monkeypatch.setattr(e, "_forward", flaky)
    e._device = torch.device("cuda")  # pretend the models were on a GPU
    got = e.predict(_image((64, 64)))
    assert e.device == "cpu" and got.device == "cpu"
    assert any("CUDA failed during inference" in w for w in e.warnings)
    assert got.class_probability == pytest.approx(want.class_probability)


def test_views_are_accepted(engine):
    img = _image((96, 80), 4)
    view = engine.predict(img[::-1, ::2])
    copy = engine.predict(np.ascontiguousarray(img[::-1, ::2]))
    assert view.probability_map.shape == (96, 40)
    np.testing.assert_array_equal(view.probability_map, copy.probability_map)


def test_non_cuda_errors_are_not_swallowed(engine):
    with pytest.raises(ValueError, match="uint8"):
        engine.predict(np.zeros((10, 10), np.float32))


def test_unknown_device_rejected(tiny_model_dir):
    with pytest.raises(ValueError, match="unknown device"):
        InferenceEngine(tiny_model_dir, device="tpu")
