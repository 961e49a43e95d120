"""Reader labels and the AI context built from a manifest."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pneumoviewer.core import rle
from pneumoviewer.core.reading_export import ai_context_from_manifest, ai_positive, label_for
from pneumoviewer.core.readings import AIContext, Reading, Verdict, provenance

H, W = 20, 30


def box():
    m = np.zeros((H, W), bool)
    m[2:8, 3:9] = True
    return m


def reading(verdict=None, *, mask=None, ai=None):
    return Reading(
        image_id="img",
        verdict=verdict,
        note="",
        reader="r",
        time="t",
        ai=ai,
        mask_rle=None if mask is None else rle.encode(mask),
        mask_shape=None if mask is None else mask.shape,
    )


POS = AIContext.build(probability=0.9, decision_state="positive", mask=box())
POS_NO_MASK = AIContext(probability=0.9, decision_state="positive, not localised")
NEG = AIContext.build(probability=0.1, decision_state="negative", mask=np.zeros((H, W), bool))


@pytest.mark.parametrize(
    ("verdict", "mask", "ai", "label", "reason"),
    [
        (Verdict.DISAGREE, "reader", POS, "reader", "reader mask"),
        (None, "empty", None, "-1", "reader mask"),
        (Verdict.AGREE, None, POS, "ai", "agrees with a positive AI"),
        (Verdict.AGREE, None, NEG, "-1", "agrees with a negative AI"),
        (Verdict.AGREE, None, POS_NO_MASK, None, "left out: agrees with a positive AI that"),
        (Verdict.DISAGREE, None, POS, "-1", "disagrees with a positive AI"),
        (Verdict.DISAGREE, None, NEG, None, "left out: disagrees with a negative AI"),
        (Verdict.UNSURE, None, POS, None, "left out: unsure"),
        (None, None, POS, None, "left out: not read"),
        (Verdict.AGREE, None, None, None, "left out: no AI result"),
    ],
)
def test_label_rules(verdict, mask, ai, label, reason):
    reader_mask = np.zeros((H, W), bool)
    reader_mask[10:15, 20:25] = True
    masks = {"reader": reader_mask, "empty": np.zeros((H, W), bool), None: None}
    got, why = label_for(reading(verdict, mask=masks[mask], ai=ai))
    expected = {"reader": rle.encode(reader_mask), "ai": rle.encode(box())}.get(label, label)
    assert got == expected
    assert why.startswith(reason)


def test_ai_positive_fallbacks():
    assert ai_positive(AIContext(probability=0.7, decision_threshold=0.5)) is True
    assert ai_positive(AIContext(probability=0.3, decision_threshold=0.5)) is False
    assert ai_positive(AIContext.build(mask=box())) is True
    assert ai_positive(AIContext()) is None
    assert ai_positive(AIContext(decision_state="localised, below threshold")) is False


@dataclasses.dataclass(frozen=True)
class FakeParams:
    bottom_threshold: float = 0.4
    min_area: int = 50
    gate_enabled: bool = True


@dataclasses.dataclass
class FakeManifest:
    name: str = "tiny"
    sha256: dict = dataclasses.field(default_factory=lambda: {"segmenter.safetensors": "cd" * 32})


def test_ai_context_from_manifest_names_model_weights_and_numbers():
    ai = ai_context_from_manifest(
        FakeManifest(),
        probability=np.float32(0.75),
        mask=box(),
        postprocess=FakeParams(),
        decision_threshold=0.5,
        decision_state="positive",
    )
    assert ai.model_name == "tiny" and ai.probability == pytest.approx(0.75)
    assert ai.model_version.startswith("sha256:") and len(ai.model_version) == 19
    assert ai.postprocess == {"bottom_threshold": 0.4, "min_area": 50, "gate_enabled": True}
    np.testing.assert_array_equal(ai.mask(), box())
    prov = provenance(ai, reading(Verdict.AGREE, ai=ai), time="2026-01-01T00:00:00+00:00")
    assert prov["model"] == "tiny"
    assert prov["weights_sha256"] == "segmenter.safetensors=" + "cd" * 32
    assert prov["postprocessing"] == "bottom_threshold=0.4, gate_enabled=True, min_area=50"
    assert prov["decision_threshold"] == "0.5"
    assert prov["reader"] == "r" and prov["created"] == "2026-01-01T00:00:00+00:00"
    assert prov["software"].startswith("pneumoviewer ")
