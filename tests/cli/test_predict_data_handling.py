"""`pneumoviewer predict` with messy data (issue #7 §4): a bad ground-truth row for one
image, a bad CSV line, a damaged copy of an image listed before a good one, files that are
not DICOM."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch

from pneumoviewer.cli import main

POSITIVE = "1.2.276.0.7230010.3.1.4.8323329.4904.1517875185.355709"
NEGATIVE = "1.2.276.0.7230010.3.1.4.8323329.1000.1517875165.878027"
DUPLICATED = "1.2.276.0.7230010.3.1.4.8323329.10000.1517875220.938530"


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _damage_jpeg_start(data: bytes) -> bytes:
    start = data.index(b"\xff\xd8\xff", data.index(b"\xe0\x7f\x10\x00"))
    return data[:start] + b"\x00\x00\x00" + data[start + 3 :]


@pytest.fixture(scope="module")
def run(samples_dir, sample_csv, tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("messy")
    for image_id in (POSITIVE, NEGATIVE):
        shutil.copy(samples_dir / f"{image_id}.dcm", folder)
    data = (samples_dir / f"{DUPLICATED}.dcm").read_bytes()
    (folder / "a_damaged_copy.dcm").write_bytes(_damage_jpeg_start(data))  # listed first
    (folder / "b_good_copy.dcm").write_bytes(data)
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    (folder / "blob").write_bytes(b"\x01\x02 not dicom" * 20)
    lines = sample_csv.read_text(encoding="utf-8-sig").splitlines()
    kept = [ln for ln in lines if not ln.startswith(POSITIVE)]
    kept.append(f"{POSITIVE}, 5 10 7")  # odd count of numbers: a malformed row
    kept.append("a line without the comma")  # a bad CSV line
    (folder / "train-rle.csv").write_text("\n".join(kept) + "\n", encoding="utf-8")
    out = tmp_path_factory.mktemp("out") / "result"
    rc = main(
        ["predict", str(folder), "--out", str(out), "--model", str(tiny_model_dir)]
        + ["--no-progress", "--workers", "2"]
    )
    return rc, folder, out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_bad_truth_row_blanks_only_that_images_truth(run):
    rc, _, out = run
    assert rc == 0
    preds = {r["ImageId"]: r for r in _rows(out / "predictions.csv")}
    assert set(preds) == {POSITIVE, NEGATIVE, DUPLICATED}
    assert preds[POSITIVE]["status"] == "ok" and preds[POSITIVE]["gt_label"] == ""
    assert preds[POSITIVE]["dice"] == "" and "ground truth not used" in preds[POSITIVE]["error"]
    assert preds[NEGATIVE]["gt_label"] == "0" and preds[NEGATIVE]["error"] == ""
    submission = {r["ImageId"] for r in _rows(out / "submission.csv")}
    assert submission == {POSITIVE, NEGATIVE, DUPLICATED}
    assert (out / "png" / f"{POSITIVE}.png").is_file()
    problems = [(Path(p["file"]).name, p["problem"]) for p in _rows(out / "problems.csv")]
    (truth_problem,) = [p for name, p in problems if name == f"{POSITIVE}.dcm"]
    assert "ground truth not used for this image" in truth_problem and "line" in truth_problem


def test_damaged_copy_falls_back_to_the_good_duplicate(run):
    _, folder, out = run
    preds = {r["ImageId"]: r for r in _rows(out / "predictions.csv")}
    assert preds[DUPLICATED]["status"] == "ok"
    assert (out / "png" / f"{DUPLICATED}.png").is_file()
    problems = {Path(p["file"]).name: p["problem"] for p in _rows(out / "problems.csv")}
    assert problems["b_good_copy.dcm"].startswith("duplicate:")
    assert problems["photo.png"] == "skipped: a PNG picture, not a DICOM file"
    assert problems["blob"] == "skipped: not a DICOM file"
    # the ground truth is not a skipped file, but its bad line is listed
    assert "line skipped" in problems["train-rle.csv"]
    assert "a line without the comma" in problems["train-rle.csv"]
