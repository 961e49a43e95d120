"""A reading's export text through core.annotation: decision, parameters, reader line."""

from __future__ import annotations

import numpy as np

from pneumoviewer.core import rle
from pneumoviewer.core.decision import DecisionState
from pneumoviewer.core.postprocessing import PostprocessParams
from pneumoviewer.core.reading_annotation import (
    READER_COLOR,
    decision_of,
    params_of,
    reading_annotation,
    reading_paints,
)
from pneumoviewer.core.readings import AIContext, Reading, Verdict, ai_context_from_manifest


def box(r0, r1, c0, c1, shape=(40, 50)):
    m = np.zeros(shape, bool)
    m[r0:r1, c0:c1] = True
    return m


class Manifest:
    name = "demo"
    demo = True
    sha256 = {"segmenter.safetensors": "aa" * 32}


def test_context_from_real_params_round_trips_to_the_same_params():
    params = PostprocessParams(scheme="components", bottom_threshold=0.3, min_area=25)
    ai = ai_context_from_manifest(
        Manifest(),
        probability=0.7,
        mask=box(5, 15, 5, 20),
        postprocess=params,
        decision_threshold=0.6,
        decision_state=DecisionState.POSITIVE,
    )
    assert ai.postprocess == {
        "scheme": "components",
        "bottom_threshold": 0.3,
        "min_area": 25,
        "gate_enabled": True,
        "gate_threshold": 0.6,  # resolved: the decision threshold
    }
    assert ai.model_demo is True and ai.decision_state == "positive"
    back = params_of(AIContext.from_dict(ai.to_dict()))
    assert back == PostprocessParams(
        scheme="components", bottom_threshold=0.3, min_area=25, gate_threshold=0.6
    )
    d = decision_of(ai)
    assert d.state is DecisionState.POSITIVE and d.positive and d.area == 150
    assert d.probability == 0.7


def test_partial_parameters_are_not_completed_with_defaults():
    ai = AIContext(probability=0.2, postprocess={"bottom_threshold": 0.4}, decision_threshold=0.5)
    assert params_of(ai) is None
    d = decision_of(ai)
    assert d.state is DecisionState.NEGATIVE and d.positive is False and d.mask is None
    ann = reading_annotation("img", ai, None)
    assert ann.provenance["Post-processing (as recorded)"] == "bottom_threshold=0.4"
    assert decision_of(None).state is DecisionState.NOT_ANALYSED
    assert decision_of(AIContext(decision_state="from the future")).state is (
        DecisionState.NOT_ANALYSED
    )


def test_reader_line_paints_and_provenance():
    ai = AIContext.build(
        probability=0.9,
        decision_state="positive",
        mask=box(5, 15, 5, 20),
        model_name="demo",
        model_version="1",
        model_demo=True,
        decision_threshold=0.5,
    )
    reader = box(10, 30, 10, 30)
    reading = Reading(
        image_id="img",
        verdict=Verdict.DISAGREE,
        note="too small",
        reader="jo",
        time="2026-11-30T05:00:00.000+00:00",
        mask_rle=rle.encode(reader),
        mask_shape=reader.shape,
    )
    paints = reading_paints(ai, reading)
    assert [p.label for p in paints] == ["AI", "Reader"]
    assert paints[1].color == READER_COLOR and paints[1].outline
    ann = reading_annotation("img", ai, reading, paints=paints, shape=reader.shape)
    assert ann.lines[0].startswith("AI: positive (p = 0.900")
    assert ann.lines[1] == "Reader jo: disagree (2026-11-30T05:00:00.000+00:00) - too small"
    assert any("DEMO, not for clinical use" in line for line in ann.lines)
    assert [label for label, _ in ann.legend][:2] == ["AI", "Reader"]
    assert ann.provenance["Reader"] == "jo" and ann.provenance["Reader verdict"] == "disagree"
    assert ann.provenance["Reader note"] == "too small"
    assert ann.provenance["Demo model"] == "yes"
    assert reading_paints(None, None) == []
