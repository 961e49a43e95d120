r"""DICOM objects out, written with highdicom: SEG, SR (TID 1500), GSPS and SC.

For one source radiograph, its AI result (:class:`~pneumoviewer.core.readings.AIContext`)
and optionally a reader's :class:`~pneumoviewer.core.readings.Reading`:

SEG
    Binary segmentation, one frame per segment: segment 1 the AI's post-processed mask
    (algorithm identification with the model's name, version and post-processing numbers),
    segment 2 the reader's mask (manual) when there is one. Segmented property SNOMED CT
    36118008 "Pneumothorax", category 49755003 "Morphologically Abnormal Structure".
SR
    TID 1500 measurement report: an image-level group with the AI probability, the AI's
    decision and the reader's verdict; one planar-ROI group per SEG segment (with its area
    when the pixel spacing is known). Observers: the reader (person) and the model (device).
GSPS
    Mask outlines as closed polylines (AI yellow, reader cyan) and a one-line text.
SC
    The annotated picture with the overlay burned in (Burned In Annotation = YES), drawn
    by the same compositor and legend as the PNG export.

Every object is in the source's patient and study, in a new series, and references the
source image. Fixes made on the way (on a copy of the source's attributes): a Patient's Age
without unit (SIIM's ``'38'``) becomes ``'038Y'``; an empty Patient Orientation is taken
as ``L\F`` for PA and AP views (the display convention); the SEG's Pixel Measures carry
a nominal 1 mm Slice Thickness, without which ``highdicom.seg.segread`` cannot read it.

:func:`export_image` builds every requested object in memory first and writes them only
when all could be built (each file atomically); a source that lacks something raises
:class:`DicomExportError` naming the file, the object and the problem.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Sequence
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
import pydicom.errors
from pydicom.dataset import Dataset

from pneumoviewer.core.dicom_objects import (
    DECISION_CONCEPT,
    VERDICT_CONCEPT,
    DicomExportError,
    SeriesPlan,
    build_seg,
    build_sr,
)
from pneumoviewer.core.dicom_present import build_gsps, build_sc, summary_line
from pneumoviewer.core.readings import AIContext, Reading, ai_context_from_manifest

__all__ = [
    "DECISION_CONCEPT",
    "DICOM_KINDS",
    "VERDICT_CONCEPT",
    "DicomExportError",
    "DicomWriter",
    "SeriesPlan",
    "build_gsps",
    "build_sc",
    "build_seg",
    "build_sr",
    "export_image",
    "export_prediction",
    "kinds_argument",
    "parse_kinds",
    "prepare_source",
    "summary_line",
]

#: Object kinds, in the order they are built (the SR references the SEG).
DICOM_KINDS = ("seg", "sr", "gsps", "sc")
_AGE = re.compile(r"^\s*(\d{1,3})\s*$")


def parse_kinds(text: str | Iterable[str]) -> tuple[str, ...]:
    """Parse ``"seg,sr,gsps,sc"`` (or a sequence) into kinds in build order.

    Raises
    ------
    ValueError
        Unknown kind (the message lists the valid ones).
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    kinds = {k.strip().lower() for k in items if k.strip()}
    unknown = sorted(kinds - set(DICOM_KINDS))
    if unknown:
        raise ValueError(f"unknown DICOM object kind(s) {unknown}; choose from {DICOM_KINDS}")
    return tuple(k for k in DICOM_KINDS if k in kinds)


def prepare_source(ds: Dataset, path: str | os.PathLike[str]) -> Dataset:
    r"""Check a source image's header and return a fixed copy for derived objects.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The source (pixel data not needed).
    path : path-like
        Named in messages.

    Returns
    -------
    pydicom.dataset.Dataset
        A copy without pixel data: Patient's Age given a unit (``'38'`` -> ``'038Y'``,
        removed when not a number), an empty Patient Orientation set to ``L\F`` for PA/AP
        views.

    Raises
    ------
    DicomExportError
        A UID, Rows/Columns, or (for non-PA/AP views) Patient Orientation is missing.
    """
    src = Dataset()
    src.file_meta = getattr(ds, "file_meta", Dataset())
    for elem in ds:
        if elem.tag != 0x7FE00010:
            src.add(elem)
    src = src.copy()
    missing = [
        kw
        for kw in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
        if not str(src.get(kw, "") or "").strip()
    ]
    if missing or not src.get("Rows") or not src.get("Columns"):
        what = ", ".join(missing + (["Rows/Columns"] if not src.get("Rows") else []))
        raise DicomExportError(path, f"source lacks {what}: derived objects cannot refer to it")
    age = str(src.get("PatientAge", "") or "")
    if age and not re.fullmatch(r"\d{3}[DWMY]", age):
        match = _AGE.match(age)
        if match:
            src.PatientAge = f"{int(match.group(1)):03d}Y"
        else:
            del src.PatientAge
    orientation = [str(v) for v in (src.get("PatientOrientation") or []) if str(v)]
    if len(orientation) != 2:
        view = str(src.get("ViewPosition", "") or "").upper()
        if view in ("PA", "AP"):
            src.PatientOrientation = ["L", "F"]
        else:
            raise DicomExportError(
                path,
                "source has no Patient Orientation and its View Position "
                f"({view or 'none'}) is not PA or AP: cannot orient derived images",
            )
    type2 = (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyID",
        "AccessionNumber",
        "ReferringPhysicianName",
        "StudyDate",
        "StudyTime",
    )
    for kw in type2:  # type 2 in the derived objects: present, empty when unknown
        if kw not in src:
            setattr(src, kw, "")
    return src


def _encode(ds: Dataset) -> bytes:
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def export_image(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    ai: AIContext | None,
    reading: Reading | None = None,
    kinds: Sequence[str] = DICOM_KINDS,
    display: np.ndarray | None = None,
    plan: SeriesPlan | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Build and write one image's DICOM objects: all of them, or none.

    Parameters
    ----------
    source : path-like
        The source DICOM file.
    out_dir : path-like
        Destination folder (created when missing); files are
        ``<SOPInstanceUID>_<kind>.dcm``.
    ai : AIContext or None
        The AI result (probability, decision, model, post-processing, mask).
    reading : Reading or None
        The reader's verdict and mask, if any.
    kinds : sequence of str
        Among :data:`DICOM_KINDS`.
    display : numpy.ndarray or None
        uint8 (H, W) display image for the SC (None: decoded from ``source``).
    plan : SeriesPlan or None
        Shares series across the images of one run (None: new series for this image).
    overwrite : bool
        Replace existing files.

    Returns
    -------
    list of pathlib.Path
        The files written, in :data:`DICOM_KINDS` order.

    Raises
    ------
    DicomExportError
        The source cannot be read or lacks something an object needs, or a file exists;
        nothing of this image was written (files written before a failing write are
        removed).
    """
    from pneumoviewer.core.io import atomic_write_bytes

    path = Path(source)
    kinds = parse_kinds(kinds)
    plan = SeriesPlan() if plan is None else plan
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (OSError, pydicom.errors.InvalidDicomError, ValueError) as exc:
        raise DicomExportError(path, f"cannot read the source DICOM ({exc})") from None
    src = prepare_source(ds, path)
    if "sc" in kinds and display is None:
        from pneumoviewer.core.dicom_io import load_xray
        from pneumoviewer.core.errors import DicomReadError

        try:
            display = load_xray(path).pixels
        except DicomReadError as exc:
            raise DicomExportError(path, f"SC: {exc.problem}") from None
    built: dict[str, Dataset] = {}
    kind = ""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person")
        try:
            for kind in kinds:
                if kind == "seg":
                    built[kind] = build_seg(src, ai=ai, reading=reading, plan=plan, path=path)
                elif kind == "sr":
                    seg = built.get("seg")
                    built[kind] = build_sr(
                        src,
                        ai=ai,
                        reading=reading,
                        seg=seg,
                        plan=plan,
                        path=path,  # type: ignore[arg-type]
                    )
                elif kind == "gsps":
                    built[kind] = build_gsps(src, ai=ai, reading=reading, plan=plan, path=path)
                else:
                    built[kind] = build_sc(
                        src,
                        display,
                        ai=ai,
                        reading=reading,
                        plan=plan,
                        path=path,  # type: ignore[arg-type]
                    )
        except DicomExportError:
            raise
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise DicomExportError(path, f"{kind.upper()}: {exc}") from None
        blobs = {k: _encode(v) for k, v in built.items()}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    image_id = str(src.SOPInstanceUID)
    targets = {k: out / f"{image_id}_{k}.dcm" for k in blobs}
    if not overwrite:
        existing = [p.name for p in targets.values() if os.path.lexists(p)]
        if existing:
            raise DicomExportError(path, f"exists, not overwritten: {', '.join(existing)}")
    written: list[Path] = []
    try:
        for k, blob in blobs.items():
            written.append(atomic_write_bytes(targets[k], blob, overwrite=overwrite))
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    return written


def export_prediction(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    manifest: object,
    decision: object,
    params: object = None,
    decision_threshold: float | None = None,
    display: np.ndarray | None = None,
    kinds: Sequence[str] = DICOM_KINDS,
    plan: SeriesPlan | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write the AI's DICOM objects of one analysed image (``predict --dicom``).

    Parameters
    ----------
    source : path-like
        The image's DICOM file.
    out_dir : path-like
        Usually ``OUT/dicom``.
    manifest : ModelManifest
        The model (name, ``sha256``, optional ``version``).
    decision : Decision
        From :func:`pneumoviewer.core.decision.decide` (``state``, ``probability``,
        ``mask``).
    params : PostprocessParams or None
        The post-processing in force.
    decision_threshold : float or None
        The classifier's decision threshold.
    display, kinds, plan, overwrite
        As in :func:`export_image` (pass one ``plan`` for the whole run).

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    DicomExportError
        As :func:`export_image`; the caller lists it as a problem and goes on.
    """
    state = getattr(decision, "state", None)
    ai = ai_context_from_manifest(
        manifest,
        probability=getattr(decision, "probability", None),
        mask=getattr(decision, "mask", None),
        postprocess=params,
        decision_threshold=decision_threshold,
        decision_state=None if state is None else str(state),
    )
    return export_image(
        source, out_dir, ai=ai, kinds=kinds, display=display, plan=plan, overwrite=overwrite
    )


def kinds_argument(text: str) -> tuple[str, ...]:
    """Parse ``--dicom KINDS`` for argparse (``"none"``/empty -> no objects).

    Raises
    ------
    argparse.ArgumentTypeError
        Unknown kind.
    """
    import argparse

    if text.strip().lower() in ("", "none"):
        return ()
    try:
        return parse_kinds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class DicomWriter:
    """Writes the AI's DICOM objects of every image of a ``predict`` run (one series plan).

    Parameters
    ----------
    out_dir : path-like
        ``OUT/dicom``.
    kinds : sequence of str
        Among :data:`DICOM_KINDS`.
    manifest : ModelManifest
        The model.
    params : PostprocessParams or None
        The post-processing in force.
    decision_threshold : float or None
        The classifier's decision threshold.
    overwrite : bool
        Replace existing files.

    Use from one thread at a time (e.g. predict's PNG writer thread).
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        kinds: Sequence[str],
        manifest: object,
        params: object = None,
        decision_threshold: float | None = None,
        overwrite: bool = False,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.kinds = parse_kinds(kinds)
        self.manifest = manifest
        self.params = params
        self.decision_threshold = decision_threshold
        self.overwrite = overwrite
        self.plan = SeriesPlan()

    def write(
        self, source: str | os.PathLike[str], decision: object, *, display: np.ndarray | None
    ) -> tuple[list[Path], str | None]:
        """Write one image's objects; return ``(files, None)`` or ``([], message)``."""
        try:
            files = export_prediction(
                source,
                self.out_dir,
                manifest=self.manifest,
                decision=decision,
                params=self.params,
                decision_threshold=self.decision_threshold,
                display=display,
                kinds=self.kinds,
                plan=self.plan,
                overwrite=self.overwrite,
            )
        except (DicomExportError, OSError) as exc:
            return [], str(exc)
        return files, None
