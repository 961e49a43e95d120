"""One truth: the viewer's Summary and ``pneumoviewer predict``'s metrics.json agree.

Same folder (the bundled samples), model (the bundled demo) and parameters. The viewer side
goes through the viewer's own code path without widgets: the inference worker's map kept at
the model's size as uint8 (``core.probability_map.quantise_probability``), the result store's
full-resolution resampling (``ui.results.ResultStore.float_map``), the one decision rule
(``core.decision.decide``), and the Summary's ``ui.analysis.summary_panel_numbers``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import pneumoviewer
from pneumoviewer.cli import main
from pneumoviewer.core.metrics import SUMMARY_KEYS

pytestmark = pytest.mark.filterwarnings("ignore:End of file reached:UserWarning")



@pytest.fixture(scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def viewer_store(one_thread):
    """The samples analysed as the viewer does: the worker's uint8 map at the model's size."""
    from pneumoviewer.core.dicom_io import load_xray
    from pneumoviewer.core.inference.engine import InferenceEngine
    from pneumoviewer.core.studies import StudyEntry, scan_folder
    from pneumoviewer.ui.cache import AnalysisResult, quantise_probability
    from pneumoviewer.ui.results import ResultStore

    if not (pneumoviewer.DEMO_MODEL_DIR / "manifest.json").is_file():
        pytest.skip("the bundled demo model is missing")
    engine = InferenceEngine(pneumoviewer.DEMO_MODEL_DIR, device="cpu")
    store = ResultStore()
    shapes = {}
    for entry in scan_folder(pneumoviewer.SAMPLES_DIR):
        if not isinstance(entry, StudyEntry):
            continue
        pixels = load_xray(entry.path).pixels
        pred = engine.predict(pixels, image_id=entry.image_id)
        small = pred.map_at_model_size
        store.add(
            AnalysisResult(
                entry.image_id,
                pred.class_probability,
                quantise_probability(pred.probability_map if small is None else small),
                pred.device,
                pred.seconds,
                image_shape=tuple(pixels.shape),
                score=pred.class_probability,
            )
        )
        shapes[entry.image_id] = pixels.shape
    return engine, store, shapes


def _viewer_summary(viewer_store, params_override: dict) -> tuple[dict, dict]:
    """The Summary panel's dict through the viewer's (widget-free) code path."""
    import dataclasses

    from pneumoviewer.core.decision import decide, decision_threshold_of
    from pneumoviewer.core.ground_truth import find_ground_truth_csv, read_rle_csv
    from pneumoviewer.core.metrics import dice
    from pneumoviewer.ui.analysis import summary_panel_numbers

    engine, store, shapes = viewer_store
    gt = read_rle_csv(find_ground_truth_csv(pneumoviewer.SAMPLES_DIR))
    params = dataclasses.replace(engine.postprocess_params(), **params_override)
    threshold = decision_threshold_of(engine.manifest)
    records, states = [], {}
    for image_id, shape in shapes.items():
        result = store.scalars[image_id]
        d = decide(
            class_probability=result.class_probability,
            prob_map=store.float_map(image_id),
            params=params,
            decision_threshold=threshold,
        )
        truth = gt.mask(image_id, shape) if image_id in gt else None
        records.append(
            {
                "truth": gt.is_positive(image_id),
                "score": result.class_probability,
                "positive": d.positive,
                "dice": None if truth is None else dice(d.mask, truth),
            }
        )
        states[image_id] = str(d.state)
    return summary_panel_numbers(records), states


@pytest.mark.parametrize(
    ("flags", "override"),
    [
        ([], {}),  # the demo manifest's post-processing, the gate at the decision threshold
        (
            ["--scheme", "triplet", "--top-threshold", "0.6", "--min-area", "500", "--no-gate"],
            {"scheme": "triplet", "top_threshold": 0.6, "min_area": 500, "gate_enabled": False},
        ),
    ],
)
def test_viewer_summary_equals_predict_metrics(viewer_store, tmp_path, flags, override):
    folder, model = pneumoviewer.SAMPLES_DIR, pneumoviewer.DEMO_MODEL_DIR
    out = tmp_path / "out"
    argv = ["predict", str(folder), "--out", str(out), "--model", str(model)]
    assert main([*argv, "--no-png", "--no-progress", "--threads", "1", *flags]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    viewer, states = _viewer_summary(viewer_store, override)
    assert viewer is not None and metrics["n_evaluated"] == viewer["n_evaluated"] == 10
    # Every number identical, Dice included: both threshold the one map representation
    # (core.probability_map: uint8 at the model's size, upsampled).
    for key in SUMMARY_KEYS:
        assert viewer[key] == metrics[key], key
    import csv

    with (out / "predictions.csv").open(encoding="utf-8") as f:
        rows = {r["ImageId"]: r for r in csv.DictReader(f)}
    assert {i: r["state"] for i, r in rows.items()} == states
    # The disagreement is gone: the label is the call, whatever the mask.
    for r in rows.values():
        assert r["predicted_label"] == str(int(float(r["probability"]) >= 0.5))
    if not flags:
        assert np.isclose(metrics["accuracy"], (metrics["tp"] + metrics["tn"]) / 10)
