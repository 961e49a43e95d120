"""The one annotation builder: text lines, legend, provenance chunks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np

from pneumoviewer.core.annotation import PROVENANCE_KEYS, ascii_text, build_annotation
from pneumoviewer.core.decision import NOT_ANALYSED, decision_from_mask
from pneumoviewer.core.overlay import OverlayStyle, style_paints
from pneumoviewer.core.postprocessing import PostprocessParams

WHEN = datetime(2026, 11, 30, 4, 5, 6, tzinfo=UTC)
MANIFEST = SimpleNamespace(
    name="demo model \u2014 DEMO", demo=True, sha256={"segmenter.safetensors": "ab" * 32}
)


def test_positive_not_localised_with_model_and_postprocessing():
    mask = np.zeros((8, 8), bool)
    d = decision_from_mask(class_probability=0.865, mask=mask, decision_threshold=0.5)
    a = build_annotation(
        image_id="1.2.3",
        decision=d,
        decision_threshold=0.5,
        params=PostprocessParams(top_threshold=0.75, min_area=2000, bottom_threshold=0.4),
        manifest=MANIFEST,
        manifest_sha256="cd" * 32,
        dice=0.0,
        source="/data/1.2.3.dcm",
        contrast="CLAHE clip 2, tiles 8x8",
        pixel_spacing=(0.14, 0.14),
        when=WHEN,
    )
    assert a.title == "1.2.3"
    assert a.lines[0] == "AI: positive, not localised (p = 0.865 >= threshold 0.50)"
    assert a.lines[1] == (
        "Mask: 0 px; triplet: top 0.75, min area 2000 px, bottom 0.40; gate at 0.50"
    )
    assert "Dice vs ground truth: 0.000" in a.lines
    assert "Model: demo model - DEMO - DEMO, not for clinical use" in a.lines
    assert all(line.isascii() for line in a.lines)
    p = a.provenance
    assert list(p) == [k for k in PROVENANCE_KEYS if k in p]  # one key order everywhere
    assert p["Decision"] == "positive, not localised" and p["Demo model"] == "yes"
    assert p["Creation Time"] == "2026-11-30T04:05:06Z" and p["Source"] == "/data/1.2.3.dcm"
    assert json.loads(p["Model weights sha256"]) == MANIFEST.sha256
    assert p["Model manifest sha256"] == "cd" * 32 and p["Model version"] == "not stated"
    post = json.loads(p["Post-processing"])
    assert (post["scheme"], post["top_threshold"], post["min_area"]) == ("triplet", 0.75, 2000)
    assert post["gate_threshold"] == post["decision_threshold"] == 0.5
    assert p["Probability"] == "0.865000" and p["Mask pixels"] == "0" and p["Dice"] == "0.000000"
    assert "Reader" not in p


def test_not_analysed_says_so_and_has_no_numbers():
    a = build_annotation(image_id="x", decision=NOT_ANALYSED, when=WHEN, reader="Dr A")
    assert a.lines[0] == "AI: not analysed"
    assert a.provenance["Decision"] == "not analysed" and a.provenance["Reader"] == "Dr A"
    assert not {"Probability", "Mask pixels", "Dice", "Model"} & set(a.provenance)
    assert a.lines[-1].endswith("reader Dr A")


def test_area_in_cm2_and_legend_from_the_paints():
    mask = np.zeros((100, 100), bool)
    mask[:50, :20] = True  # 1000 px
    truth = np.zeros((100, 100), bool)
    truth[40:60, 10:30] = True
    d = decision_from_mask(class_probability=None, mask=mask, decision_threshold=0.5)
    paints = style_paints((100, 100), ground_truth=truth, prediction=mask, style=OverlayStyle())
    a = build_annotation(
        image_id="y",
        decision=d,
        params=PostprocessParams(scheme="components", bottom_threshold=0.3),
        pixel_spacing=(0.2, 0.2),
        paints=paints,
        shape=(100, 100),
        orientation=("L", "F"),
        when=WHEN,
    )
    assert a.lines[0] == "AI: positive (no classifier: positive when the mask is not empty)"
    assert a.lines[1].startswith("Mask: 1,000 px (0.4 cm2); components: threshold 0.30")
    assert [label for label, _ in a.legend][:2] == ["Ground truth", "Prediction"]
    assert a.legend[2][0].startswith("Overlap")  # the overlap colour is named too
    assert a.orientation == ("L", "F")


def test_ascii_text():
    assert ascii_text("demo model \u2014 DEMO") == "demo model - DEMO"
    assert ascii_text("12 cm\u00b2 \u2265 1 \u00b7 \u00e9") == "12 cm2 >= 1 - e"
    assert ascii_text("\u4e2d") == "?"
