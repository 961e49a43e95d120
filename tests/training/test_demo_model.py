"""The committed demo model: what it claims to be, and better than an untrained network."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "resources" / "models" / "demo"

pytestmark = pytest.mark.skipif(
    not (DEMO / "manifest.json").is_file(), reason="demo model not built (make demo-model)"
)


def _dtypes(path: Path) -> set[str]:
    with path.open("rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
    return {v["dtype"] for k, v in header.items() if k != "__metadata__"}


def test_demo_manifest_card_and_size():
    from pneumoviewer.core.inference.manifest import read_manifest

    m = read_manifest(DEMO)
    assert m.demo is True
    assert m.classifier.head == "svm" and m.classifier.platt_a is not None
    assert m.segmenter.encoder == "resnet34" and m.segmenter.input_size == 256
    total = sum(p.stat().st_size for p in DEMO.iterdir())
    assert total <= 70 * 1024 * 1024
    for name in m.weight_files():
        assert "F32" not in _dtypes(DEMO / name)  # stored as float16
    card = (DEMO / "MODEL_CARD.md").read_text()
    text = " ".join(card.split())
    assert "the 10 sample images bundled" in text
    assert "**What it is not:** a diagnostic model" in text


def test_demo_segmenter_beats_an_untrained_one(samples_dir):
    from model_training.demo import segmenter_dice_on_samples

    d = segmenter_dice_on_samples(DEMO, samples_dir)
    print(f"demo Dice on the positive samples: {d}")
    assert d["trained"] > d["untrained"] + 0.2, d
