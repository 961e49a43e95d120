"""OOD statistics: Ledoit-Wolf, Mahalanobis distance, the file format, the manifest fields."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model_training.ood import fit_ood, ledoit_wolf, write_ood
from pneumoviewer.core.errors import ModelLoadError
from pneumoviewer.core.inference.manifest import read_manifest
from pneumoviewer.core.inference.ood import OodDetector, OodStatistics, parse_ood_spec
from pneumoviewer.core.quality import IntendedUse, Quality


def _paper_ledoit_wolf(x: np.ndarray) -> float:
    """The shrinkage written as in Ledoit & Wolf (2004), one sample at a time."""
    n, d = x.shape
    x = x - x.mean(axis=0)
    s = x.T @ x / n
    mu = np.trace(s) / d
    d2 = ((s - mu * np.eye(d)) ** 2).sum()
    b2 = sum(((np.outer(v, v) - s) ** 2).sum() for v in x) / n**2
    return min(b2, d2) / d2


@pytest.mark.parametrize(("n", "d"), [(10, 32), (200, 8), (50, 50)])
def test_ledoit_wolf_matches_the_paper(n: int, d: int) -> None:
    rng = np.random.default_rng(n + d)
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))  # correlated
    cov, s = ledoit_wolf(x)
    assert s == pytest.approx(_paper_ledoit_wolf(x), rel=1e-9)
    xc = x - x.mean(axis=0)
    emp = xc.T @ xc / n
    expected = (1 - s) * emp + s * np.trace(emp) / d * np.eye(d)
    np.testing.assert_allclose(cov, expected, rtol=1e-10, atol=1e-12)
    assert np.linalg.eigvalsh(cov).min() > 0  # invertible even when n < d


def test_ledoit_wolf_shrinks_little_with_many_samples() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 4)) * [1.0, 3.0, 10.0, 30.0]
    assert ledoit_wolf(x)[1] < 0.01
    iso = rng.normal(size=(20, 4))  # truly isotropic: shrink hard towards mu I
    assert ledoit_wolf(iso)[1] > 0.5
    with pytest.raises(ValueError, match="identical"):
        ledoit_wolf(np.ones((5, 3)))


def test_distance_is_mahalanobis_and_threshold_is_percentile() -> None:
    rng = np.random.default_rng(1)
    train = rng.normal(size=(300, 6)) * [1, 2, 3, 4, 5, 6]
    val = rng.normal(size=(100, 6)) * [1, 2, 3, 4, 5, 6]
    stats, spec = fit_ood(train, val, percentile=90.0)
    cov, _ = ledoit_wolf(train)
    diff = val[:3] - train.mean(axis=0)
    naive = np.sqrt(np.einsum("nd,de,ne->n", diff, np.linalg.inv(cov), diff))
    np.testing.assert_allclose(stats.distance(val[:3]), naive, rtol=1e-5)
    assert spec.threshold == pytest.approx(np.percentile(stats.distance(val), 90.0))
    assert (spec.train_images, spec.threshold_images, spec.feature_dim) == (300, 100, 6)
    far = stats.distance(np.full(6, 50.0))[0]
    assert far > 3 * spec.threshold
    assert stats.distance(np.array([np.nan] * 6))[0] == np.inf
    with pytest.raises(ValueError, match="expected 6 features"):
        stats.distance(np.zeros(5))


def _write_model(tmp_path: Path, tiny_model_dir: Path) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    for f in tiny_model_dir.iterdir():
        (model / f.name).write_bytes(f.read_bytes())
    return model


def test_write_and_load_statistics(tmp_path: Path, tiny_model_dir: Path) -> None:
    model = _write_model(tmp_path, tiny_model_dir)
    assert read_manifest(model).ood is None
    assert any("OOD check: none" in line for line in read_manifest(model).card_lines())
    rng = np.random.default_rng(2)
    stats, spec = fit_ood(rng.normal(size=(40, 16)), rng.normal(size=(20, 16)))
    written = write_ood(model, stats, spec)
    manifest = read_manifest(model)
    assert manifest.ood == written and len(written.sha256) == 64
    assert any(line.startswith("OOD check: Mahalanobis") for line in manifest.card_lines())
    det = OodDetector.from_model_dir(model, manifest.ood)
    np.testing.assert_array_equal(det.stats.precision, stats.precision)
    dist, res = det.check(np.full(16, 40.0))
    assert dist > det.threshold and res.level is Quality.REFUSED and res.codes == ("ood",)
    assert det.check(None)[1].codes == ("ood-skipped",)
    # a changed file is refused, naming it
    (model / "ood.safetensors").write_bytes(b"x" + (model / "ood.safetensors").read_bytes())
    with pytest.raises(ModelLoadError, match="ood.safetensors: sha256 mismatch"):
        OodDetector.from_model_dir(model, manifest.ood)
    assert OodDetector.from_model_dir(model, None) is None


def test_bad_ood_fields(tmp_path: Path) -> None:
    good = {"sha256": "a" * 64, "threshold": 3.0, "feature_dim": 4}
    assert parse_ood_spec(good, tmp_path / "m.json").threshold == 3.0
    for bad, field in [
        ({**good, "threshold": "x"}, "ood.threshold"),
        ({**good, "sha256": "z"}, "ood.sha256"),
        ({**good, "file": "../x.safetensors"}, "ood.file"),
        ({**good, "file": "ood.npz"}, "ood.file"),
        ({**good, "method": "knn"}, "ood.method"),
        ([], "ood"),
    ]:
        with pytest.raises(ModelLoadError, match=f"m.json: field '{field}'"):
            parse_ood_spec(bad, tmp_path / "m.json")


def test_statistics_file_never_runs_code(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a valid OOD statistics file"):
        OodStatistics.from_bytes(b"\x80\x04pickle", tmp_path / "ood.safetensors")


def test_intended_use_in_manifest(tmp_path: Path, tiny_model_dir: Path) -> None:
    model = _write_model(tmp_path, tiny_model_dir)
    m = read_manifest(model)
    assert m.intended_use is None and not m.effective_intended_use.stated
    assert "(defaults: the manifest does not state it)" in "\n".join(m.card_lines())
    path = model / "manifest.json"
    data = json.loads(path.read_text())
    data["intended_use"] = {"age_min": 12, "views": ["pa"], "modalities": ["CR"]}
    path.write_text(json.dumps(data))
    m = read_manifest(model)
    assert m.intended_use == IntendedUse(age_min=12, views=("PA",), modalities=("CR",))
    assert m.effective_intended_use.stated
    assert "Intended use: ages 12 y and older; views PA; modalities CR; body part CHEST" in (
        m.card_lines()
    )
    assert m.to_dict()["intended_use"]["age_max"] is None
    for bad, field in [
        ({"age_min": -1}, "age_min"),
        ({"age_min": 40, "age_max": 20}, "age_min"),
        ({"views": []}, "views"),
        ({"views": "PA"}, "views"),
    ]:
        data["intended_use"] = bad
        path.write_text(json.dumps(data))
        with pytest.raises(ModelLoadError, match=f"field 'intended_use.{field}'"):
            read_manifest(model)


def test_without_held_out_data_the_threshold_is_cross_validated() -> None:
    rng = np.random.default_rng(3)
    train = rng.normal(size=(6, 5)) * [1, 2, 3, 4, 5]
    stats, spec = fit_ood(train, None, percentile=50.0)
    loo = []
    for i in range(6):
        rest = np.delete(train, i, axis=0)
        cov, _ = ledoit_wolf(rest)
        d = train[i] - rest.mean(axis=0)
        loo.append(np.sqrt(d @ np.linalg.inv(cov) @ d))
    assert spec.threshold == pytest.approx(float(np.median(loo)), rel=1e-6)
    assert spec.threshold_from == "leave-one-out over the training images (no held-out data)"
    assert spec.threshold > float(np.median(stats.distance(train)))  # in-sample is smaller
    with pytest.raises(ValueError, match="at least 3"):
        fit_ood(train[:2], None)


def test_single_vector_distance_is_bit_identical_to_the_matrix_product() -> None:
    # #11 §1: one vector goes through np.dot (fast); it must equal the (1, D) @ (D, D)
    # formula it replaced, exactly, on the demo model's statistics
    from pneumoviewer import DEMO_MODEL_DIR
    from pneumoviewer.core.inference.manifest import read_manifest
    from pneumoviewer.core.inference.ood import OodDetector

    detector = OodDetector.from_model_dir(DEMO_MODEL_DIR, read_manifest(DEMO_MODEL_DIR).ood)
    stats = detector.stats
    p64 = stats.precision.astype(np.float64)
    rng = np.random.default_rng(3)
    scale = float(np.abs(stats.mean).mean())
    for _ in range(50):
        f = (stats.mean + rng.normal(0, scale, stats.mean.shape)).astype(np.float32)
        d = np.atleast_2d(f.astype(np.float64)) - stats.mean.astype(np.float64)
        old = np.sqrt(np.maximum(((d @ p64) * d).sum(axis=1), 0.0))
        assert stats.distance(f).tobytes() == old.tobytes()
        assert detector.distance(f) == float(old[0])
    batch = (stats.mean + rng.normal(0, scale, (4, stats.mean.size))).astype(np.float32)
    d = batch.astype(np.float64) - stats.mean.astype(np.float64)
    np.testing.assert_array_equal(
        stats.distance(batch), np.sqrt(np.maximum(((d @ p64) * d).sum(axis=1), 0.0))
    )


def test_single_vector_distance_is_exact_for_a_size_not_a_multiple_of_the_block() -> None:
    rng = np.random.default_rng(4)
    a = rng.normal(size=(300, 100))
    precision = np.linalg.inv(a.T @ a / 300).astype(np.float32)
    stats = OodStatistics(rng.normal(size=100).astype(np.float32), precision)
    p64 = precision.astype(np.float64)
    for _ in range(20):
        f = rng.normal(size=100).astype(np.float32)
        d = f.astype(np.float64)[None] - stats.mean.astype(np.float64)
        old = np.sqrt(np.maximum(((d @ p64) * d).sum(axis=1), 0.0))
        assert stats.distance(f).tobytes() == old.tobytes()
