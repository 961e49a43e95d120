from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from model_training.records import Record
from model_training.splits import (
    SplitConfig,
    make_split,
    read_split_csv,
    select_subset,
    write_split_csv,
)


def _records(n_patients=60, per_patient=2):
    out = []
    for p in range(n_patients):
        for k in range(per_patient):
            positive = p % 3 == 0  # a third of the patients are positive
            out.append(Record(f"img{p:03d}_{k}", Path(f"/x/{p}_{k}.dcm"), positive, f"pat{p:03d}"))
    return out


def test_split_is_deterministic_and_order_independent():
    recs = _records()
    cfg = SplitConfig(val_fraction=0.2, test_fraction=0.2, seed=7)
    a = make_split(recs, cfg)
    b = make_split(list(reversed(recs)), cfg)
    assert a == b
    assert make_split(recs, SplitConfig(val_fraction=0.2, test_fraction=0.2, seed=8)) != a
    assert set(a) == {r.image_id for r in recs}


def test_split_is_grouped_by_patient_and_stratified():
    recs = _records()
    a = make_split(recs, SplitConfig(val_fraction=0.2, test_fraction=0.2, seed=0))
    by_patient: dict[str, set[str]] = {}
    for r in recs:
        by_patient.setdefault(r.patient_id, set()).add(a[r.image_id])
    assert all(len(s) == 1 for s in by_patient.values())
    # 20 positive and 40 negative patients: 4+8 test, 3+6 val (rounded fractions)
    pos = Counter(a[r.image_id] for r in recs if r.positive)
    neg = Counter(a[r.image_id] for r in recs if not r.positive)
    assert pos == {"test": 8, "val": 6, "train": 26}
    assert neg == {"test": 16, "val": 12, "train": 52}


def test_images_without_patient_are_their_own_group():
    recs = [Record(f"i{k}", Path("x"), k < 5, None) for k in range(10)]
    a = make_split(recs, SplitConfig(val_fraction=0.2, test_fraction=0.2))
    # 5 positives, 5 negatives: one of each in val and in test
    for split in ("val", "test"):
        chosen = [r for r in recs if a[r.image_id] == split]
        assert sorted(r.positive for r in chosen) == [False, True]


def test_subset_is_balanced_and_seeded():
    recs = _records()
    s = select_subset(recs, 10, seed=3)
    assert len(s) == 10 and sum(r.positive for r in s) == 5
    assert s == select_subset(list(reversed(recs)), 10, seed=3)
    # not enough positives: negatives fill up
    few = [r for r in recs if not r.positive][:20] + [r for r in recs if r.positive][:2]
    s2 = select_subset(few, 10)
    assert len(s2) == 10 and sum(r.positive for r in s2) == 2


def test_split_csv_round_trip(tmp_path):
    recs = _records(10, 1)
    a = make_split(recs, SplitConfig())
    path = write_split_csv(tmp_path / "split.csv", recs, a)
    assert read_split_csv(path) == a
    header = path.read_text().splitlines()[0]
    assert header == "image_id,split,positive,patient_id,path"


def test_bad_split_csv_names_file_and_line(tmp_path):
    from pneumoviewer.core.errors import GroundTruthError

    p = tmp_path / "split.csv"
    p.write_text("image_id,split\nabc,train\ndef,holdout\n")
    with pytest.raises(GroundTruthError, match=r"split\.csv, line 3"):
        read_split_csv(p)
