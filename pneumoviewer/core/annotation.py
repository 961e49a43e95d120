"""The one builder of what an export says: title, text lines, legend and provenance.

:func:`build_annotation` is called by the viewer's PNG export, ``pneumoviewer predict``'s
PNGs and the DICOM writers' descriptions, so every export says the same things with the
same PNG text-chunk keys (:data:`PROVENANCE_KEYS`). Text is plain ASCII (:func:`ascii_text`)
so every glyph renders in any font ("demo model - DEMO", not a box).
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pneumoviewer.core.decision import Decision, DecisionState
from pneumoviewer.core.overlay import Color, Paint, legend
from pneumoviewer.core.postprocessing import PostprocessParams

__all__ = ["PROVENANCE_KEYS", "Annotation", "ascii_text", "build_annotation"]

#: PNG text-chunk keys, in order; the first group is always written, the rest when known.
PROVENANCE_KEYS = (
    "Software",
    "Creation Time",
    "ImageId",
    "Source",
    "Decision",
    "Model",
    "Model version",
    "Model weights sha256",
    "Model manifest sha256",
    "Demo model",
    "Post-processing",
    "Contrast",
    "Probability",
    "Mask pixels",
    "Dice",
    "Reader",
)

_FOLD = {
    "\u2014": "-",  # em dash
    "\u2013": "-",  # en dash
    "\u2212": "-",  # minus
    "\u2265": ">=",
    "\u2264": "<=",
    "\u00b7": "-",  # middle dot
    "\u2026": "...",
    "\u00d7": "x",
    "\u00b2": "2",
    "\u00b3": "3",
    "\u00b5": "u",
    "\u00b0": " deg",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2192": "->",
    "\u26a0": "!",
}


def ascii_text(text: str) -> str:
    """Return ``text`` in plain printable ASCII (dashes, >=, superscripts... spelled out).

    Accented letters lose their accents; anything else outside ASCII becomes ``?``.
    """
    out = []
    for ch in str(text):
        if ch in _FOLD:
            out.append(_FOLD[ch])
        elif ch == "\t":
            out.append(" ")
        elif " " <= ch <= "~" or ch == "\n":
            out.append(ch)
        else:
            base = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode("ascii")
            out.append(base if base and base.isprintable() else "?")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Annotation:
    """What an export shows and records.

    Attributes
    ----------
    title : str
        The first line (the image id).
    lines : tuple of str
        Further text lines (decision, mask, Dice, model, contrast, reader, time).
    legend : tuple of (str, Color)
        One entry per colour drawn, overlaps included (:func:`pneumoviewer.core.overlay.legend`).
    provenance : dict of str to str
        PNG text chunks, keys from :data:`PROVENANCE_KEYS` plus any ``extra`` given.
    orientation : tuple of (str, str) or None
        DICOM Patient Orientation (row direction, column direction); None when unknown.

    """

    title: str
    lines: tuple[str, ...]
    legend: tuple[tuple[str, Color], ...] = ()
    provenance: dict[str, str] = field(default_factory=dict)
    orientation: tuple[str, str] | None = None


def _fmt_area(area: int, pixel_spacing: tuple[float, float] | None) -> str:
    text = f"{area:,} px"
    if pixel_spacing is not None and area:
        cm2 = area * float(pixel_spacing[0]) * float(pixel_spacing[1]) / 100.0
        text += f" ({cm2:.1f} cm2)"
    return text


def _decision_line(d: Decision, decision_threshold: float) -> str:
    if d.state in (DecisionState.NOT_ANALYSED, DecisionState.NOT_ASSESSED):
        return f"AI: {d.state}"
    if d.probability is None:
        return f"AI: {d.state} (no classifier: positive when the mask is not empty)"
    op = ">=" if d.probability >= decision_threshold else "<"
    return f"AI: {d.state} (p = {d.probability:.3f} {op} threshold {decision_threshold:.2f})"


def build_annotation(
    *,
    image_id: str,
    decision: Decision,
    decision_threshold: float = 0.5,
    params: PostprocessParams | None = None,
    manifest: Any | None = None,
    manifest_sha256: str | None = None,
    dice: float | None = None,
    source: str | os.PathLike[str] | None = None,
    contrast: str = "",
    paints: Sequence[Paint] = (),
    shape: tuple[int, int] | None = None,
    orientation: tuple[str, str] | None = None,
    pixel_spacing: tuple[float, float] | None = None,
    reader: str | None = None,
    extra: Mapping[str, str] | None = None,
    when: datetime | None = None,
    quality: Any | None = None,
) -> Annotation:
    """Build the title, lines, legend and provenance of one image's export.

    Parameters
    ----------
    image_id : str
        The image (SOPInstanceUID or file stem).
    decision : Decision
        From :mod:`pneumoviewer.core.decision` (``NOT_ANALYSED`` when the models have not
        run: the export then says "AI: not analysed").
    decision_threshold : float
        The classifier's decision threshold.
    params : PostprocessParams or None
        The post-processing that made the mask (None: no segmenter).
    manifest : ModelManifest or None
        The model (name, demo flag, weights sha256, and ``version`` when it has one).
    manifest_sha256 : str or None
        sha256 of the model's ``manifest.json``.
    dice : float or None
        Dice of the mask against the ground truth.
    source : path-like or None
        The DICOM file.
    contrast : str
        How the picture's grey levels were made (e.g. "CLAHE clip 2, tiles 8x8").
    paints : sequence of Paint
        What is drawn over the image; the legend names every colour, overlaps included.
    shape : (int, int) or None
        The image shape (needed to find the overlaps that appear).
    orientation : (str, str) or None
        Patient Orientation of the image (None: unknown, drawn as "?").
    pixel_spacing : (float, float) or None
        mm per pixel (rows, columns): areas are also given in cm2.
    reader : str or None
        Who exported (written when given).
    extra : mapping, optional
        More text chunks (device, TTA...).
    when : datetime or None
        Export time (default: now, UTC).
    quality : QualityResult or None
        The input-quality gate's answer (:mod:`pneumoviewer.core.quality`, #10): a refused
        image's line reads "AI: not assessed: REASON", a warning adds an "Input quality" line.

    Returns
    -------
    Annotation
        All text plain ASCII.

    """
    from pneumoviewer import __version__

    when = when or datetime.now(UTC)
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [_decision_line(decision, decision_threshold)]
    if quality is not None and quality.text:  # #10: warn or refused
        if quality.refused and decision.state is DecisionState.NOT_ASSESSED:
            lines[0] = f"AI: not assessed: {quality.text}"
        else:
            lines.append(f"Input quality: {quality}")
    post = None
    if params is not None:
        post = params.describe(decision_threshold=decision_threshold)
        if decision.area is not None:
            lines.append(f"Mask: {_fmt_area(decision.area, pixel_spacing)}; {post}")
    if dice is not None:
        lines.append(f"Dice vs ground truth: {dice:.3f}")
    prov: dict[str, str] = {
        "Software": f"pneumoviewer {__version__}",
        "Creation Time": stamp,
        "ImageId": str(image_id),
        "Source": "" if source is None else str(source),
        "Decision": str(decision.state),
    }
    if quality is not None:
        prov["Input quality"] = str(quality)
    if manifest is not None:
        demo = bool(getattr(manifest, "demo", False))
        name = str(getattr(manifest, "name", "model"))
        version = getattr(manifest, "version", None)
        lines.append(
            f"Model: {name}"
            + (f" {version}" if version else "")
            + (" - DEMO, not for clinical use" if demo else "")
        )
        prov["Model"] = name
        prov["Model version"] = str(version) if version else "not stated"
        prov["Model weights sha256"] = json.dumps(dict(getattr(manifest, "sha256", {}) or {}))
        if manifest_sha256:
            prov["Model manifest sha256"] = manifest_sha256
        prov["Demo model"] = "yes" if demo else "no"
    if post is not None:
        prov["Post-processing"] = json.dumps(
            {
                **params.to_dict(decision_threshold=decision_threshold),
                "decision_threshold": decision_threshold,
                "text": post,
            }
        )
    elif manifest is not None:
        prov["Post-processing"] = json.dumps({"decision_threshold": decision_threshold})
    if contrast:
        lines.append(f"Contrast: {contrast}")
        prov["Contrast"] = contrast
    if decision.probability is not None:
        prov["Probability"] = f"{decision.probability:.6f}"
    if decision.area is not None:
        prov["Mask pixels"] = str(decision.area)
    if dice is not None:
        prov["Dice"] = f"{dice:.6f}"
    if reader:
        prov["Reader"] = str(reader)
    lines.append(
        f"Exported {stamp} by pneumoviewer {__version__}" + (f", reader {reader}" if reader else "")
    )
    for k, v in (extra or {}).items():
        prov.setdefault(str(k), str(v))
    entries: list[tuple[str, Color]] = []
    if paints:
        entries = legend(list(paints), shape=shape)
    return Annotation(
        title=ascii_text(image_id),
        lines=tuple(ascii_text(line) for line in lines),
        legend=tuple((ascii_text(label), tuple(c)) for label, c in entries),
        provenance=prov,
        orientation=None if orientation is None else (str(orientation[0]), str(orientation[1])),
    )
