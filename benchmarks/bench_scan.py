"""Folder scan benchmark: ``scan_folder`` vs a bare ``pydicom.dcmread`` loop.

Usage::

    .venv/bin/python benchmarks/bench_scan.py [--files 3000] [--repeats 5] [--source DIR]

Builds once (cached under ``benchmarks/_work/``, git-ignored) a folder of ``--files``
DICOM files from the 200 SIIM stage-2 files of ``../shared/data/stage2-unlabeled``, under
new names in nested folders (every third name has no ``.dcm`` suffix). By default each copy
is rewritten with a new SOPInstanceUID, so the folder looks like a real archive of distinct
images; ``--links`` hard-links the files instead (same UIDs: all but 200 are reported as
duplicates). Then, in one process, alternating the order, it times:

* bare: ``for p in files: pydicom.dcmread(p, stop_before_pixels=True)`` over a file list
  made beforehand (the walk is NOT timed);
* scan: ``list(scan_folder(folder))``, which includes the walk, the DICM check, the header
  parse, the check that the file is long enough for its pixel data (truncated copies), the
  metadata objects and duplicate detection.

Prints the median (and best) seconds and microseconds per file of both and the ratio
scan / bare (target <= 1.0).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from pneumoviewer.core.studies import ScanProblem, StudyEntry, scan_folder

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "stage2-unlabeled"
WORK = REPO / "benchmarks" / "_work"


def build_folder(source: Path, n_files: int, *, links: bool = False) -> Path:
    """Create (once) ``_work/scan_<n>[_links]/`` with ``n_files`` copies of the sources.

    Copies get a fresh SOPInstanceUID each; with ``links`` they are hard links instead.
    """
    sources = sorted(p for p in source.iterdir() if p.suffix == ".dcm")
    if not sources:
        raise SystemExit(f"no .dcm files in {source}")
    folder = WORK / (f"scan_{n_files}_links" if links else f"scan_{n_files}")
    marker = folder / ".complete"
    if marker.exists():
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    for i in range(n_files):
        src = sources[i % len(sources)]
        sub = folder / f"site_{i // 500:02d}" / f"day_{(i // 50) % 10:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        name = f"img_{i:05d}" + ("" if i % 3 == 0 else ".dcm")
        if not links:
            ds = pydicom.dcmread(src)
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.save_as(sub / name)
            continue
        try:
            os.link(src, sub / name)
        except OSError:
            shutil.copyfile(src, sub / name)
    marker.write_text("ok\n")
    return folder


def list_files(folder: Path) -> list[str]:
    """All non-hidden files under ``folder``, sorted (made before timing the bare loop)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out.extend(os.path.join(dirpath, f) for f in sorted(filenames) if not f.startswith("."))
    return out


def time_bare(files: list[str]) -> float:
    start = time.perf_counter()
    for p in files:
        pydicom.dcmread(p, stop_before_pixels=True)
    return time.perf_counter() - start


def time_scan(folder: Path) -> tuple[float, int, int]:
    start = time.perf_counter()
    items = list(scan_folder(folder))
    elapsed = time.perf_counter() - start
    entries = sum(isinstance(i, StudyEntry) for i in items)
    problems = sum(isinstance(i, ScanProblem) for i in items)
    return elapsed, entries, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=3000, help="files in the folder (3000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds of each (5)")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="DICOMs to copy")
    parser.add_argument(
        "--links", action="store_true", help="hard links (duplicate UIDs) instead of copies"
    )
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        print(f"source folder {args.source} not found; pass --source", file=sys.stderr)
        return 2
    folder = build_folder(args.source, args.files, links=args.links)
    files = list_files(folder)
    print(f"folder: {folder} ({len(files)} files, nested, 1/3 without .dcm suffix)")
    time_bare(files)  # warm the page cache for both
    time_scan(folder)
    bare, scan = [], []
    counts = (0, 0)
    for r in range(args.repeats):
        if r % 2 == 0:
            bare.append(time_bare(files))
            t, *counts = time_scan(folder)
            scan.append(t)
        else:
            t, *counts = time_scan(folder)
            scan.append(t)
            bare.append(time_bare(files))
    n = len(files)
    mb, ms = statistics.median(bare), statistics.median(scan)
    print(f"scan result: {counts[0]} entries, {counts[1]} problems")
    print(
        f"bare dcmread(stop_before_pixels) loop: median {mb:.3f} s "
        f"(best {min(bare):.3f} s), {mb / n * 1e6:.0f} us/file"
    )
    print(
        f"list(scan_folder(folder)) incl. walk: median {ms:.3f} s "
        f"(best {min(scan):.3f} s), {ms / n * 1e6:.0f} us/file"
    )
    print(f"ratio scan/bare (median): {ms / mb:.2f}  (target <= 1.0)")
    print(f"ratio scan/bare (best):   {min(scan) / min(bare):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
