"""manifest.json: round trip, validation messages naming file and field, torch-free import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pneumoviewer.core.errors import ModelLoadError
from pneumoviewer.core.inference.manifest import (
    FORMAT_VERSION,
    ClassifierSpec,
    ModelManifest,
    SegmenterSpec,
    read_manifest,
)
from pneumoviewer.core.preprocessing import ClaheParams


def _manifest() -> ModelManifest:
    return ModelManifest(
        name="m",
        description="d",
        demo=True,
        clahe=ClaheParams(clip_limit=3.0, tile_grid=(4, 6)),
        classifier=ClassifierSpec(
            head="svm",
            input_size=224,
            mean=0.4,
            std=0.2,
            platt_a=-1.5,
            platt_b=0.25,
            decision_threshold=0.3,
        ),
        segmenter=SegmenterSpec(
            encoder="resnet34",
            input_size=256,
            mean=0.5,
            std=0.25,
            min_area=12,
            gate_threshold=0.6,
            decoder_channels=(64, 32, 16),
        ),
        training={"images": 12, "metrics": {"auc": 0.5}},
        sha256={"classifier.safetensors": "a" * 64},
    )


def _write(tmp_path: Path, data) -> Path:
    text = data if isinstance(data, str) else json.dumps(data)
    (tmp_path / "manifest.json").write_text(text, encoding="utf-8")
    return tmp_path


def test_json_round_trip(tmp_path):
    m = _manifest()
    _write(tmp_path, m.to_json())
    back = read_manifest(tmp_path)
    assert back == m
    assert back.clahe == ClaheParams(clip_limit=3.0, tile_grid=(4, 6))
    assert back.segmenter.decoder_channels == (64, 32, 16)
    assert ModelManifest.read(tmp_path) == m


def test_null_clahe_and_segmenter_only(tmp_path):
    d = _manifest().to_dict()
    d["clahe"] = None
    d["classifier"] = None
    m = read_manifest(_write(tmp_path, d))
    assert m.clahe is None and m.classifier is None and m.segmenter.min_area == 12


def test_card_lines_mention_demo_and_models():
    lines = _manifest().card_lines()
    assert "demo" in lines[0]
    assert any("DenseNet-121 svm" in line and "Platt" in line for line in lines)
    assert any("U-Net resnet34" in line for line in lines)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d.pop("name"), "field 'name': required field is missing"),
        (lambda d: d.__setitem__("name", 3), "field 'name': must be str"),
        (lambda d: d["classifier"].__setitem__("head", "tree"), "field 'classifier.head'"),
        (lambda d: d["classifier"].__setitem__("input_size", "224"), "classifier.input_size"),
        (lambda d: d["classifier"].__setitem__("input_size", True), "classifier.input_size"),
        (lambda d: d["classifier"].__setitem__("std", 0), "classifier.std"),
        (
            lambda d: d["classifier"].__setitem__("decision_threshold", 1.5),
            "classifier.decision_threshold",
        ),
        (lambda d: d["classifier"].__setitem__("platt_b", None), "classifier.platt_a"),
        (
            lambda d: d["classifier"].__setitem__("weights", "../evil.safetensors"),
            "classifier.weights",
        ),
        (
            lambda d: d["segmenter"].__setitem__("decoder_channels", [16, "x"]),
            "segmenter.decoder_channels",
        ),
        (lambda d: d["segmenter"].__setitem__("input_size", 100), "segmenter.input_size"),
        (lambda d: d["segmenter"].__setitem__("min_area", -1), "segmenter.min_area"),
        (lambda d: d["clahe"].__setitem__("tile_grid", [8]), "clahe.tile_grid"),
        (lambda d: d["sha256"].__setitem__("x", "nothex"), "sha256.x"),
        (
            lambda d: (d.__setitem__("classifier", None), d.__setitem__("segmenter", None)),
            "neither",
        ),
        (lambda d: d.__setitem__("segmenter", [1]), "field 'segmenter': must be dict"),
    ],
)
def test_invalid_fields_are_named(tmp_path, edit, expected):
    d = _manifest().to_dict()
    edit(d)
    with pytest.raises(ModelLoadError) as info:
        read_manifest(_write(tmp_path, d))
    assert expected in str(info.value)
    assert str(tmp_path / "manifest.json") in str(info.value)


def test_bad_json_names_file_and_position(tmp_path):
    with pytest.raises(ModelLoadError, match=r"manifest\.json: not valid JSON \(line 1"):
        read_manifest(_write(tmp_path, '{"name": '))


def test_not_an_object(tmp_path):
    with pytest.raises(ModelLoadError, match="must be a JSON object"):
        read_manifest(_write(tmp_path, "[1, 2]"))


def test_future_format_version_refused(tmp_path):
    d = _manifest().to_dict()
    d["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(ModelLoadError, match=f"format_version {FORMAT_VERSION + 1} is newer"):
        read_manifest(_write(tmp_path, d))


def test_missing_folder_and_manifest(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        read_manifest(tmp_path / "nope")
    with pytest.raises(ModelLoadError, match="missing manifest.json"):
        read_manifest(tmp_path)


def test_manifest_module_does_not_import_torch():
    code = (
        "import sys, pneumoviewer.core.inference.manifest as m; "
        "assert 'torch' not in sys.modules, 'torch imported'; print(m.FORMAT_VERSION)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(FORMAT_VERSION)


def test_missing_clahe_is_refused_not_switched_off(tmp_path):
    d = _manifest().to_dict()
    del d["clahe"]
    with pytest.raises(ModelLoadError) as info:
        read_manifest(_write(tmp_path, d))
    msg = str(info.value)
    assert "field 'clahe': required field is missing" in msg
    assert "null if it was trained without CLAHE" in msg
    assert str(tmp_path / "manifest.json") in msg


def test_other_architectures_are_a_manifest_change(tmp_path):
    d = _manifest().to_dict()
    d["classifier"]["architecture"] = "resnet18"
    d["segmenter"]["architecture"] = "fpn"
    m = read_manifest(_write(tmp_path, d))
    assert (m.classifier.architecture, m.segmenter.architecture) == ("resnet18", "fpn")
    lines = m.card_lines()
    assert any(line.startswith("Classifier: resnet18 svm head") for line in lines)
    assert any(line.startswith("Segmenter: fpn resnet34") for line in lines)


@pytest.mark.parametrize("name", ["", "../x", "a b", 3])
def test_malformed_architecture_names_refused(tmp_path, name):
    d = _manifest().to_dict()
    d["segmenter"]["architecture"] = name
    with pytest.raises(ModelLoadError, match="field 'segmenter.architecture'"):
        read_manifest(_write(tmp_path, d))


def test_bundled_demo_manifest_is_valid():
    demo = Path(__file__).resolve().parents[3] / "resources" / "models" / "demo"
    m = read_manifest(demo)
    assert m.clahe == ClaheParams(clip_limit=2.0, tile_grid=(8, 8))
    assert (m.classifier.architecture, m.segmenter.architecture) == ("densenet121", "unet")
