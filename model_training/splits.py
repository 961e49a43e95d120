"""Deterministic, stratified, patient-grouped train/val/test splits, and balanced subsets."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_training.records import Record

SPLITS = ("train", "val", "test")
SPLIT_COLUMNS = ("image_id", "split", "positive", "patient_id", "path")


@dataclass(frozen=True, slots=True, kw_only=True)
class SplitConfig:
    """Fractions of groups held out for validation and test, and the shuffling seed."""

    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0


def _held_out(n: int, fraction: float) -> int:
    """Return how many of ``n`` groups to hold out (rounded; at least one when n >= 3)."""
    if fraction <= 0 or n == 0:
        return 0
    k = int(round(n * fraction))
    return max(k, 1) if n >= 3 else k


def make_split(records: Sequence[Record], config: SplitConfig = SplitConfig()) -> dict[str, str]:
    """Assign each image to "train", "val" or "test".

    Images are grouped by ``patient_id`` (an image without one is its own group), a group is
    positive when any of its images is, and positive and negative groups are split
    separately in the given fractions (stratification). The result depends only on the
    records' ids, labels and patients and on the seed, not on their order.

    Parameters
    ----------
    records : sequence of Record
        The labelled images.
    config : SplitConfig
        Fractions and seed.

    Returns
    -------
    dict
        image_id -> split name.
    """
    groups: dict[str, list[Record]] = {}
    for r in records:
        key = f"patient:{r.patient_id}" if r.patient_id else f"image:{r.image_id}"
        groups.setdefault(key, []).append(r)
    rng = np.random.default_rng(config.seed)
    assignment: dict[str, str] = {}
    for positive in (True, False):
        keys = sorted(k for k, rs in groups.items() if any(r.positive for r in rs) == positive)
        order = rng.permutation(len(keys))
        keys = [keys[i] for i in order]
        n_test = _held_out(len(keys), config.test_fraction)
        n_val = _held_out(len(keys) - n_test, config.val_fraction)
        for i, key in enumerate(keys):
            split = "test" if i < n_test else "val" if i < n_test + n_val else "train"
            for r in groups[key]:
                assignment[r.image_id] = split
    return assignment


def select_subset(records: Sequence[Record], n: int, *, seed: int = 0) -> list[Record]:
    """Return a balanced subset: ``n // 2`` positive and ``n - n // 2`` negative images (seeded).

    When one class has too few images the other fills the remainder. The returned list is
    sorted by image id.
    """
    rng = np.random.default_rng(seed)
    pos = sorted((r for r in records if r.positive), key=lambda r: r.image_id)
    neg = sorted((r for r in records if not r.positive), key=lambda r: r.image_id)
    want_pos = min(len(pos), n // 2)
    want_neg = min(len(neg), n - want_pos)
    want_pos = min(len(pos), n - want_neg)
    chosen = [pos[i] for i in rng.permutation(len(pos))[:want_pos]]
    chosen += [neg[i] for i in rng.permutation(len(neg))[:want_neg]]
    return sorted(chosen, key=lambda r: r.image_id)


def write_split_csv(
    path: str | Path, records: Sequence[Record], assignment: dict[str, str]
) -> Path:
    """Write ``image_id,split,positive,patient_id,path`` rows atomically, sorted by image id."""
    from pneumoviewer.core.io import atomic_write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(SPLIT_COLUMNS)
    for r in sorted(records, key=lambda r: r.image_id):
        if r.image_id in assignment:
            row = [r.image_id, assignment[r.image_id], int(r.positive), r.patient_id or ""]
            writer.writerow([*row, str(r.path)])
    return atomic_write_text(path, buf.getvalue(), overwrite=True)


def read_split_csv(path: str | Path) -> dict[str, str]:
    """Read a split CSV written by :func:`write_split_csv`: image_id -> split name."""
    from pneumoviewer.core.errors import GroundTruthError

    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise GroundTruthError(path, f"cannot read split file ({exc.strerror})") from exc
    out: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        split = (row.get("split") or "").strip()
        image_id = (row.get("image_id") or "").strip()
        if split not in SPLITS or not image_id:
            raise GroundTruthError(path, f"bad split row {row!r}", line=line)
        out[image_id] = split
    return out


def apply_split(records: Sequence[Record], assignment: dict[str, str], split: str) -> list[Record]:
    """Return the records assigned to ``split`` (records not in the assignment are dropped)."""
    return [r for r in records if assignment.get(r.image_id) == split]
