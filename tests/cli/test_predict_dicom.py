"""`pneumoviewer predict --dicom`: the AI's SEG / SR / GSPS / SC for every image (#9)."""

from __future__ import annotations

import csv
import json
import shutil

import highdicom as hd
import numpy as np
import pydicom
import pytest
import torch
from pydicom.sr.codedict import codes

from pneumoviewer.cli import main
from pneumoviewer.core import rle
from tests.dicom_checks import check_dicom

pytestmark = pytest.mark.filterwarnings("ignore:End of file reached:UserWarning")


@pytest.fixture(scope="module")
def run(samples_dir, tiny_model_dir, tmp_path_factory):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    study = tmp_path_factory.mktemp("study")
    ids = sorted(p.stem for p in samples_dir.glob("*.dcm"))[:3]
    for image_id in ids:
        shutil.copy(samples_dir / f"{image_id}.dcm", study)
    (study / "junk.dcm").write_text("not a DICOM file\n")
    out = tmp_path_factory.mktemp("out") / "result"
    args = ["predict", str(study), "--out", str(out), "--model", str(tiny_model_dir)]
    rc = main([*args, "--no-progress", "--no-png", "--dicom", "seg,sr,gsps,sc"])
    torch.set_num_threads(before)
    return rc, out, ids


def test_every_image_gets_its_objects(run):
    rc, out, ids = run
    assert rc == 0
    names = sorted(p.name for p in (out / "dicom").iterdir())
    assert names == sorted(f"{i}_{k}.dcm" for i in ids for k in ("seg", "sr", "gsps", "sc"))


def test_objects_round_trip_the_predictions(run, tiny_model_dir):
    _, out, ids = run
    model_name = json.loads((tiny_model_dir / "manifest.json").read_text())["name"]
    with open(out / "predictions.csv", newline="") as fh:
        rows = {r["ImageId"]: r for r in csv.DictReader(fh)}
    with open(out / "submission.csv", newline="") as fh:
        masks = {r["ImageId"]: r["EncodedPixels"] for r in csv.DictReader(fh)}
    for image_id in ids:
        sr = hd.sr.srread(out / "dicom" / f"{image_id}_sr.dcm")
        (group,) = sr.content.get_image_measurement_groups()
        (p,) = group.get_measurements(name=codes.DCM.Probability)
        assert p.value == pytest.approx(float(rows[image_id]["probability"]), abs=1e-5)
        seg = hd.seg.segread(out / "dicom" / f"{image_id}_seg.dcm")
        got = seg.get_pixels_by_source_instance([image_id], segment_numbers=[1])[0, :, :, 0]
        np.testing.assert_array_equal(got.astype(bool), rle.decode(masks[image_id]))
        algorithm = seg.get_segment_description(1).algorithm_identification[0]
        assert algorithm.AlgorithmName == model_name
        sc = pydicom.dcmread(out / "dicom" / f"{image_id}_sc.dcm", stop_before_pixels=True)
        assert sc.BurnedInAnnotation == "YES" and "Decision:" in sc.ImageComments


def test_every_object_reads_back_and_passes_dciodvfy(run):
    _, out, _ = run
    check_dicom(sorted((out / "dicom").glob("*.dcm")))  # 3 images x SEG, SR, GSPS, SC


def test_bad_kind_is_a_usage_error(tmp_path, capsys):
    assert main(["predict", str(tmp_path), "--out", str(tmp_path / "o"), "--dicom", "pdf"]) == 2
    assert "unknown DICOM object kind" in capsys.readouterr().err
