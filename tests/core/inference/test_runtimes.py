"""CPU runtimes (#11): each available one faithful to torch fp32, auto's choice and its cache."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from pneumoviewer.core.dicom_io import load_xray
from pneumoviewer.core.inference import runtime_choice as rc
from pneumoviewer.core.inference.engine import InferenceEngine
from pneumoviewer.core.inference.manifest import file_sha256
from pneumoviewer.core.inference.runtimes import (
    RUNTIMES,
    cache_root,
    unavailable_reason,
)

# ONNX Runtime and OpenVINO (TBB) loaded into the pytest process, then torch training later in
# the same process: the parent died with SIGSEGV (twice, in tests/training). These tests run in
# their own pytest process (make test: -m isolated).
pytestmark = pytest.mark.isolated

AVAILABLE = [r for r in RUNTIMES if r != "torch" and unavailable_reason(r) is None]


@pytest.fixture(scope="module")
def images(samples_dir):
    paths = sorted(samples_dir.glob("*.dcm"))[:3]
    return [load_xray(p) for p in paths]


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return rc.dice_binary(a, b)


def _faithful(ref: InferenceEngine, other: InferenceEngine, images) -> None:
    threshold = ref.postprocess_params().bottom_threshold
    for image in images:
        a = ref.predict(image.pixels, padding=image.padding)
        b = other.predict(image.pixels, padding=image.padding)
        assert abs(a.class_probability - b.class_probability) <= rc.MAX_PROB_DIFF
        assert _dice(a.probability_map >= threshold, b.probability_map >= threshold) >= 0.99
        assert a.features.shape == b.features.shape
        np.testing.assert_allclose(a.features, b.features, atol=1e-2)


@pytest.mark.parametrize("runtime", AVAILABLE)
def test_each_runtime_faithful_on_tiny_model(runtime, tiny_model_dir, images):
    ref = InferenceEngine(tiny_model_dir, device="cpu", runtime="torch")
    other = InferenceEngine(tiny_model_dir, device="cpu", runtime=runtime)
    assert other.runtimes == {"classifier": runtime, "segmenter": runtime}
    _faithful(ref, other, images)


def test_tta_through_a_runtime(tiny_model_dir, images):
    if "onnxruntime" not in AVAILABLE:
        pytest.skip("onnxruntime not installed")
    ref = InferenceEngine(tiny_model_dir, device="cpu", runtime="torch", tta=True)
    other = InferenceEngine(tiny_model_dir, device="cpu", runtime="onnxruntime", tta=True)
    _faithful(ref, other, images[:1])


def test_each_runtime_faithful_on_demo_model(images):
    """The demo model (DenseNet-121 224 + U-Net ResNet-34 256) on the samples."""
    from pneumoviewer import DEMO_MODEL_DIR

    if not DEMO_MODEL_DIR.is_dir() or not AVAILABLE:
        pytest.skip("no demo model or no optional runtime")
    engine = InferenceEngine(DEMO_MODEL_DIR, device="cpu", runtime="torch")
    batch_sources = [engine._inputs(im.pixels, im.padding) for im in images]
    for kind, net, spec in engine._networks():
        key = f"{file_sha256(DEMO_MODEL_DIR / spec.weights)}-{kind}"
        make = rc.runner_factory(
            net, key=key, input_size=spec.input_size, in_channels=spec.in_channels
        )
        batch = np.stack([s[0 if kind == "classifier" else 1] for s in batch_sources])
        reports = rc.evaluate(
            make,
            batch,
            kind=kind,
            to_probability=lambda raw: rc_probability(engine, raw),
            threshold=engine.postprocess_params().bottom_threshold,
            runtimes=("torch", *AVAILABLE),
            reps=1,
        )
        for r in reports:
            assert r.faithful, (kind, r)


def rc_probability(engine, raw):
    from pneumoviewer.core.inference.calibration import scores_to_probability

    return scores_to_probability(raw, engine.manifest.classifier)[0]


def test_auto_picks_a_faithful_runtime_and_caches_it_by_sha256(tiny_model_dir, monkeypatch):
    before = sorted(p.name for p in tiny_model_dir.iterdir())
    engine = InferenceEngine(tiny_model_dir, device="cpu", runtime="auto")
    for kind, reports in engine.runtime_reports.items():
        chosen = engine.runtimes[kind]
        by_name = {r.runtime: r for r in reports}
        assert by_name[chosen].faithful
        assert by_name["torch"].faithful and by_name["torch"].faithfulness in (0.0, 1.0)
        fastest = min((r for r in reports if r.faithful), key=lambda r: r.ms)
        assert chosen == fastest.runtime
    # cached under <cache>/<weights sha256>-<kind>/, never in the model directory
    assert sorted(p.name for p in tiny_model_dir.iterdir()) == before
    root = cache_root()
    assert root != tiny_model_dir and tiny_model_dir not in root.parents
    cls_sha = file_sha256(tiny_model_dir / "classifier.safetensors")
    seg_sha = file_sha256(tiny_model_dir / "segmenter.safetensors")
    choices = list((root / f"{seg_sha}-segmenter").glob("choice-*.json"))
    assert len(choices) == 1
    assert json.loads(choices[0].read_text())["runtime"] == engine.runtimes["segmenter"]
    assert list((root / f"{cls_sha}-classifier-features").glob("choice-*.json"))
    # measured once: a second engine reads the choice
    monkeypatch.setattr(rc, "evaluate", lambda *a, **k: pytest.fail("measured again"))
    again = InferenceEngine(tiny_model_dir, device="cpu", runtime="auto")
    assert again.runtimes == engine.runtimes


def test_unfaithful_runtime_is_not_chosen():
    """A runtime whose outputs drift is reported unfaithful and never picked, however fast."""
    batch = np.random.default_rng(0).normal(size=(4, 1, 8, 8)).astype(np.float32)

    def make(name):
        if name == "torch":
            return lambda x: x.clone()
        return lambda x: x + 0.5  # "fast" but wrong

    reports = rc.evaluate(make, batch, kind="segmenter", threshold=0.5, runtimes=RUNTIMES)
    by_name = {r.runtime: r for r in reports}
    for name in AVAILABLE:
        assert not by_name[name].faithful
        assert "Dice" in by_name[name].reason
    assert rc.fastest(reports) == "torch"
    cls = rc.evaluate(
        make,
        batch[:, :, 0, :1].reshape(4, 1),
        kind="classifier",
        to_probability=lambda raw: 1 / (1 + np.exp(-raw[:, 0])),
        runtimes=RUNTIMES,
    )
    for r in cls:
        if r.runtime in AVAILABLE:
            assert not r.faithful and r.faithfulness > rc.MAX_PROB_DIFF


def test_missing_runtime_is_unavailable_with_install_hint(monkeypatch, tiny_model_dir):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.setitem(sys.modules, "openvino", None)
    reason = unavailable_reason("onnxruntime")
    assert reason is not None and "pneumoviewer[runtimes]" in reason
    assert "pneumoviewer[runtimes]" in unavailable_reason("openvino")
    with pytest.raises(ValueError, match="unavailable"):
        InferenceEngine(tiny_model_dir, device="cpu", runtime="onnxruntime")


def test_bf16_only_where_native(monkeypatch):
    from pneumoviewer.core.inference import runtimes

    monkeypatch.setattr(runtimes, "_cpu_flags", lambda: {"avx2", "fma"})
    assert "bfloat16" in unavailable_reason("torch-bf16")
    monkeypatch.setattr(runtimes, "_cpu_flags", lambda: {"avx2", "avx512_bf16"})
    assert unavailable_reason("torch-bf16") is None


def test_bf16_runner_matches_fp32_loosely(tiny_model_dir):
    """bf16 autocast runs (emulated where not native); the output stays close."""
    from pneumoviewer.core.inference.runtimes import make_runner

    engine = InferenceEngine(tiny_model_dir, device="cpu", runtime="torch")
    _, net, spec = next(iter(engine._networks()))
    x = torch.randn(1, 3, spec.input_size, spec.input_size)
    if unavailable_reason("torch-bf16") is not None:
        pytest.skip("no native bf16 here")
    run = make_runner("torch-bf16", net, key="k", input_size=spec.input_size, in_channels=3)
    with torch.inference_mode():
        ref = net(x)[0]
    assert torch.allclose(run(x)[0], ref, atol=0.1)


def test_cache_folder_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("PNEUMOVIEWER_RUNTIME_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c" and (tmp_path / "c").is_dir()
    monkeypatch.delenv("PNEUMOVIEWER_RUNTIME_CACHE")
    import platformdirs

    seen = []

    def fake(appname, appauthor=None):
        seen.append(appname)
        return str(tmp_path / "user-cache" / appname)

    monkeypatch.setattr(platformdirs, "user_cache_dir", fake)
    assert cache_root() == tmp_path / "user-cache" / "pneumoviewer" / "runtimes"
    assert seen == ["pneumoviewer"]


def test_default_runtime_setting_then_env_then_auto(monkeypatch):
    from pneumoviewer.core.inference.runtimes import default_runtime

    monkeypatch.delenv("PNEUMOVIEWER_RUNTIME", raising=False)
    assert default_runtime(None) == "auto"
    assert default_runtime("torch") == "torch"
    assert default_runtime("no-such-runtime") == "auto"
    monkeypatch.setenv("PNEUMOVIEWER_RUNTIME", "torch")
    assert default_runtime(None) == "torch"
    assert default_runtime("auto") == "auto"  # the setting wins over the environment
    monkeypatch.setattr("pneumoviewer.core.inference.runtimes._cpu_flags", lambda: {"avx2"})
    assert default_runtime("torch-bf16") == "torch"  # not native here: the next choice
