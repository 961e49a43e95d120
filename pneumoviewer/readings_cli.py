"""``pneumoviewer readings export READING_FILE --out DIR``: a reading file's results out.

Writes ``DIR/readings.csv`` (one row per image read: verdict, reader, time, note, AI
probability, model, thresholds, label), ``DIR/readings-rle.csv`` (the reader's labels as a
SIIM run-length CSV that ``pneumoviewer-train`` accepts as ground truth) and the DICOM
objects under ``DIR/dicom/``. Neither torch nor Qt is imported.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

__all__ = ["main", "readings_parser"]


def readings_parser() -> argparse.ArgumentParser:
    """Return the parser of ``pneumoviewer readings``."""
    parser = argparse.ArgumentParser(
        prog="pneumoviewer readings",
        description="Work with reading files (a reader's verdicts, notes and masks).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    export = sub.add_parser(
        "export",
        help="write readings.csv, the reader labels (run-length CSV) and DICOM objects",
        description="Write DIR/readings.csv, DIR/readings-rle.csv (the reader's masks as SIIM "
        "run-length ground truth) and DIR/dicom/<ImageId>_{seg,sr,gsps,sc}.dcm.",
    )
    export.add_argument(
        "reading_file",
        type=Path,
        metavar="READING_FILE",
        help="the reading file (by default FOLDER/.pneumoviewer-readings.sqlite)",
    )
    export.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    export.add_argument(
        "--dicom",
        default="seg,sr,gsps,sc",
        metavar="KINDS",
        help="DICOM objects per image, comma-separated among seg,sr,gsps,sc "
        "(default: all; 'none' for no DICOM)",
    )
    export.add_argument(
        "--folder",
        type=Path,
        default=None,
        metavar="STUDY",
        help="look for source DICOM files here (by SOP Instance UID) when they are not "
        "where the reading file recorded them",
    )
    export.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    return parser


def _export(args: argparse.Namespace, stderr: TextIO) -> int:
    from pneumoviewer.core.errors import PneumoviewerError
    from pneumoviewer.core.reading_export import export_readings

    kinds: tuple[str, ...] = ()
    if args.dicom.strip().lower() not in ("", "none"):
        from pneumoviewer.core.dicom_out import parse_kinds

        try:
            kinds = parse_kinds(args.dicom)
        except ValueError as exc:
            print(f"pneumoviewer readings export: error: --dicom: {exc}", file=stderr)
            return 2
    if args.folder is not None and not args.folder.is_dir():
        print(f"pneumoviewer readings export: error: {args.folder}: folder not found", file=stderr)
        return 2
    if not args.reading_file.is_file():
        print(
            f"pneumoviewer readings export: error: {args.reading_file}: no such reading file",
            file=stderr,
        )
        return 2
    try:
        result = export_readings(
            args.reading_file,
            args.out,
            dicom_kinds=kinds,
            overwrite=args.overwrite,
            folder=args.folder,
        )
    except (PneumoviewerError, FileExistsError) as exc:
        print(f"pneumoviewer readings export: error: {exc}", file=stderr)
        return 2
    for image_id, problem in result.problems:
        print(f"pneumoviewer readings export: {image_id}: {problem}", file=stderr)
    print(
        f"{result.readings} readings, {result.labels} labels, {len(result.dicom_files)} DICOM "
        f"files, {len(result.problems)} problems -> {args.out}",
        file=stderr,
    )
    return 0 if result.readings else 1


def main(argv: Sequence[str], *, stderr: TextIO | None = None) -> int:
    """Run ``pneumoviewer readings ...`` (``argv`` without ``readings``); return the exit code.

    0: done (per-image DICOM problems are reported on stderr and in readings.csv);
    1: the reading file holds no reading; 2: usage error (missing or refused reading file,
    existing outputs without ``--overwrite``, unknown DICOM kind).
    """
    stderr = sys.stderr if stderr is None else stderr
    args = readings_parser().parse_args(list(argv))
    if args.command == "export":
        return _export(args, stderr)
    return 2  # pragma: no cover - argparse requires a command
