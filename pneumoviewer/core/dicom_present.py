"""DICOM objects that present a result over the image: GSPS (outlines + text) and SC.

Builders for :func:`pneumoviewer.core.dicom_out.export_image`; the shared pieces (series
plan, checks, provenance as contributing equipment) are in
:mod:`pneumoviewer.core.dicom_objects`.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset

from pneumoviewer.core.dicom_objects import (
    _SERIES_TEXT,
    DicomExportError,
    SeriesPlan,
    _check_mask,
    _common,
    _person,
    _segments,
    _spacing,
)
from pneumoviewer.core.reading_annotation import AI_COLOR, READER_COLOR
from pneumoviewer.core.readings import AIContext, Reading

__all__ = ["build_gsps", "build_sc", "summary_line"]


def _outlines(mask: np.ndarray) -> list[np.ndarray]:
    """Trace closed polylines around each component: (N, 2) (column, row), pixel centres."""
    contours, _ = cv2.findContours(
        np.ascontiguousarray(mask, dtype=np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    lines = []
    for contour in contours:
        pts = contour[:, 0, :].astype(np.float64) + 0.5
        if len(pts) < 3:  # a pixel or a one-pixel line: its bounding box
            (c0, r0), (c1, r1) = pts.min(0) - 0.5, pts.max(0) + 0.5
            pts = np.array([[c0, r0], [c1, r0], [c1, r1], [c0, r1]])
        lines.append(np.vstack([pts, pts[:1]]))
    return lines


def summary_line(ai: AIContext | None, reading: Reading | None) -> str:
    """Return the one-line text of the GSPS and the SC: AI result, model, reader."""
    parts = []
    if ai is not None:
        p = "n/a" if ai.probability is None else f"{ai.probability:.2f}"
        state = f" {ai.decision_state}" if ai.decision_state else ""
        parts.append(
            f"AI pneumothorax p={p}{state} ({ai.model_name or 'model'}"
            f" {ai.model_version or ''})".replace(" )", ")")
        )
    if reading is not None:
        verdict = reading.verdict.value if reading.verdict is not None else "no verdict"
        parts.append(f"reader {reading.reader}: {verdict}")
    return "; ".join(parts) or "pneumoviewer"


def build_gsps(
    src: Dataset,
    *,
    ai: AIContext | None,
    reading: Reading | None,
    plan: SeriesPlan,
    path: Path,
) -> hd.pr.GrayscaleSoftcopyPresentationState:
    """Build the GSPS: outlines (AI yellow, reader cyan) and a one-line text annotation."""
    annotations, layers = [], []
    for order, (label, mask) in enumerate(_segments(ai, reading), start=1):
        _check_mask(mask, src, f"{label} mask", path)
        color = AI_COLOR if label == "AI" else READER_COLOR
        layer = hd.pr.GraphicLayer(
            layer_name=label.upper(),
            order=order,
            description=f"{label} pneumothorax outline",
            display_color=hd.color.CIELabColor.from_rgb(*color),
        )
        layers.append(layer)
        objects = [
            hd.pr.GraphicObject(
                graphic_type=hd.pr.GraphicTypeValues.POLYLINE,
                graphic_data=line,
                units=hd.pr.AnnotationUnitsValues.PIXEL,
            )
            for line in _outlines(mask)
        ]
        if objects:
            annotations.append(
                hd.pr.GraphicAnnotation(
                    referenced_images=[src], graphic_layer=layer, graphic_objects=objects
                )
            )
    text_layer = hd.pr.GraphicLayer(
        layer_name="TEXT",
        order=len(layers) + 1,
        description="pneumoviewer result",
        display_color=hd.color.CIELabColor.from_rgb(255, 255, 255),
    )
    layers.append(text_layer)
    rows, cols = int(src.Rows), int(src.Columns)
    margin = max(2.0, 0.01 * cols)
    text = hd.pr.TextObject(
        text_value=summary_line(ai, reading)[:1024],
        units=hd.pr.AnnotationUnitsValues.PIXEL,
        bounding_box=(margin, margin, cols - margin, margin + 0.04 * rows),
        text_justification=hd.pr.TextJustificationValues.LEFT,
    )
    annotations.append(
        hd.pr.GraphicAnnotation(
            referenced_images=[src], graphic_layer=text_layer, text_objects=[text]
        )
    )
    gsps = hd.pr.GrayscaleSoftcopyPresentationState(
        referenced_images=[src],
        content_label="PNEUMOTHORAX",
        content_description=_SERIES_TEXT["gsps"][:64],
        graphic_annotations=annotations,
        graphic_layers=layers,
        content_creator_name=None if reading is None else _person(reading.reader),
        **_common("gsps", src, plan, ai, reading),
    )
    gsps.SeriesDescription = _SERIES_TEXT["gsps"]
    gsps.Laterality = ""  # General Series type 2C; a chest is not a paired structure
    return gsps


def build_sc(
    src: Dataset,
    display: np.ndarray,
    *,
    ai: AIContext | None,
    reading: Reading | None,
    plan: SeriesPlan,
    path: Path,
) -> hd.sc.SCImage:
    """Build the SC: the PNG export's picture (masks, frame, legend, text) burned in, RGB."""
    from pneumoviewer.core.export import render_annotated_png
    from pneumoviewer.core.reading_annotation import reading_annotation, reading_paints

    display = np.asarray(display)
    shape = (int(src.Rows), int(src.Columns))
    if display.shape != shape or display.dtype != np.uint8:
        raise DicomExportError(
            path, f"SC: display image {display.shape} {display.dtype} does not match the source"
        )
    for label, mask in _segments(ai, reading):
        _check_mask(mask, src, f"{label} mask", path)
    paints = reading_paints(ai, reading)
    orientation = (str(src.PatientOrientation[0]), str(src.PatientOrientation[1]))
    annotation = reading_annotation(
        str(src.SOPInstanceUID),
        ai,
        reading,
        paints=paints,
        shape=shape,
        orientation=orientation,
        pixel_spacing=_spacing(src),
        source=path,
    )
    rgb = render_annotated_png(
        display,
        paints=paints,
        title=annotation.title,
        lines=annotation.lines,
        legend_entries=annotation.legend,
        orientation=annotation.orientation,
    )
    # the picture may be framed (text band): then its pixels are not the source's grid
    same_grid = rgb.shape[:2] == (int(src.Rows), int(src.Columns))
    spacing = _spacing(src) if same_grid else None
    common = _common("sc", src, plan, ai, reading)
    for kw in ("manufacturer_model_name", "software_versions", "device_serial_number"):
        common.pop(kw)
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=src,
        pixel_array=np.ascontiguousarray(rgb),
        photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
        bits_allocated=8,
        coordinate_system=hd.CoordinateSystemNames.PATIENT,
        pixel_spacing=spacing,
        patient_orientation=tuple(str(v) for v in src.PatientOrientation),
        transfer_syntax_uid=pydicom.uid.ExplicitVRLittleEndian,
        **common,
    )
    sc.BurnedInAnnotation = "YES"
    for kw in ("PatientAge", "PatientSize", "PatientWeight"):  # not copied by highdicom
        if kw in src and kw not in sc:
            setattr(sc, kw, src[kw].value)
    if "Laterality" not in sc:
        sc.Laterality = ""  # General Series type 2C; a chest is not a paired structure
    sc.SeriesDescription = _SERIES_TEXT["sc"]
    sc.ImageComments = "\n".join(f"{k}: {v}" for k, v in annotation.provenance.items())[:10240]
    sc.DerivationDescription = "pneumoviewer overlay burned into the source image"[:1024]
    return sc
