"""The engine's pooled features, Grad-CAM heat-map and OOD statistics (#10), tiny model."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from model_training.ood import fit_model_dir_ood
from pneumoviewer.core.inference.engine import InferenceEngine
from pneumoviewer.core.inference.explain import FeatureClassifier
from pneumoviewer.core.quality import Quality


def _images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:300, 0:280]
    out = []
    for _ in range(n):
        cx, cy = rng.uniform(80, 200, 2)
        blob = 120 + 80 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 3000.0)
        out.append(np.clip(blob + rng.normal(0, 5, blob.shape), 0, 255).astype(np.uint8))
    return out


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> InferenceEngine:
    return InferenceEngine(tiny_model_dir, device="cpu")


def test_features_are_the_pooled_block(engine: InferenceEngine) -> None:
    image = _images(1)[0]
    pred = engine.predict(image)
    assert pred.features is not None and pred.features.dtype == np.float32
    assert pred.features.shape == (1024,) and float(pred.features.min()) >= 0.0
    cls_input, _ = engine._inputs(image)
    wrapper = FeatureClassifier(engine._classifier)
    with torch.inference_mode():
        out, pooled = wrapper(torch.from_numpy(cls_input[None]))
    np.testing.assert_allclose(pred.features, pooled[0].numpy(), rtol=1e-4, atol=1e-5)
    assert pred.class_score == pytest.approx(float(out[0, 0]), rel=1e-4, abs=1e-5)
    batch = engine.predict_batch(_images(3))
    assert all(p.features.shape == (1024,) for p in batch)


def test_tta_features_are_the_unflipped_image(tiny_model_dir: Path) -> None:
    image = _images(1, seed=3)[0]
    plain = InferenceEngine(tiny_model_dir, device="cpu").predict(image)
    tta = InferenceEngine(tiny_model_dir, device="cpu", tta=True).predict(image)
    np.testing.assert_allclose(tta.features, plain.features, rtol=1e-4, atol=1e-5)


def test_heatmap(engine: InferenceEngine) -> None:
    image = _images(1, seed=5)[0]
    cam = engine.heatmap(image)
    assert cam.dtype == np.float32 and cam.shape == image.shape
    assert float(cam.min()) >= 0.0 and float(cam.max()) <= 1.0
    assert engine.heatmap(image[:, ::-1]).shape == image.shape  # views are fine


def test_segmenter_only_model_has_no_features(tmp_path: Path) -> None:
    from tests.tiny_models import make_tiny_model_dir

    model = make_tiny_model_dir(tmp_path / "seg", classifier=False)
    eng = InferenceEngine(model, device="cpu")
    assert eng.predict(_images(1)[0]).features is None
    with pytest.raises(ValueError, match="no DenseNet classifier"):
        eng.heatmap(_images(1)[0])


def test_fit_model_dir_ood_through_the_engine(tmp_path: Path, tiny_model_dir: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    assert InferenceEngine(model, device="cpu").ood is None
    train, val = _images(12, seed=1), _images(6, seed=2)
    spec = fit_model_dir_ood(model, train, val, percentile=50.0)
    assert (spec.train_images, spec.threshold_images, spec.percentile) == (12, 6, 50.0)
    eng = InferenceEngine(model, device="cpu")
    assert eng.ood is not None and eng.manifest.ood == spec
    dists = [eng.ood.distance(eng.predict(v).features) for v in val]
    assert spec.threshold == pytest.approx(float(np.median(dists)), rel=1e-3)
    refused = [eng.ood.check(eng.predict(v).features)[1].level is Quality.REFUSED for v in val]
    assert sum(refused) == 3  # above the median: half of them
