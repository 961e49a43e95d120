from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from pneumoviewer.core.export import (
    atomic_write_bytes,
    export_annotated_png,
    layout_for,
    orientation_labels,
    render_annotated_png,
)
from pneumoviewer.core.overlay import OverlayStyle, compose_rgba, legend, style_paints

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


def test_render_puts_text_and_legend_in_a_band_outside_the_image():
    base, gt, pred = scene()
    style = OverlayStyle()
    img = render_annotated_png(
        base, ground_truth=gt, prediction=pred, style=style, title="case 1", lines=["Dice 0.42"]
    )
    f = layout_for((H, W)).top
    assert img.dtype == np.uint8 and img.shape[1] == W + 2 * f and img.shape[0] > H + 2 * f
    plain = compose_rgba(base, ground_truth=gt, prediction=pred, style=style)[..., :3]
    # The image is untouched: nothing over the anatomy (the old box hid the right apex).
    np.testing.assert_array_equal(img[f : f + H, f : f + W], plain)
    band = img[H + 2 * f :].reshape(-1, 3)
    colors = {tuple(c) for c in band.tolist()}
    assert style.ground_truth.color in colors and style.prediction.color in colors
    paints = style_paints((H, W), ground_truth=gt, prediction=pred, style=style)
    entries = legend(paints, shape=(H, W))
    assert len(entries) == 3  # truth, prediction, and their overlap (drawn at [220, 220])
    for _, color in entries:  # every colour drawn has a swatch, overlap included
        assert tuple(color) in colors
    assert (255, 255, 255) in colors  # text


def test_legend_lists_the_overlap_and_only_what_is_drawn():
    base, gt, pred = scene()
    paints = style_paints((H, W), ground_truth=gt, prediction=pred, style=OverlayStyle())
    labels = [label for label, _ in legend(paints, shape=(H, W))]
    assert labels[:2] == ["Ground truth", "Prediction"] and labels[2].startswith("Overlap")
    apart = np.zeros((H, W), bool)
    apart[10:20, 10:20] = True  # no overlap with gt
    paints = style_paints((H, W), ground_truth=gt, prediction=apart, style=OverlayStyle())
    assert [label for label, _ in legend(paints, shape=(H, W))] == ["Ground truth", "Prediction"]


def test_orientation_labels_in_the_frame():
    assert orientation_labels(("L", "F")) == {"right": "L", "left": "R", "bottom": "F", "top": "H"}
    assert orientation_labels(("P", "FL")) == {
        "right": "P",
        "left": "A",
        "bottom": "FL",
        "top": "HR",
    }
    assert set(orientation_labels(None).values()) == {"?"}
    base = np.full((H, W), 80, np.uint8)
    f = layout_for((H, W)).top
    img = render_annotated_png(base, title="t", orientation=None)
    # Something white (a "?") in the middle of each side of the frame, and only there.
    for y0, y1, x0, x1 in (
        (0, f, f + W // 2 - f, f + W // 2 + f),  # top
        (f + H, 2 * f + H, f + W // 2 - f, f + W // 2 + f),  # bottom
        (f + H // 2 - f, f + H // 2 + f, 0, f),  # left
        (f + H // 2 - f, f + H // 2 + f, f + W, 2 * f + W),  # right
    ):
        assert (img[y0:y1, x0:x1] > 200).any()
    assert not (img[:f, :f] > 0).any()  # corners stay black
    with_labels = render_annotated_png(base, title="t", orientation=("L", "F"))
    assert not np.array_equal(with_labels[: 2 * f + H], img[: 2 * f + H])


def test_every_glyph_renders_no_missing_boxes():
    from PIL import ImageFont

    from pneumoviewer.core.annotation import ascii_text

    assert ascii_text("demo model \u2014 DEMO") == "demo model - DEMO"
    assert ascii_text("area 12 cm\u00b2, p \u2265 0.5, Ume\u00e5 \u2713") == (
        "area 12 cm2, p >= 0.5, Umea ?"
    )
    font = ImageFont.load_default(size=22)
    missing = font.getmask("\u2014").getbbox()  # the font's box for a glyph it lacks
    boxes = [
        ch
        for ch in map(chr, range(33, 127))
        if font.getmask(ch).getbbox() == missing
        and bytes(font.getmask(ch)) == bytes(font.getmask("\u2014"))
    ]
    assert boxes == []


def test_render_text_scales_with_image_height():
    def band_height(h):
        base = np.full((h, h), 80, np.uint8)
        img = render_annotated_png(base, title="T", lines=["x"])
        return img.shape[0] - h - 2 * layout_for((h, h)).top

    small, large = band_height(500), band_height(1500)  # fonts 11 px and 33 px
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
        f = layout_for((H, W)).top
        assert im.format == "PNG" and im.size[0] == W + 2 * f and im.mode == "RGB"
        text = dict(im.text)
        pixels = np.asarray(im)[f : f + H, f : f + W]
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


def test_render_accepts_multiline_and_long_text():
    base, gt, _ = scene()
    one = render_annotated_png(base, ground_truth=gt, title="a\nb", lines=["c"])
    two = render_annotated_png(base, ground_truth=gt, title="a", lines=["c"])
    assert one.shape[0] > two.shape[0]  # the extra line makes the band taller
    long = render_annotated_png(base, ground_truth=gt, title="a", lines=["word " * 80])
    assert long.shape[0] > two.shape[0] and long.shape[1] == two.shape[1]  # wrapped
