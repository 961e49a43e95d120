"""Evaluate an exported model directory on a split, exactly as the viewer would run it.

Each image goes through :class:`pneumoviewer.core.inference.engine.InferenceEngine`
(full-resolution probability map), :func:`pneumoviewer.core.decision.decide` with the
manifest's post-processing and decision threshold (the one decision rule), and the folder
summary of :func:`pneumoviewer.core.metrics.summarise` (the numbers and key names of the
viewer's Summary and ``pneumoviewer predict``'s ``metrics.json``).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path

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
        ``model``, ``split``, ``device``, ``tta``, ``images`` and ``positives`` (the
        split's size and positives), ``postprocess`` and ``decision_threshold`` (what ran),
        then the folder summary's keys (:data:`pneumoviewer.core.metrics.SUMMARY_KEYS`:
        accuracy, sensitivity, specificity, auc, tp/fp/tn/fn, dice_positive,
        kaggle_mean_dice, counts). Undefined values are nan.
    """
    from tqdm import tqdm

    from pneumoviewer.core.decision import decide, decision_threshold_of
    from pneumoviewer.core.inference.engine import InferenceEngine
    from pneumoviewer.core.metrics import ImageOutcome, SummaryAccumulator, dice

    prepared = prepare_data(data)
    records = prepared.records(split) if split != "all" else prepared.corpus.records
    if not records:
        raise ValueError(f"{data.root}: the {split!r} split is empty")
    engine = InferenceEngine(model_dir, device=device, tta=tta)
    params = engine.postprocess_params()
    threshold = decision_threshold_of(engine.manifest)
    acc = SummaryAccumulator()
    for rec in tqdm(records, desc=f"evaluate {split}", disable=not progress, leave=False):
        pixels = prepared.corpus.image(rec)
        pred = engine.predict(pixels, image_id=rec.image_id)
        d = decide(
            class_probability=pred.class_probability,
            prob_map=pred.probability_map,
            params=params,
            decision_threshold=threshold,
        )
        score = None
        if d.mask is not None:
            score = dice(d.mask, prepared.corpus.mask(rec, pixels.shape))
        acc.add(ImageOutcome(rec.image_id, bool(rec.positive), d.probability, d.positive, score))
    summary = acc.summary()
    out: dict = {
        "model": str(model_dir),
        "split": split,
        "images": len(records),
        "positives": int(sum(bool(r.positive) for r in records)),
        "device": engine.device,
        "tta": tta,
        "decision_threshold": threshold,
        "decision": "classifier" if engine.manifest.classifier is not None else "mask not empty",
    }
    if engine.manifest.segmenter is not None:
        out["postprocess"] = params.to_dict(decision_threshold=threshold)
    out.update({k: getattr(summary, k) for k in summary.to_dict()})
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
