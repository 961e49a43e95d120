"""What ``pneumoviewer predict`` writes: CSV tables, metrics.json and annotated PNGs."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pneumoviewer.core.export import export_annotated_png
from pneumoviewer.core.io import atomic_write_text

__all__ = [
    "PREDICTION_COLUMNS",
    "ImageResult",
    "compute_metrics",
    "png_name",
    "write_csv",
    "write_json",
    "write_png",
]

PREDICTION_COLUMNS = (
    "ImageId",
    "file",
    "probability",
    "score",
    "predicted_label",
    "mask_pixels",
    "gt_label",
    "dice",
    "seconds",
    "status",
    "error",
)


@dataclass(frozen=True, slots=True)
class ImageResult:
    """One line of ``predictions.csv`` (and of ``submission.csv`` when ``status == "ok"``).

    ``rle`` is the SIIM run-length string of the predicted mask (``"-1"`` when empty), None
    when no mask exists (no segmenter, or an error).
    """

    image_id: str
    file: Path
    status: str = "ok"
    error: str = ""
    probability: float | None = None
    score: float | None = None
    predicted_label: int | None = None
    mask_pixels: int | None = None
    rle: str | None = None
    gt_label: int | None = None
    dice: float | None = None
    seconds: float | None = None

    def row(self) -> list[str]:
        """Return the ``predictions.csv`` cells, in :data:`PREDICTION_COLUMNS` order."""

        def num(v: float | int | None, fmt: str = "{:.6f}") -> str:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return ""
            return str(v) if isinstance(v, int) else fmt.format(v)

        return [
            self.image_id,
            str(self.file),
            num(self.probability),
            num(self.score),
            num(self.predicted_label),
            num(self.mask_pixels),
            num(self.gt_label),
            num(self.dice),
            num(self.seconds, "{:.4f}"),
            self.status,
            self.error,
        ]


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def png_name(image_id: str) -> str:
    """File name of an image's annotated PNG: the id with unsafe characters replaced."""
    name = _UNSAFE.sub("_", image_id).strip(".") or "image"
    return f"{name}.png"


def write_csv(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[str]], *, overwrite: bool
) -> Path:
    """Write a UTF-8 CSV atomically (Unix line ends, minimal quoting)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return atomic_write_text(path, buf.getvalue(), overwrite=overwrite)


def write_json(path: Path, data: Mapping, *, overwrite: bool) -> Path:
    """Write indented JSON atomically (NaN written as null)."""

    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    text = json.dumps(clean(dict(data)), indent=2, ensure_ascii=False) + "\n"
    return atomic_write_text(path, text, overwrite=overwrite)


def compute_metrics(
    results: Sequence[ImageResult], *, decision_threshold: float, has_classifier: bool
) -> dict:
    """Metrics over the images with known ground truth (core.metrics).

    Parameters
    ----------
    results : sequence of ImageResult
        All processed images; those with ``gt_label`` None are left out.
    decision_threshold : float
        The classifier's decision threshold (labels are ``probability >= threshold``).
    has_classifier : bool
        Without a classifier the image-level score is 1.0 for a non-empty mask, else 0.0
        (so the AUC is the one of the binary decision).

    Returns
    -------
    dict
        accuracy, auc, sensitivity, specificity, tp/fp/tn/fn, dice_positive (mean Dice on
        images with pneumothorax), kaggle_mean_dice (mean per-image Dice, empty/empty = 1),
        and counts. Undefined values are NaN (written as null).

    """
    from pneumoviewer.core.metrics import classification_metrics

    known = [r for r in results if r.status == "ok" and r.gt_label is not None]
    y_true = np.array([r.gt_label for r in known], dtype=bool)
    if has_classifier:
        y_score = np.array([r.probability for r in known], dtype=np.float64)
        threshold = decision_threshold
    else:
        y_score = np.array([float(r.predicted_label) for r in known], dtype=np.float64)
        threshold = 0.5
    out: dict = {}
    if known:
        out.update(classification_metrics(y_true, y_score, threshold).to_dict())
    else:
        out.update({k: math.nan for k in ("accuracy", "sensitivity", "specificity", "auc")})
    dices = [r.dice for r in known if r.dice is not None]
    pos_dices = [r.dice for r in known if r.dice is not None and r.gt_label]
    out["dice_positive"] = float(np.mean(pos_dices)) if pos_dices else math.nan
    out["kaggle_mean_dice"] = float(np.mean(dices)) if dices else math.nan
    out["decision"] = "classifier" if has_classifier else "mask non-empty"
    out["decision_threshold"] = threshold
    out["counts"] = {
        "images_processed": sum(r.status == "ok" for r in results),
        "with_ground_truth": len(known),
        "positive": int(y_true.sum()),
        "negative": int((~y_true).sum()),
        "with_dice": len(dices),
    }
    return out


def write_png(
    path: Path,
    pixels: np.ndarray,
    *,
    prediction: np.ndarray | None,
    ground_truth: np.ndarray | None,
    title: str,
    lines: Sequence[str],
    provenance: Mapping[str, str],
    overwrite: bool,
) -> str | None:
    """Write one annotated PNG; return None, or the error message (a failure is not fatal)."""
    try:
        export_annotated_png(
            path,
            pixels,
            prediction=prediction,
            ground_truth=ground_truth,
            title=title,
            lines=list(lines),
            provenance=dict(provenance),
            overwrite=overwrite,
            compress_level=1,  # encoding at level 6 costs about as much as both models
        )
    except (OSError, ValueError) as exc:
        return f"{path}: annotated PNG not written: {exc}"
    return None
