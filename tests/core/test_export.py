from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from pneumoviewer.core.export import (
    atomic_write_bytes,
    export_annotated_png,
    render_annotated_png,
)
from pneumoviewer.core.overlay import OverlayStyle, compose_rgba

H, W = 300, 360


def scene():
    base = np.full((H, W), 80, np.uint8)
    gt = np.zeros((H, W), bool)
    gt[150:250, 150:250] = True
    pred = np.zeros((H, W), bool)
    pred[200:280, 200:330] = True
    return base, gt, pred


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_bytes_writes_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "a.csv"
    assert atomic_write_bytes(target, b"one") == target
    assert target.read_bytes() == b"one"
    with pytest.raises(FileExistsError, match="a.csv"):
        atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"one"
    atomic_write_bytes(target, b"three", overwrite=True)
    assert target.read_bytes() == b"three"
    assert leftovers(tmp_path) == []


def test_atomic_write_bytes_removes_temp_file_on_failure(tmp_path, monkeypatch):
    def boom(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write_bytes(tmp_path / "b.json", b"{}")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_bytes_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "nope" / "c.png", b"x")
    assert list(tmp_path.iterdir()) == []


def test_render_draws_overlay_and_legend():
    base, gt, pred = scene()
    style = OverlayStyle()
    img = render_annotated_png(
        base, ground_truth=gt, prediction=pred, style=style, title="case 1", lines=["Dice 0.42"]
    )
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    plain = compose_rgba(base, ground_truth=gt, prediction=pred, style=style)[..., :3]
    changed = np.any(img != plain, axis=2)
    ys, xs = np.nonzero(changed)
    # Annotations only in a top-left box, away from the masks.
    assert ys.min() == 0 and xs.min() == 0 and ys.max() < 150 and xs.max() < 200
    box = img[: ys.max() + 1, : xs.max() + 1].reshape(-1, 3)
    colors = {tuple(c) for c in box.tolist()}
    assert style.ground_truth.color in colors  # legend swatches, fully opaque
    assert style.prediction.color in colors
    assert (255, 255, 255) in colors  # text
    # The box darkens the gray background (80 -> about 80 * 95 / 255 = 30).
    assert img[ys.max(), xs.max()].tolist() != [80, 80, 80]
    # Masks are drawn exactly as compose_rgba draws them.
    np.testing.assert_array_equal(img[150:, 200:], plain[150:, 200:])


def test_render_text_scales_with_image_height():
    def box_height(h):
        base = np.full((h, h), 80, np.uint8)
        img = render_annotated_png(
            base, ground_truth=None, prediction=None, style=OverlayStyle(), title="T", lines=["x"]
        )
        return int(np.nonzero(np.any(img != 80, axis=2))[0].max()) + 1

    small, large = box_height(500), box_height(1500)  # fonts 11 px and 33 px
    assert 2.4 < large / small < 3.6


def test_export_png_round_trip(tmp_path):
    base, gt, pred = scene()
    provenance = {
        "model": "demo unet-resnet34",
        "mask_threshold": "0.5",
        "source": "1.2.276.0.7230010.3.1.4.8323329.1000.dcm",
        "note": "Ünïcødé ✓",  # not Latin-1: goes into an iTXt chunk
    }
    out = export_annotated_png(
        tmp_path / "case.png",
        base,
        ground_truth=gt,
        prediction=pred,
        title="case",
        lines=["score 0.91"],
        provenance=provenance,
    )
    assert out == tmp_path / "case.png" and out.is_file()
    with Image.open(out) as im:
        im.load()
        assert im.format == "PNG" and im.size == (W, H) and im.mode == "RGB"
        text = dict(im.text)
        pixels = np.asarray(im)
    for k, v in provenance.items():
        assert text[k] == v
    assert text["Software"].startswith("pneumoviewer ")
    plain = compose_rgba(base, ground_truth=gt, prediction=pred, style=OverlayStyle())
    assert pixels[160, 160].tolist() == plain[160, 160, :3].tolist()  # truth only
    assert pixels[270, 320].tolist() == plain[270, 320, :3].tolist()  # prediction only
    assert pixels[220, 220].tolist() == plain[220, 220, :3].tolist()  # both
    assert pixels[290, 10].tolist() == [80, 80, 80]  # outside everything
    assert len({tuple(pixels[160, 160]), tuple(pixels[270, 320]), tuple(pixels[220, 220])}) == 3
    assert leftovers(tmp_path) == []


def test_export_refuses_to_overwrite(tmp_path):
    base, gt, pred = scene()
    path = tmp_path / "x.png"
    export_annotated_png(path, base, ground_truth=gt)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="x.png"):
        export_annotated_png(path, base, prediction=pred)
    assert path.read_bytes() == before
    export_annotated_png(path, base, prediction=pred, overwrite=True)
    assert path.read_bytes() != before


def test_export_failure_leaves_nothing(tmp_path, monkeypatch):
    base, gt, _ = scene()

    def boom(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="rename failed"):
        export_annotated_png(tmp_path / "y.png", base, ground_truth=gt)
    assert list(tmp_path.iterdir()) == []


def test_export_rejects_bad_provenance_key(tmp_path):
    base, _, _ = scene()
    with pytest.raises(ValueError, match="keyword"):
        export_annotated_png(tmp_path / "z.png", base, provenance={"": "x"})
    assert not (tmp_path / "z.png").exists()


def test_render_accepts_multiline_text():
    base, gt, _ = scene()
    one = render_annotated_png(
        base, ground_truth=gt, prediction=None, style=OverlayStyle(), title="a\nb", lines=["c"]
    )
    rows = np.nonzero(np.any(one != compose_rgba(base, ground_truth=gt)[..., :3], axis=2))[0]
    two = render_annotated_png(
        base, ground_truth=gt, prediction=None, style=OverlayStyle(), title="a", lines=["c"]
    )
    rows2 = np.nonzero(np.any(two != compose_rgba(base, ground_truth=gt)[..., :3], axis=2))[0]
    assert rows.max() > rows2.max()  # the extra line makes the box taller
