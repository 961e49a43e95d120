"""Evaluate an exported model directory on a split, exactly as the viewer would run it.

Each test image goes through :class:`pneumoviewer.core.inference.engine.InferenceEngine`
(full-resolution probability map) and :func:`pneumoviewer.core.postprocessing.postprocess`
with the manifest's defaults; Dice is computed against the full-resolution ground truth.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model_training.runs import DataConfig, prepare_data


def evaluate_model_dir(
    model_dir: str | Path,
    data: DataConfig,
    *,
    split: str = "test",
    device: str = "auto",
    tta: bool = False,
    progress: bool = True,
) -> dict:
    """Metrics of a model directory on one split.

    Returns
    -------
    dict
        ``images``, ``positives``; with a segmenter ``dice_positive`` (mean Dice over
        images with pneumothorax: the report's figure) and ``kaggle_mean_dice`` (empty/empty
        = 1); with a classifier ``accuracy``, ``auc``, ``sensitivity``, ``specificity`` and
        the confusion counts.
    """
    from tqdm import tqdm

    from pneumoviewer.core.inference.engine import InferenceEngine
    from pneumoviewer.core.metrics import classification_metrics, dice
    from pneumoviewer.core.postprocessing import postprocess

    prepared = prepare_data(data)
    records = prepared.records(split) if split != "all" else prepared.corpus.records
    if not records:
        raise ValueError(f"{data.root}: the {split!r} split is empty")
    engine = InferenceEngine(model_dir, device=device, tta=tta)
    params = engine.postprocess_params()
    labels, probs, dices, positive = [], [], [], []
    for rec in tqdm(records, desc=f"evaluate {split}", disable=not progress, leave=False):
        pixels = prepared.corpus.image(rec)
        pred = engine.predict(pixels, image_id=rec.image_id)
        labels.append(rec.positive)
        if pred.class_probability is not None:
            probs.append(pred.class_probability)
        if pred.probability_map is not None:
            truth = prepared.corpus.mask(rec, pixels.shape)
            mask = postprocess(
                pred.probability_map, params, class_probability=pred.class_probability
            )
            dices.append(dice(mask, truth))
            positive.append(bool(truth.any()))
    out: dict = {
        "model": str(model_dir),
        "split": split,
        "images": len(records),
        "positives": int(sum(labels)),
        "device": engine.device,
        "tta": tta,
    }
    if dices:
        d, pos = np.array(dices), np.array(positive)
        out["dice_positive"] = float(d[pos].mean()) if pos.any() else float("nan")
        out["kaggle_mean_dice"] = float(d.mean())
        out["postprocess"] = {
            "mask_threshold": params.mask_threshold,
            "min_area": params.min_area,
            "gate_enabled": params.gate_enabled,
            "gate_threshold": params.gate_threshold,
        }
    if probs:
        threshold = engine.manifest.classifier.decision_threshold
        out.update(classification_metrics(np.array(labels), np.array(probs), threshold).to_dict())
    return out


def _fmt(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4f}"
    return str(v)


def write_table(rows: Sequence[dict], base: str | Path, *, columns: Sequence[str]) -> list[Path]:
    """Write rows as ``base.csv``, ``base.md`` (Markdown table) and ``base.json``."""
    base = Path(base)
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = [base.with_suffix(".csv"), base.with_suffix(".md"), base.with_suffix(".json")]
    with paths[0].open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            w.writerow([r.get(c, "") for c in columns])
    paths[1].write_text(markdown_table(rows, columns), encoding="utf-8")
    paths[2].write_text(json.dumps(list(rows), indent=2, default=str) + "\n", encoding="utf-8")
    return paths


def markdown_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """Return a Markdown table of ``columns`` (floats with 4 decimals)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |")
    return "\n".join(lines) + "\n"
