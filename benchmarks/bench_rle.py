"""Run-length decoding benchmark: ``rle.decode`` vs the SIIM competition's loop decoder.

Usage::

    .venv/bin/python benchmarks/bench_rle.py [--csv PATH] [--repeats 3] [--encode-sample 5]

Decodes every row of ``siim-train-rle.csv.gz`` (12,954 rows, 1024 x 1024) with

* baseline: the competition's ``mask_functions.rle2mask`` (written here from its
  description: a Python loop over the pairs that fills a flat float mask with 255, then
  ``reshape(width, height)`` and ``.T`` at the call site);
* ours: ``pneumoviewer.core.rle.decode`` (vectorised, orientation inside);

checks that every mask is identical, and prints both times and the speed-up (target
>= 10x). It also times ``encode`` against the competition's per-pixel ``mask2rle`` loop
on a few positive masks (that loop is too slow for the whole table).
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from pneumoviewer.core import rle

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CSV = REPO.parent / "shared" / "data" / "siim-train-rle.csv.gz"


def rle2mask(encoded: str, width: int, height: int) -> np.ndarray:
    """The SIIM competition's decoder (mask_functions.rle2mask), loop and all."""
    mask = np.zeros(width * height)
    array = np.asarray([int(x) for x in encoded.split()])
    starts = array[0::2]
    lengths = array[1::2]
    current_position = 0
    for index, start in enumerate(starts):
        current_position += start
        mask[current_position : current_position + lengths[index]] = 255
        current_position += lengths[index]
    return mask.reshape(width, height)


def mask2rle(img: np.ndarray, width: int, height: int) -> str:
    """The SIIM competition's encoder (mask_functions.mask2rle): a per-pixel loop."""
    out = []
    last_color = 0
    current_pixel = 0
    run_start = -1
    run_length = 0
    for x in range(width):
        for y in range(height):
            current_color = img[x][y]
            if current_color != last_color:
                if current_color == 255:
                    run_start = current_pixel
                    run_length = 1
                else:
                    out.append(str(run_start))
                    out.append(str(run_length))
                    run_start = -1
                    run_length = 0
                    current_pixel = 0
            elif run_start > -1:
                run_length += 1
            last_color = current_color
            current_pixel += 1
    return " ".join(out)


def baseline_decode(encoded: str) -> np.ndarray:
    if encoded.strip() == "-1":
        return np.zeros((1024, 1024), dtype=bool)
    return rle2mask(encoded, 1024, 1024).T > 0


def baseline_float(encoded: str) -> np.ndarray:
    if encoded.strip() == "-1":
        return np.zeros((1024, 1024))
    return rle2mask(encoded, 1024, 1024).T


def load_rows(path: Path) -> list[tuple[str, str]]:
    lines = gzip.open(path, "rt", encoding="utf-8-sig").read().splitlines()[1:]
    rows = []
    for line in lines:
        image_id, encoded = line.split(",", 1)
        rows.append((image_id, encoded.strip()))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="SIIM train RLE table")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds of each (3)")
    parser.add_argument("--encode-sample", type=int, default=5, help="masks for encode timing (5)")
    args = parser.parse_args(argv)
    if not args.csv.is_file():
        print(f"{args.csv} not found; pass --csv", file=sys.stderr)
        return 2
    rows = load_rows(args.csv)
    texts = [encoded for _, encoded in rows]
    print(f"table: {args.csv} ({len(rows)} rows, {sum(t != '-1' for t in texts)} with a region)")

    mismatches = sum(
        not np.array_equal(baseline_decode(t), rle.decode(t, image_id=i)) for i, t in rows
    )
    if args.repeats < 1:
        return 0 if mismatches == 0 else 1
    print(f"masks identical: {len(rows) - mismatches}/{len(rows)}")

    positive_texts = [t for t in texts if t != "-1"]
    contenders = {
        "baseline rle2mask(...).T > 0 (bool mask)": baseline_decode,
        "baseline rle2mask(...).T (float 0/255 view, as in the competition)": baseline_float,
        "pneumoviewer rle.decode (bool, C-contiguous)": rle.decode,
    }
    for label, subset in (("all rows", texts), ("rows with a region", positive_texts)):
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for r in range(args.repeats):
            names = list(contenders) if r % 2 == 0 else list(reversed(contenders))
            for name in names:
                function = contenders[name]
                start = time.perf_counter()
                for t in subset:
                    function(t)
                times[name].append(time.perf_counter() - start)
        medians = {name: statistics.median(v) for name, v in times.items()}
        ours = medians["pneumoviewer rle.decode (bool, C-contiguous)"]
        print(f"-- decode {label} ({len(subset)} rows), median of {args.repeats}:")
        for name, m in medians.items():
            print(f"   {name}: {m:.2f} s ({m / len(subset) * 1e3:.3f} ms/row)")
        for name, m in medians.items():
            if name.startswith("baseline"):
                print(f"   speed-up vs {name.split(' (')[0]}: {m / ours:.1f}x  (target >= 10x)")

    positives = [t for t in texts if t != "-1"][: args.encode_sample]
    masks = [rle.decode(t) for t in positives]
    start = time.perf_counter()
    base_strings = [mask2rle(m.T.astype(np.uint8) * 255, 1024, 1024) for m in masks]
    tb = time.perf_counter() - start
    start = time.perf_counter()
    ours = [rle.encode(m) for m in masks]
    to = time.perf_counter() - start
    same = sum(a == b == t for a, b, t in zip(base_strings, ours, positives, strict=True))
    print(
        f"encode on {len(masks)} masks: baseline mask2rle {tb / len(masks) * 1e3:.0f} ms/mask, "
        f"rle.encode {to / len(masks) * 1e3:.2f} ms/mask, speed-up {tb / to:.0f}x, "
        f"identical strings {same}/{len(masks)}"
    )
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
