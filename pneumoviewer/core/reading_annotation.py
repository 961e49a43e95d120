"""A reading's picture and text through the one annotation builder (core.annotation).

Turns what a reading file stores (:class:`~pneumoviewer.core.readings.AIContext`, the
reader's :class:`~pneumoviewer.core.readings.Reading`) back into the objects
:func:`pneumoviewer.core.annotation.build_annotation` takes (a ``Decision``,
``PostprocessParams``, a manifest-like model description), and draws the AI and reader
masks as paints of the one compositor. Used by the DICOM SC and the viewer's exports of a
reading, so they look and say the same as the PNG export.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np

from pneumoviewer.core.annotation import Annotation, build_annotation
from pneumoviewer.core.decision import NOT_ANALYSED, Decision, DecisionState
from pneumoviewer.core.overlay import Color, MaskPaint, Paint
from pneumoviewer.core.postprocessing import PostprocessParams
from pneumoviewer.core.readings import AIContext, Reading

__all__ = [
    "AI_COLOR",
    "READER_COLOR",
    "decision_of",
    "params_of",
    "reading_annotation",
    "reading_paints",
]

#: The AI's mask: the prediction yellow of the viewer.
AI_COLOR: Color = (255, 215, 0)
#: The reader's mask: cyan, drawn as an outline over the AI's fill.
READER_COLOR: Color = (0, 220, 255)
_PARAM_KEYS = (
    "scheme",
    "bottom_threshold",
    "top_threshold",
    "min_area",
    "gate_enabled",
    "gate_threshold",
)


def decision_of(ai: AIContext | None) -> Decision:
    """Rebuild the AI's :class:`~pneumoviewer.core.decision.Decision` from its context."""
    if ai is None:
        return NOT_ANALYSED
    mask = ai.mask()
    positive = ai.positive()
    try:
        state = DecisionState(ai.decision_state) if ai.decision_state else None
    except ValueError:  # a state this version does not know
        state = None
    if state is None:
        if positive is None:
            return NOT_ANALYSED
        state = DecisionState.POSITIVE if positive else DecisionState.NEGATIVE
    area = None if mask is None else int(np.count_nonzero(mask))
    return Decision(state, positive, ai.probability, mask, area)


def params_of(ai: AIContext | None) -> PostprocessParams | None:
    """Rebuild the post-processing parameters (None when not all were recorded, or invalid).

    No default fills a gap: a context that recorded only some numbers gives None (its
    numbers then appear as recorded, see :func:`reading_annotation`).
    """
    if ai is None or not ai.postprocess:
        return None
    values = {k: ai.postprocess[k] for k in _PARAM_KEYS if k in ai.postprocess}
    needed = {"scheme", "bottom_threshold", "min_area", "gate_enabled"}
    if values.get("scheme") == "triplet":
        needed.add("top_threshold")
    if not needed <= values.keys():
        return None
    try:
        return PostprocessParams(**values)
    except (TypeError, ValueError):
        return None


def reading_paints(ai: AIContext | None, reading: Reading | None) -> list[Paint]:
    """Paints of the AI's mask (filled) and the reader's mask (outlined), those that exist."""
    paints: list[Paint] = []
    ai_mask = None if ai is None else ai.mask()
    if ai_mask is not None:
        paints.append(MaskPaint("AI", ai_mask, AI_COLOR))
    reader_mask = None if reading is None else reading.mask()
    if reader_mask is not None:
        paints.append(MaskPaint("Reader", reader_mask, READER_COLOR, opacity=0.9, outline=True))
    return paints


def reading_annotation(
    image_id: str,
    ai: AIContext | None,
    reading: Reading | None,
    *,
    paints: Sequence[Paint] = (),
    shape: tuple[int, int] | None = None,
    orientation: tuple[str, str] | None = None,
    pixel_spacing: tuple[float, float] | None = None,
    source: str | os.PathLike[str] | None = None,
) -> Annotation:
    """Build the title, lines, legend and provenance of a reading's export.

    The AI part is :func:`pneumoviewer.core.annotation.build_annotation`'s; the reader adds
    one line ("Reader NAME: VERDICT (time)", and the note) and the provenance keys
    ``Reader verdict``, ``Reading time`` and ``Reader note``.
    """
    manifest = None
    if ai is not None and (ai.model_name or ai.weights_sha256):
        manifest = SimpleNamespace(
            name=ai.model_name or "model",
            version=ai.model_version,
            sha256=dict(ai.weights_sha256),
            demo=bool(ai.model_demo),
        )
    extra: dict[str, str] = {}
    params = params_of(ai)
    if ai is not None and ai.postprocess and params is None:
        extra["Post-processing (as recorded)"] = ", ".join(
            f"{k}={v}" for k, v in sorted(ai.postprocess.items())
        )
    if reading is not None:
        extra["Reader verdict"] = "" if reading.verdict is None else reading.verdict.value
        extra["Reading time"] = reading.time
        if reading.note:
            extra["Reader note"] = reading.note
    threshold = 0.5 if ai is None or ai.decision_threshold is None else ai.decision_threshold
    annotation = build_annotation(
        image_id=image_id,
        decision=decision_of(ai),
        decision_threshold=threshold,
        params=params,
        manifest=manifest,
        source=source,
        paints=paints,
        shape=shape,
        orientation=orientation,
        pixel_spacing=pixel_spacing,
        reader=None if reading is None else reading.reader,
        extra=extra,
    )
    if reading is None:
        return annotation
    verdict = "no verdict" if reading.verdict is None else reading.verdict.value
    line = f"Reader {reading.reader}: {verdict} ({reading.time})"
    if reading.note:
        line += f" - {reading.note}"
    from pneumoviewer.core.annotation import ascii_text

    lines = (*annotation.lines[:1], ascii_text(line), *annotation.lines[1:])
    return Annotation(
        title=annotation.title,
        lines=lines,
        legend=annotation.legend,
        provenance=annotation.provenance,
        orientation=annotation.orientation,
    )
