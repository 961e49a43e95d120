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
    "metrics_dict",
    "outcome_of",
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
    "state",
    "quality",
    "quality_reason",
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
    when no mask exists (no segmenter, or an error). ``state`` is the decision state of
    :mod:`pneumoviewer.core.decision` ("positive", "positive, not localised"...).
    """

    image_id: str
    file: Path
    status: str = "ok"
    error: str = ""
    probability: float | None = None
    score: float | None = None
    predicted_label: int | None = None
    state: str = ""
    quality: str = ""  # the input-quality gate (#10): ok / warn / refused
    quality_reason: str = ""
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
            self.state,
            self.quality,
            self.quality_reason,
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
    results: Sequence[ImageResult],
    *,
    decision_threshold: float,
    has_classifier: bool,
    postprocess: Mapping | None = None,
) -> dict:
    """Return the folder summary of a run (:func:`pneumoviewer.core.metrics.summarise`).

    Parameters
    ----------
    results : sequence of ImageResult
        All images; those with an error count as not analysed, those with ``gt_label``
        None as not evaluated.
    decision_threshold : float
        The classifier's decision threshold (recorded; the calls are already in
        ``predicted_label``, made by :mod:`pneumoviewer.core.decision`).
    has_classifier : bool
        Whether the calls come from a classifier (else: "mask not empty").
    postprocess : mapping, optional
        The post-processing numbers that ran (recorded under ``postprocess``).

    Returns
    -------
    dict
        The :data:`pneumoviewer.core.metrics.SUMMARY_KEYS` (the viewer's Summary has the
        same numbers and names), then ``decision``, ``decision_threshold`` and
        ``postprocess``. Undefined values are None.

    """
    from pneumoviewer.core.metrics import summarise

    return metrics_dict(
        summarise(outcome_of(r) for r in results),
        decision_threshold=decision_threshold,
        has_classifier=has_classifier,
        postprocess=postprocess,
    )


def outcome_of(r: ImageResult):
    """Return the :class:`pneumoviewer.core.metrics.ImageOutcome` of one result."""
    from pneumoviewer.core.metrics import ImageOutcome

    return ImageOutcome(
        image_id=r.image_id,
        truth_positive=None if r.gt_label is None else bool(r.gt_label),
        probability=r.probability,
        positive=None if r.status != "ok" or r.predicted_label is None else bool(r.predicted_label),
        dice=r.dice,
        refused=r.quality == "refused",
    )


def metrics_dict(
    summary, *, decision_threshold: float, has_classifier: bool, postprocess: Mapping | None
) -> dict:
    """Return ``metrics.json``'s content from a :class:`~pneumoviewer.core.metrics.FolderSummary`.

    See :func:`compute_metrics` (the same keys); predict accumulates the outcomes as
    images finish (:class:`pneumoviewer.core.metrics.SummaryAccumulator`).
    """
    out: dict = summary.to_dict()
    out["decision"] = "classifier" if has_classifier else "mask not empty"
    out["decision_threshold"] = decision_threshold if has_classifier else None
    if postprocess is not None:
        out["postprocess"] = dict(postprocess)
    return out


def write_png(
    path: Path,
    pixels: np.ndarray,
    *,
    paints: Sequence,
    annotation,
    overwrite: bool,
) -> str | None:
    """Write one annotated PNG; return None, or the error message (a failure is not fatal).

    ``paints`` are the overlay layers (:func:`pneumoviewer.core.overlay.style_paints`),
    ``annotation`` the text, legend and provenance of
    :func:`pneumoviewer.core.annotation.build_annotation` (the viewer's export uses both).
    """
    try:
        export_annotated_png(
            path,
            pixels,
            paints=paints,
            annotation=annotation,
            overwrite=overwrite,
            compress_level=1,  # encoding at level 6 costs about as much as both models
        )
    except (OSError, ValueError) as exc:
        return f"{path}: annotated PNG not written: {exc}"
    return None
