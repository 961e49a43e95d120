"""The one image-level decision rule and its disagreement states."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from pneumoviewer.core.decision import (
    NOT_ANALYSED,
    DecisionState,
    decide,
    decision_from_mask,
    decision_threshold_of,
    default_params,
    state_of,
)
from pneumoviewer.core.postprocessing import PostprocessParams


def blob_map() -> np.ndarray:
    prob = np.zeros((32, 32), np.float32)
    prob[4:14, 4:14] = 0.9  # 100 px
    return prob


@pytest.mark.parametrize(
    ("p", "gate_enabled", "state", "positive", "area"),
    [
        (0.8, True, DecisionState.POSITIVE, True, 100),
        (0.2, True, DecisionState.NEGATIVE, False, 0),  # the gate empties a negative's mask
        (0.2, False, DecisionState.LOCALISED_BELOW_THRESHOLD, False, 100),  # gate off only
        (0.5, True, DecisionState.POSITIVE, True, 100),  # p == threshold is positive
    ],
)
def test_with_a_classifier_the_call_is_p_above_the_decision_threshold(
    p, gate_enabled, state, positive, area
):
    params = PostprocessParams(gate_enabled=gate_enabled)
    d = decide(class_probability=p, prob_map=blob_map(), params=params, decision_threshold=0.5)
    assert (d.state, d.positive, d.area, d.probability) == (state, positive, area, p)
    assert d.mask.dtype == np.bool_ and int(d.mask.sum()) == area
    assert d.label == int(positive)


def test_positive_not_localised_is_a_positive_call_with_an_empty_mask():
    d = decide(
        class_probability=0.865,
        prob_map=np.full((32, 32), 0.1, np.float32),
        params=PostprocessParams(),
        decision_threshold=0.5,
    )
    assert d.state is DecisionState.POSITIVE_NOT_LOCALISED
    assert d.positive is True and d.area == 0
    assert str(d.state) == "positive, not localised"


def test_default_gate_is_the_decision_threshold_so_below_threshold_is_unreachable():
    rng = np.random.default_rng(0)
    for p in rng.random(50):
        d = decide(
            class_probability=float(p),
            prob_map=blob_map(),
            params=PostprocessParams(),
            decision_threshold=0.37,
        )
        assert d.state is not DecisionState.LOCALISED_BELOW_THRESHOLD
        assert d.positive == (p >= 0.37)


def test_without_a_classifier_the_call_is_mask_not_empty():
    d = decide(class_probability=None, prob_map=blob_map(), params=PostprocessParams())
    assert (d.state, d.positive, d.area, d.probability) == (DecisionState.POSITIVE, True, 100, None)
    d = decide(
        class_probability=None,
        prob_map=blob_map(),
        params=PostprocessParams(bottom_threshold=0.95),
    )
    assert (d.state, d.positive, d.area) == (DecisionState.NEGATIVE, False, 0)


def test_classifier_only_and_not_analysed():
    d = decide(class_probability=0.7, prob_map=None, params=PostprocessParams())
    assert (d.state, d.positive, d.mask, d.area) == (DecisionState.POSITIVE, True, None, None)
    assert decide(class_probability=None, prob_map=None, params=PostprocessParams()) is NOT_ANALYSED
    assert NOT_ANALYSED.positive is None and NOT_ANALYSED.label is None


def test_decision_from_area_only():
    d = decision_from_mask(class_probability=0.9, mask=None, area=0, decision_threshold=0.5)
    assert d.state is DecisionState.POSITIVE_NOT_LOCALISED
    d = decision_from_mask(class_probability=None, mask=None, area=12, decision_threshold=0.5)
    assert d.state is DecisionState.POSITIVE and d.positive


def test_state_of_table():
    assert state_of(positive=None, area=5, has_classifier=True) is DecisionState.NOT_ANALYSED
    assert state_of(positive=True, area=None, has_classifier=True) is DecisionState.POSITIVE
    assert state_of(positive=False, area=None, has_classifier=True) is DecisionState.NEGATIVE
    assert state_of(positive=True, area=0, has_classifier=True) is (
        DecisionState.POSITIVE_NOT_LOCALISED
    )
    assert state_of(positive=False, area=3, has_classifier=True) is (
        DecisionState.LOCALISED_BELOW_THRESHOLD
    )


def _manifest(seg: dict | None, decision: float | None = 0.4):
    cls = None if decision is None else SimpleNamespace(decision_threshold=decision)
    return SimpleNamespace(
        classifier=cls, segmenter=None if seg is None else SimpleNamespace(**seg)
    )


def test_default_params_from_a_manifest():
    new = _manifest(
        {
            "postprocess_scheme": "triplet",
            "mask_threshold": 0.3,
            "top_threshold": 0.8,
            "min_area": 2000,
            "gate_enabled": True,
            "gate_threshold": None,
        }
    )
    p = default_params(new)
    assert p == PostprocessParams(
        scheme="triplet",
        bottom_threshold=0.3,
        top_threshold=0.8,
        min_area=2000,
        gate_enabled=True,
        gate_threshold=0.4,  # None in the manifest: the decision threshold
    )
    assert decision_threshold_of(new) == 0.4
    # A manifest from before the triplet: the component scheme, its own gate number.
    old = _manifest({"mask_threshold": 0.3, "min_area": 0, "gate_threshold": 0.3})
    p = default_params(old)
    assert (p.scheme, p.bottom_threshold, p.min_area, p.gate_enabled, p.gate_threshold) == (
        "components",
        0.3,
        0,
        True,
        0.3,
    )
    # No classifier: no gate; no segmenter: defaults.
    seg_only = _manifest({"mask_threshold": 0.5, "min_area": 0, "gate_threshold": None}, None)
    assert not default_params(seg_only).gate_enabled
    assert decision_threshold_of(seg_only) == 0.5
    assert default_params(_manifest(None)).scheme == "triplet"


def test_demo_manifest_and_an_old_manifest_load_with_the_scheme(tmp_path):
    import json

    from pneumoviewer import DEMO_MODEL_DIR
    from pneumoviewer.core.inference.manifest import read_manifest

    demo = read_manifest(DEMO_MODEL_DIR)
    p = default_params(demo)
    assert (p.scheme, p.bottom_threshold, p.min_area) == ("components", 0.3, 0)
    assert p.gate_enabled and p.gate_threshold == demo.classifier.decision_threshold == 0.5
    data = json.loads((DEMO_MODEL_DIR / "manifest.json").read_text())
    for key in ("postprocess_scheme", "gate_enabled", "top_threshold"):
        data["segmenter"].pop(key, None)
    data["segmenter"]["gate_threshold"] = 0.3  # as the demo was written before the triplet
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    old = read_manifest(tmp_path)
    assert old.segmenter.postprocess_scheme == "components"
    p = default_params(old)
    assert (p.scheme, p.bottom_threshold, p.gate_enabled, p.gate_threshold) == (
        "components",
        0.3,
        True,
        0.3,
    )


def test_a_new_manifest_records_the_triplet(tmp_path):
    import dataclasses

    from pneumoviewer.core.inference.manifest import ModelManifest, SegmenterSpec, read_manifest

    seg = SegmenterSpec(input_size=64, mask_threshold=0.4, top_threshold=0.8, min_area=2000)
    m = ModelManifest(name="t", clahe=None, segmenter=seg)
    text = m.to_json()
    assert '"postprocess_scheme": "triplet"' in text and '"top_threshold": 0.8' in text
    (tmp_path / "manifest.json").write_text(text)
    back = read_manifest(tmp_path)
    assert back.segmenter == seg
    comp = dataclasses.replace(seg, postprocess_scheme="components")
    (tmp_path / "manifest.json").write_text(dataclasses.replace(m, segmenter=comp).to_json())
    assert default_params(read_manifest(tmp_path)).scheme == "components"
