"""Model directories: save/load round trip and every refusal (hash, shapes, keys, pickles)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from pneumoviewer.core.errors import ModelLoadError
from pneumoviewer.core.inference.manifest import SegmenterSpec
from pneumoviewer.core.inference.models import (
    build_classifier,
    build_segmenter,
    import_checkpoint,
    load_model_dir,
    save_model_dir,
)
from tests.tiny_models import tiny_manifest


def _link_copy(src: Path, dst: Path) -> Path:
    """A copy of a model dir whose weights are symlinks (tests that edit the manifest only)."""
    dst.mkdir()
    for f in src.iterdir():
        if f.suffix == ".safetensors":
            (dst / f.name).symlink_to(f)
        else:
            (dst / f.name).write_bytes(f.read_bytes())
    return dst


def _edit_manifest(model_dir: Path, edit) -> None:
    path = model_dir / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_round_trip_outputs_identical(tmp_path):
    torch.manual_seed(1)
    manifest = tiny_manifest(input_size=64)
    cls, seg = (
        build_classifier(manifest.classifier).eval(),
        build_segmenter(manifest.segmenter).eval(),
    )
    x = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        want_c, want_s = cls(x), seg(x)
    written = save_model_dir(tmp_path / "m", manifest, classifier=cls, segmenter=seg)
    for name in ("classifier.safetensors", "segmenter.safetensors"):
        digest = hashlib.sha256((tmp_path / "m" / name).read_bytes()).hexdigest()
        assert written.sha256[name] == digest
    loaded = load_model_dir(tmp_path / "m")
    assert loaded.manifest == written
    assert not loaded.classifier.training and not loaded.segmenter.training
    with torch.inference_mode():
        assert torch.equal(loaded.classifier(x), want_c)
        assert torch.equal(loaded.segmenter(x), want_s)
    assert want_c.shape == (2, 1) and want_s.shape == (2, 1, 64, 64)

    save_model_dir(tmp_path / "h", manifest, classifier=cls, segmenter=seg, fp16=True)
    half = load_model_dir(tmp_path / "h")
    size16 = (tmp_path / "h" / "segmenter.safetensors").stat().st_size
    size32 = (tmp_path / "m" / "segmenter.safetensors").stat().st_size
    assert size16 < 0.6 * size32
    assert all(p.dtype == torch.float32 for p in half.segmenter.parameters())
    with torch.inference_mode():
        torch.testing.assert_close(half.classifier(x), want_c, atol=2e-2, rtol=2e-2)
        torch.testing.assert_close(half.segmenter(x), want_s, atol=2e-2, rtol=2e-2)


def test_softmax_head_has_two_outputs_and_one_channel_input():
    from dataclasses import replace

    spec = replace(tiny_manifest().classifier, head="softmax", in_channels=1)
    with torch.inference_mode():
        out = build_classifier(spec).eval()(torch.rand(1, 1, 64, 64))
    assert out.shape == (1, 2)


def test_save_refuses_mismatched_arguments(tmp_path):
    with pytest.raises(ValueError, match="segmenter"):
        save_model_dir(tmp_path, tiny_manifest(), classifier=torch.nn.Linear(1, 1))


def test_sha256_mismatch_refused(tiny_model_dir, tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    for f in tiny_model_dir.iterdir():
        (d / f.name).write_bytes(f.read_bytes())
    data = bytearray((d / "classifier.safetensors").read_bytes())
    data[-10] ^= 0xFF
    (d / "classifier.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="sha256 mismatch") as info:
        load_model_dir(d)
    assert info.value.path == d / "classifier.safetensors"


def test_missing_weights_file_refused(tiny_model_dir, tmp_path):
    d = _link_copy(tiny_model_dir, tmp_path / "m")
    (d / "segmenter.safetensors").unlink()
    with pytest.raises(ModelLoadError, match=r"segmenter\.safetensors: weights file is missing"):
        load_model_dir(d)


def test_missing_hash_refused(tiny_model_dir, tmp_path):
    d = _link_copy(tiny_model_dir, tmp_path / "m")
    _edit_manifest(d, lambda m: m["sha256"].pop("segmenter.safetensors"))
    with pytest.raises(ModelLoadError, match="no sha256 recorded"):
        load_model_dir(d)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda m: m["segmenter"].__setitem__("decoder_channels", [32, 16, 16, 16, 16]),
            "shape mismatches: decoder",
        ),
        (
            lambda m: m["classifier"].__setitem__("in_channels", 1),
            "shape mismatches: features.conv0",
        ),
        (lambda m: m["classifier"].__setitem__("head", "softmax"), "shape mismatches: classifier"),
        (
            lambda m: m["segmenter"].__setitem__("encoder", "resnet34"),
            "missing keys: encoder.layer",
        ),
        (
            lambda m: m["segmenter"].__setitem__("encoder", "resnet999"),
            "field 'segmenter.encoder': unknown encoder 'resnet999'",
        ),
    ],
)
def test_architecture_mismatch_refused(tiny_model_dir, tmp_path, edit, expected):
    d = _link_copy(tiny_model_dir, tmp_path / "m")
    _edit_manifest(d, edit)
    with pytest.raises(ModelLoadError) as info:
        load_model_dir(d)
    assert expected in str(info.value)


def test_missing_and_unexpected_keys_refused(tiny_model_dir, tmp_path):
    d = _link_copy(tiny_model_dir, tmp_path / "m")
    state = load_file(tiny_model_dir / "classifier.safetensors")
    state.pop("classifier.bias")
    state["extra.weight"] = torch.zeros(2)
    (d / "classifier.safetensors").unlink()
    save_file(state, d / "classifier.safetensors")
    digest = hashlib.sha256((d / "classifier.safetensors").read_bytes()).hexdigest()
    _edit_manifest(d, lambda m: m["sha256"].__setitem__("classifier.safetensors", digest))
    with pytest.raises(ModelLoadError) as info:
        load_model_dir(d)
    msg = str(info.value)
    assert "1 missing keys: classifier.bias" in msg
    assert "1 unexpected keys: extra.weight" in msg
    assert str(d / "classifier.safetensors") in msg


def test_bad_manifest_json_refused(tiny_model_dir, tmp_path):
    d = _link_copy(tiny_model_dir, tmp_path / "m")
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_model_dir(d)


def test_unknown_format_version_refused(tiny_model_dir, tmp_path):
    d = _link_copy(tiny_model_dir, tmp_path / "m")
    _edit_manifest(d, lambda m: m.__setitem__("format_version", 99))
    with pytest.raises(ModelLoadError, match="format_version 99 is newer"):
        load_model_dir(d)


def test_not_safetensors_refused(tiny_model_dir, tmp_path):
    d = _link_copy(tiny_model_dir, tmp_path / "m")
    (d / "classifier.safetensors").unlink()
    (d / "classifier.safetensors").write_bytes(b"garbage")
    digest = hashlib.sha256(b"garbage").hexdigest()
    _edit_manifest(d, lambda m: m["sha256"].__setitem__("classifier.safetensors", digest))
    with pytest.raises(ModelLoadError, match="not a valid safetensors file"):
        load_model_dir(d)


def test_import_checkpoint_plain_and_wrapped(tmp_path):
    state = {"a.weight": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([1, 2])}
    torch.save(state, tmp_path / "plain.pt")
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3},
        tmp_path / "wrapped.pth",
    )
    for name in ("plain.pt", "wrapped.pth"):
        got = import_checkpoint(tmp_path / name)
        assert set(got) == set(state)
        assert all(torch.equal(got[k], state[k]) for k in state)


class _Payload:
    """Unpickling this would create a marker file (stand-in for arbitrary code execution)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def test_import_checkpoint_refuses_pickle_payload_without_running_it(tmp_path):
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.pt"
    torch.save({"weight": torch.zeros(1), "x": _Payload(marker)}, evil)
    assert not marker.exists()
    with pytest.raises(ModelLoadError, match="refused: not a plain weights checkpoint") as info:
        import_checkpoint(evil)
    assert info.value.path == evil
    assert not marker.exists()
    # Control: the payload is real, an unsafe load would have run it.
    torch.load(evil, weights_only=False)
    assert marker.exists()


def test_import_checkpoint_refuses_non_tensors_and_missing(tmp_path):
    torch.save({"a": [1, 2]}, tmp_path / "lists.pt")
    with pytest.raises(ModelLoadError, match="is not a tensor"):
        import_checkpoint(tmp_path / "lists.pt")
    with pytest.raises(ModelLoadError, match="does not exist"):
        import_checkpoint(tmp_path / "missing.pt")


def test_unknown_architectures_refused_with_valid_names(tiny_model_dir, tmp_path):
    d = _link_copy(tiny_model_dir, tmp_path / "m")
    _edit_manifest(d, lambda m: m["segmenter"].__setitem__("architecture", "unet3000"))
    with pytest.raises(ModelLoadError) as info:
        load_model_dir(d)
    msg = str(info.value)
    assert "field 'segmenter.architecture': unknown architecture 'unet3000'" in msg
    assert "unet, unetplusplus" in msg and "fpn" in msg
    assert str(d / "manifest.json") in msg

    _edit_manifest(d, lambda m: m["segmenter"].__setitem__("architecture", "unet"))
    _edit_manifest(d, lambda m: m["classifier"].__setitem__("architecture", "densenet999"))
    with pytest.raises(ModelLoadError) as info:
        load_model_dir(d)
    msg = str(info.value)
    assert "field 'classifier.architecture': unknown architecture 'densenet999'" in msg
    assert "densenet121" in msg and "resnet18" in msg


def test_second_architecture_is_a_manifest_change(tmp_path):
    from dataclasses import replace

    base = tiny_manifest(input_size=64)
    manifest = replace(
        base,
        classifier=replace(base.classifier, architecture="resnet18", in_channels=1),
        segmenter=replace(
            base.segmenter,
            architecture="fpn",
            decoder_channels=SegmenterSpec().decoder_channels,
        ),
    )
    torch.manual_seed(0)
    cls, seg = build_classifier(manifest.classifier).eval(), build_segmenter(manifest.segmenter)
    seg.eval()
    assert cls.conv1.in_channels == 1 and cls.fc.out_features == 1
    assert type(seg).__name__ == "FPN"
    save_model_dir(tmp_path / "m", manifest, classifier=cls, segmenter=seg)
    loaded = load_model_dir(tmp_path / "m")
    x1, x3 = torch.rand(1, 1, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(loaded.classifier(x1), cls(x1))
        assert torch.equal(loaded.segmenter(x3), seg(x3))
    assert loaded.segmenter(x3).shape == (1, 1, 64, 64)


def test_decoder_channels_refused_where_the_architecture_has_none():
    from dataclasses import replace

    spec = replace(tiny_manifest().segmenter, architecture="fpn")  # tiny decoder channels
    with pytest.raises(ModelLoadError, match="the fpn architecture takes no list of decoder"):
        build_segmenter(spec)


def test_bundled_demo_model_loads_bit_identically():
    demo = Path(__file__).resolve().parents[3] / "resources" / "models" / "demo"
    loaded = load_model_dir(demo)
    for name, net in (
        ("classifier.safetensors", loaded.classifier),
        ("segmenter.safetensors", loaded.segmenter),
    ):
        want = load_file(demo / name)
        state = net.state_dict()
        assert set(state) == set(want)
        assert all(torch.equal(state[k], want[k].to(state[k].dtype)) for k in want)
