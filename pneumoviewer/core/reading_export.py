"""Export a reading file: ``readings.csv``, reader labels as SIIM run-length, DICOM objects.

Used by ``pneumoviewer readings export`` and the viewer's File -> Export readings; Qt-free.

Reader labels (``readings-rle.csv``, ``ImageId,EncodedPixels``, SIIM relative run-length,
``-1`` for no pneumothorax; ``model_training`` reads it as ground truth, and its name
contains ``rle`` so it is found automatically next to the data) follow these rules:

- the reader drew a mask -> that mask (an empty one means "no pneumothorax");
- else "agree" -> the AI's answer: its mask when it is positive and has one, ``-1`` when
  it is negative (a positive AI without a mask is left out: nothing to copy);
- else "disagree" with a positive AI -> ``-1``; with a negative AI -> left out (the
  reader sees a pneumothorax but drew none);
- "unsure", no verdict, or no AI context for "agree"/"disagree" -> left out.

Every left-out image has its reason in ``readings.csv``'s ``label`` column.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pneumoviewer.core import rle
from pneumoviewer.core.readings import (
    AIContext,
    Reading,
    ReadingFile,
    Verdict,
    ai_context_from_manifest,
    provenance,
)

__all__ = [
    "LABELS_NAME",
    "READINGS_CSV",
    "ReadingsExport",
    "ai_context_from_manifest",
    "ai_positive",
    "export_readings",
    "label_for",
]

READINGS_CSV = "readings.csv"
#: Reader labels; the name contains "rle" so ``find_ground_truth_csv`` picks it up.
LABELS_NAME = "readings-rle.csv"
CSV_COLUMNS = (
    "ImageId",
    "verdict",
    "reader",
    "time",
    "note",
    "ai_probability",
    "ai_decision",
    "model",
    "model_version",
    "weights_sha256",
    "decision_threshold",
    "postprocessing",
    "ai_mask_pixels",
    "reader_mask_pixels",
    "label",
    "source",
    "dicom",
)


def ai_positive(ai: AIContext) -> bool | None:
    """Return whether the AI called the image positive (:meth:`AIContext.positive`)."""
    return ai.positive()


def label_for(reading: Reading) -> tuple[str | None, str]:
    """Return the reader label of one image and why: ``(rle or None, reason)``.

    Returns
    -------
    tuple
        ``(run-length string, "reader mask" | "agrees with AI" | "disagrees with a
        positive AI")`` or ``(None, reason it is left out)``.
    """
    mask = reading.mask()
    if mask is not None:
        return rle.encode(mask), "reader mask"
    if reading.verdict is None:
        return None, "left out: not read"
    if reading.verdict is Verdict.UNSURE:
        return None, "left out: unsure"
    if reading.ai is None:
        return None, "left out: no AI result recorded and no reader mask"
    positive = ai_positive(reading.ai)
    if positive is None:
        return None, "left out: the AI's decision is unknown and no reader mask"
    if reading.verdict is Verdict.AGREE:
        if not positive:
            return rle.EMPTY, "agrees with a negative AI"
        ai_mask = reading.ai.mask()
        if ai_mask is None or not ai_mask.any():
            return None, "left out: agrees with a positive AI that has no mask"
        return rle.encode(ai_mask), "agrees with a positive AI"
    if positive:
        return rle.EMPTY, "disagrees with a positive AI"
    return None, "left out: disagrees with a negative AI but drew no mask"


@dataclass
class ReadingsExport:
    """What :func:`export_readings` wrote and what it could not."""

    readings: int = 0
    labels: int = 0
    dicom_files: list[Path] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (image id, message)
    written: list[Path] = field(default_factory=list)


def _row(reading: Reading, label_reason: str, dicom: str) -> dict[str, str]:
    ai = reading.ai
    prov = provenance(ai, reading)
    ai_mask = None if ai is None else ai.mask()
    reader_mask = reading.mask()
    return {
        "ImageId": reading.image_id,
        "verdict": "" if reading.verdict is None else reading.verdict.value,
        "reader": reading.reader,
        "time": reading.time,
        "note": reading.note,
        "ai_probability": "" if ai is None or ai.probability is None else f"{ai.probability:.6g}",
        "ai_decision": "" if ai is None else (ai.decision_state or ""),
        "model": prov.get("model", ""),
        "model_version": prov.get("model_version", ""),
        "weights_sha256": prov.get("weights_sha256", ""),
        "decision_threshold": prov.get("decision_threshold", ""),
        "postprocessing": prov.get("postprocessing", ""),
        "ai_mask_pixels": "" if ai_mask is None else str(int(ai_mask.sum())),
        "reader_mask_pixels": "" if reader_mask is None else str(int(reader_mask.sum())),
        "label": label_reason,
        "source": reading.source or "",
        "dicom": dicom,
    }


def _csv_text(rows: Sequence[Mapping[str, str]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def export_readings(
    reading_file: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    dicom_kinds: Sequence[str] = ("seg", "sr", "gsps", "sc"),
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    folder: str | os.PathLike[str] | None = None,
) -> ReadingsExport:
    """Write ``readings.csv``, ``readings-rle.csv`` and ``dicom/`` for a reading file.

    Parameters
    ----------
    reading_file : path-like
        The reading file (opened read-only; any study).
    out_dir : path-like
        Created when missing.
    dicom_kinds : sequence of str
        DICOM objects per image (empty: none). An image whose source file is missing or
        lacks something gets a problem entry; the others are still exported.
    overwrite : bool
        Replace existing outputs (without it, existing CSVs are refused before anything
        is written, and existing DICOM files are per-image problems).
    progress : callable, optional
        Called with ``(done, total)`` after each image.
    folder : path-like, optional
        Where to look for source DICOM files (by SOP Instance UID) that are not where the
        reading file recorded them (a moved study or reading file).

    Returns
    -------
    ReadingsExport

    Raises
    ------
    ReadingFileError
        The reading file cannot be opened (not one, newer format, ...).
    FileExistsError
        An output CSV exists and ``overwrite`` is False.
    """
    from pneumoviewer.core.io import atomic_write_text

    out = Path(out_dir)
    targets = [out / READINGS_CSV, out / LABELS_NAME]
    if not overwrite:
        for path in targets:
            if os.path.lexists(path):
                raise FileExistsError(f"{path}: file exists (not overwritten; use overwrite)")
    result = ReadingsExport()
    with ReadingFile(reading_file, study=None, readonly=True) as rf:
        readings = rf.readings()
        sources = {r.image_id: rf.source_path(r) for r in readings}
    if folder is not None and dicom_kinds:
        missing = {i for i, p in sources.items() if p is None or not p.is_file()}
        if missing:
            sources.update(_find_sources(folder, missing))
    out.mkdir(parents=True, exist_ok=True)
    kinds = tuple(dicom_kinds)
    plan = None
    if kinds:
        from pneumoviewer.core.dicom_out import SeriesPlan, parse_kinds

        kinds = parse_kinds(kinds)
        plan = SeriesPlan()
    rows, labels = [], []
    for done, reading in enumerate(readings, start=1):
        label, reason = label_for(reading)
        if label is not None:
            labels.append({"ImageId": reading.image_id, "EncodedPixels": label})
        dicom = ""
        if kinds:
            dicom = _export_dicom(
                reading, sources[reading.image_id], out, kinds, plan, overwrite, result
            )
        rows.append(_row(reading, reason, dicom))
        if progress is not None:
            progress(done, len(readings))
    result.readings = len(rows)
    result.labels = len(labels)
    result.written.append(
        atomic_write_text(targets[0], _csv_text(rows, CSV_COLUMNS), overwrite=overwrite)
    )
    result.written.append(
        atomic_write_text(
            targets[1], _csv_text(labels, ("ImageId", "EncodedPixels")), overwrite=overwrite
        )
    )
    return result


def _find_sources(folder: str | os.PathLike[str], image_ids: set[str]) -> dict[str, Path]:
    """Map the given image ids to DICOM files found under ``folder`` (header-only scan)."""
    from pneumoviewer.core.studies import ScanProblem, scan_folder

    found: dict[str, Path] = {}
    for entry in scan_folder(folder):
        if not isinstance(entry, ScanProblem) and entry.image_id in image_ids:
            found.setdefault(entry.image_id, entry.path)
    return found


def _export_dicom(
    reading: Reading,
    source: Path | None,
    out: Path,
    kinds: tuple[str, ...],
    plan: Any,
    overwrite: bool,
    result: ReadingsExport,
) -> str:
    from pneumoviewer.core.dicom_out import DicomExportError, export_image

    if reading.ai is None and reading.mask_rle is None:
        return "nothing to export (no AI result, no reader mask)"
    if source is None:
        result.problems.append((reading.image_id, "no source DICOM file recorded"))
        return "no source file recorded"
    if not source.is_file():
        result.problems.append((reading.image_id, f"{source}: source DICOM file not found"))
        return "source file not found"
    try:
        files = export_image(
            source,
            out / "dicom",
            ai=reading.ai,
            reading=reading,
            kinds=kinds,
            plan=plan,
            overwrite=overwrite,
        )
    except (DicomExportError, OSError) as exc:
        result.problems.append((reading.image_id, str(exc)))
        return f"not exported: {exc}"
    result.dicom_files.extend(files)
    return " ".join(f"dicom/{p.name}" for p in files)
