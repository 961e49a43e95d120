"""Streaming outputs and ``--resume`` for ``pneumoviewer predict``.

As each image finishes, its row is appended to ``predictions.csv`` (and ``submission.csv``)
and one JSON line to the journal ``.predict-journal.jsonl``: the numbers the folder summary
needs (full precision), and the image's problem if any. Files are flushed per row and
fsynced every :data:`FSYNC_EVERY` rows and at the end; the journal line is written after
the CSV rows, so an image in the journal has its rows on disk.

``predict-run.json`` (the run manifest) records the settings that shape the outputs and the
sha256 of the model's files. ``--resume`` refuses a folder whose manifest differs, keeps the
rows of the images in the journal (a row cut by a kill is dropped), and goes on with the
others; the final files are those of an uninterrupted run.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import IO

from pneumoviewer.core.io import atomic_write_text

__all__ = [
    "FSYNC_EVERY",
    "JOURNAL_NAME",
    "RUN_MANIFEST_NAME",
    "Journal",
    "RowWriter",
    "check_resume",
    "read_journal",
    "truncate_csv",
]

RUN_MANIFEST_NAME = "predict-run.json"
JOURNAL_NAME = ".predict-journal.jsonl"
FSYNC_EVERY = 32


def _line(row) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    return buf.getvalue()


class RowWriter:
    """Append CSV rows (or JSON lines) to a file: flush per row, fsync every few rows."""

    def __init__(self, path: Path, *, header=None, append: bool = False) -> None:
        self.path = path
        if not append:
            atomic_write_text(path, "" if header is None else _line(header), overwrite=True)
        self._f: IO[str] = open(path, "a", encoding="utf-8", newline="")  # noqa: SIM115
        self._unsynced = 0

    def write_text(self, text: str) -> None:
        """Append ``text`` (one record) and flush it."""
        self._f.write(text)
        self._f.flush()
        self._unsynced += 1
        if self._unsynced >= FSYNC_EVERY:
            self.sync()

    def write_row(self, row) -> None:
        """Append one CSV row."""
        self.write_text(_line(row))

    def sync(self) -> None:
        """Flush and fsync."""
        self._f.flush()
        os.fsync(self._f.fileno())
        self._unsynced = 0

    def close(self) -> None:
        """Fsync and close."""
        if not self._f.closed:
            self.sync()
            self._f.close()


def _num(v):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return None
    return v


class Journal(RowWriter):
    """The run's journal: one JSON object per line (``image`` or ``problem`` records)."""

    def image(self, outcome, *, status: str, problem: tuple[str, str] | None) -> None:
        """Record a finished image (its summary numbers, full precision, and its problem)."""
        rec = {
            "t": "image",
            "id": outcome.image_id,
            "status": status,
            "truth": outcome.truth_positive,
            "p": _num(outcome.probability),
            "pos": outcome.positive,
            "dice": _num(outcome.dice),
            "refused": bool(outcome.refused),  # the input-quality gate (#10)
            "problem": list(problem) if problem else None,
        }
        self.write_text(json.dumps(rec, ensure_ascii=False) + "\n")

    def problem(self, path: str, message: str) -> None:
        """Record a problem that is not an image's row (a PNG not written)."""
        rec = {"t": "problem", "problem": [path, message]}
        self.write_text(json.dumps(rec, ensure_ascii=False) + "\n")


def read_journal(path: Path) -> list[dict]:
    """Return the journal's complete records (a line cut by a kill is ignored)."""
    if not path.is_file():
        return []
    out = []
    with open(path, encoding="utf-8", newline="") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            try:
                out.append(json.loads(line))
            except ValueError:
                break
    return out


def truncate_csv(path: Path, keep: set[str]) -> int:
    """Rewrite ``path`` with its header and the complete rows whose first cell is in ``keep``.

    Returns the number of rows kept. A missing file is written with no rows (header
    unknown: the caller rewrites it).
    """
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()  # cut by the kill
    if not lines:
        return 0
    kept = [lines[0]]
    seen: set[str] = set()
    for line in lines[1:]:
        try:
            first = next(csv.reader([line]))[0]
        except (StopIteration, csv.Error, IndexError):
            continue
        if first in keep and first not in seen:
            seen.add(first)
            kept.append(line)
    atomic_write_text(path, "".join(kept), overwrite=True)
    return len(kept) - 1


def check_resume(out: Path, settings: dict) -> None:
    """Raise ValueError (a sentence) when ``out`` cannot be resumed with ``settings``."""
    path = out / RUN_MANIFEST_NAME
    if not path.is_file():
        raise ValueError(
            f"{out}: nothing to resume ({RUN_MANIFEST_NAME} not found); run without --resume"
        )
    try:
        old = json.loads(path.read_text(encoding="utf-8")).get("settings", {})
    except (OSError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: unreadable run manifest ({exc}); run without --resume") from exc
    diffs = [
        f"{k}: {old.get(k)!r} then, {settings.get(k)!r} now"
        for k in sorted(set(old) | set(settings))
        if old.get(k) != settings.get(k)
    ]
    if diffs:
        raise ValueError(
            f"{out} holds a run with other settings or another model; --resume refused ("
            + "; ".join(diffs[:6])
            + (f"; and {len(diffs) - 6} more" if len(diffs) > 6 else "")
            + "). Use another --out, or --overwrite to start again."
        )


def write_run_manifest(out: Path, settings: dict, *, complete: bool) -> None:
    """Write ``predict-run.json`` (settings + whether the run finished)."""
    data = {"format_version": 1, "complete": complete, "settings": settings}
    atomic_write_text(out / RUN_MANIFEST_NAME, json.dumps(data, indent=2) + "\n", overwrite=True)
