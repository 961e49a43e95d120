"""``pneumoviewer readings export``: CSV, reader labels, DICOM objects, problems, refusals."""

from __future__ import annotations

import csv
import io
import shutil

import numpy as np
import pytest

from pneumoviewer.cli import main
from pneumoviewer.core import rle
from pneumoviewer.core.ground_truth import read_rle_csv
from pneumoviewer.core.readings import AIContext, ReadingFile, Verdict
from tests.dicom_checks import check_dicom
from tests.reading_samples import make_sample_reading


@pytest.fixture(scope="module")
def exported(samples_dir, sample_csv, tmp_path_factory):
    root = tmp_path_factory.mktemp("readings")
    reading_file = root / "study.sqlite"
    expected = make_sample_reading(reading_file, samples_dir, sample_csv)
    with ReadingFile(reading_file, study=str(samples_dir)) as rf:  # a reading whose file is gone
        rf.set_verdict(
            "ghost", Verdict.AGREE, ai=AIContext(probability=0.2), source=root / "gone.dcm"
        )
    err = io.StringIO()
    out = root / "out"
    from pneumoviewer.readings_cli import main as readings_main

    rc = readings_main(["export", str(reading_file), "--out", str(out)], stderr=err)
    return rc, err.getvalue(), out, expected, reading_file


def rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_exit_code_and_problem_report(exported):
    rc, err, *_ = exported
    assert rc == 0
    assert "ghost:" in err and "gone.dcm: source DICOM file not found" in err
    assert "11 readings, 8 labels, 36 DICOM files, 1 problems" in err


def test_readings_csv_has_provenance_per_row(exported):
    _, _, out, expected, _ = exported
    table = {r["ImageId"]: r for r in rows(out / "readings.csv")}
    assert set(table) == set(expected) | {"ghost"}
    some = next(r for r in table.values() if r["note"] == "upper half is a skin fold")
    assert some["verdict"] == "agree" and some["reader"] == "dr test"
    assert some["ai_probability"] == "0.9" and some["ai_decision"] == "positive"
    assert some["model"] == "tiny-test" and some["model_version"] == "0.0.1"
    assert some["weights_sha256"] == "segmenter.safetensors=" + "ef" * 32
    assert some["postprocessing"] == "bottom_threshold=0.3, min_area=0, scheme=components"
    assert some["decision_threshold"] == "0.5" and some["label"] == "reader mask"
    assert some["time"].endswith("+00:00")
    assert some["dicom"].count(".dcm") == 4
    assert table["ghost"]["dicom"] == "source file not found"
    note_only = next(r for r in table.values() if r["note"] == "old film, compare")
    assert note_only["dicom"] == "nothing to export (no AI result, no reader mask)"
    assert note_only["label"] == "left out: not read" and note_only["verdict"] == ""
    unsure = [r for r in table.values() if r["verdict"] == "unsure"]
    assert len(unsure) == 1 and unsure[0]["label"] == "left out: unsure"


def test_labels_are_siim_ground_truth(exported):
    _, _, out, expected, _ = exported
    truth = read_rle_csv(out / "readings-rle.csv")
    labelled = {k: v for k, v in expected.items() if v is not None}
    assert set(truth.ids()) == set(labelled)
    for image_id, mask in labelled.items():
        np.testing.assert_array_equal(truth.mask(image_id), mask, err_msg=image_id)
    text = (out / "readings-rle.csv").read_text()
    assert text.startswith("ImageId,EncodedPixels\n")
    some = next(k for k, v in labelled.items() if v.any())
    assert f"{some},{rle.encode(labelled[some])}" in text  # SIIM relative encoding


def test_dicom_objects_are_written_per_image(exported, samples_dir):
    _, _, out, expected, _ = exported
    files = sorted((out / "dicom").iterdir())
    assert len(files) == 9 * 4  # not the image with a note only (no AI result, no mask)
    assert {f.name.rsplit("_", 1)[1] for f in files} == {"seg.dcm", "sr.dcm", "gsps.dcm", "sc.dcm"}
    check_dicom(files)  # every object of every image: read back, then dciodvfy


def test_existing_outputs_are_refused(exported, capsys):
    _, _, out, _, reading_file = exported
    before = (out / "readings.csv").read_bytes()
    rc = main(["readings", "export", str(reading_file), "--out", str(out), "--dicom", "none"])
    assert rc == 2
    assert "readings.csv: file exists" in capsys.readouterr().err
    assert (out / "readings.csv").read_bytes() == before


def test_usage_errors(tmp_path, capsys):
    assert main(["readings", "export", str(tmp_path / "nope.sqlite"), "--out", str(tmp_path)]) == 2
    assert "no such reading file" in capsys.readouterr().err
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not a database" * 20)
    assert main(["readings", "export", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "not a pneumoviewer reading file" in capsys.readouterr().err
    ok = tmp_path / "ok.sqlite"
    ReadingFile(ok, study="s").close()
    assert (
        main(["readings", "export", str(ok), "--out", str(tmp_path / "o"), "--dicom", "pdf"]) == 2
    )
    assert "unknown DICOM object kind" in capsys.readouterr().err
    assert main(["readings", "export", str(ok), "--out", str(tmp_path / "o")]) == 1  # empty
    assert (tmp_path / "o" / "readings.csv").read_text().startswith("ImageId,verdict,reader")


def test_moved_study_is_found_with_folder(samples_dir, tmp_path, capsys):
    study = tmp_path / "study"
    study.mkdir()
    image_id = sorted(p.stem for p in samples_dir.glob("*.dcm"))[0]
    shutil.copy(samples_dir / f"{image_id}.dcm", study / f"{image_id}.dcm")
    reading_file = study / ".pneumoviewer-readings.sqlite"
    mask = np.zeros((1024, 1024), bool)
    mask[100:200, 100:200] = True
    with ReadingFile(reading_file, study=str(study)) as rf:
        rf.set_verdict(
            image_id,
            "agree",
            ai=AIContext.build(probability=0.7, mask=mask),
            source=study / f"{image_id}.dcm",
        )
    moved = tmp_path / "archive" / "nested"
    moved.parent.mkdir()
    study.rename(moved)
    reading = moved / ".pneumoviewer-readings.sqlite"
    shutil.move(reading, tmp_path / "r.sqlite")  # the reading file travels on its own
    args = ["readings", "export", str(tmp_path / "r.sqlite"), "--dicom", "seg"]
    assert main([*args, "--out", str(tmp_path / "o1")]) == 0
    assert "source DICOM file not found" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "o2"), "--folder", str(tmp_path / "archive")]) == 0
    assert "0 problems" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "o2" / "dicom").iterdir()] == [f"{image_id}_seg.dcm"]
    check_dicom((tmp_path / "o2" / "dicom").iterdir())  # found through --folder
    assert main([*args, "--out", str(tmp_path / "o3"), "--folder", str(tmp_path / "nope")]) == 2
