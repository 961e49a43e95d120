"""predict and the input-quality gate (#10): quality columns, 'not assessed', metrics, --cam."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from pneumoviewer.cli import main
from pneumoviewer.core.dicom_io import load_xray
from tests.core.dicom_factory import make_image, write

ADULT = "1.2.276.0.7230010.3.1.4.8323329.4904.1517875185.355709"  # PA, 69 y, positive
CHILD = "1.2.276.0.7230010.3.1.4.8323329.10000.1517875220.938530"  # AP, 10 y, negative


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def result(samples_dir, sample_csv, tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("quality_study")
    for image_id in (ADULT, CHILD):
        shutil.copy(samples_dir / f"{image_id}.dcm", folder)
    noise = np.random.default_rng(0).integers(0, 256, (1024, 1024), dtype=np.uint8)
    write(make_image(noise, sop_uid="1.2.3.4.1"), folder / "noise.dcm")
    lateral = make_image(load_xray(samples_dir / f"{ADULT}.dcm").pixels, sop_uid="1.2.3.4.2")
    lateral.ViewPosition = "LL"
    write(lateral, folder / "lateral.dcm")
    rows = sample_csv.read_text(encoding="utf-8-sig")
    (folder / "train-rle.csv").write_text(rows + "1.2.3.4.1,-1\n1.2.3.4.2,-1\n")
    out = tmp_path_factory.mktemp("quality_out") / "r"
    argv = ["predict", str(folder), "--out", str(out), "--model", str(tiny_model_dir)]
    rc = main([*argv, "--no-progress", "--no-png", "--cam"])
    (out / "metrics.json").rename(out / "metrics-first.json")
    # a resumed run replays the journal: the refused images stay refused
    assert main([*argv, "--no-progress", "--no-png", "--cam", "--resume"]) == 0
    with (out / "predictions.csv").open(newline="", encoding="utf-8") as f:
        table = {r["ImageId"]: r for r in csv.DictReader(f)}
    return rc, out, table


def test_quality_columns_and_not_assessed(result) -> None:
    rc, _, rows = result
    assert rc == 0
    assert {i: r["quality"] for i, r in rows.items()} == {
        ADULT: "ok",
        CHILD: "warn",
        "1.2.3.4.1": "refused",
        "1.2.3.4.2": "refused",
    }
    assert rows[CHILD]["quality_reason"] == "patient is 10 y; the model is meant for 18 y and older"
    assert rows[CHILD]["state"] in ("positive", "negative", "positive, not localised")
    noise, lateral = rows["1.2.3.4.1"], rows["1.2.3.4.2"]
    assert noise["quality_reason"].startswith("looks like noise")
    assert lateral["quality_reason"] == "lateral view (View Position LL); the model reads PA, AP"
    for r in (noise, lateral):
        assert r["state"] == "not assessed" and r["predicted_label"] == ""
        assert r["mask_pixels"] == "" and r["status"] == "ok"
    assert rows[ADULT]["quality_reason"] == ""


def test_refused_left_out_of_submission_and_metrics(result, capsys) -> None:
    _, out, _ = result
    with (out / "submission.csv").open(newline="") as f:
        ids = [r["ImageId"] for r in csv.DictReader(f)]
    assert sorted(ids) == sorted([ADULT, CHILD])
    for name in ("metrics-first.json", "metrics.json"):  # the run, and its --resume
        metrics = json.loads((out / name).read_text())
        assert metrics["n_refused"] == 2 and metrics["n_evaluated"] == 2


def test_cam_png_per_image(result) -> None:
    _, out, rows = result
    from pneumoviewer.predict.outputs import png_name

    for image_id in rows:
        png = np.asarray(Image.open(out / "cam" / png_name(image_id)))
        assert png.shape == (1024, 1024, 3) and png.dtype == np.uint8


def test_run_says_ood_skipped_and_refused_count(
    samples_dir, tiny_model_dir, tmp_path, capsys
) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    write(make_image(np.full((512, 512), 90, np.uint8)), folder / "grey.dcm")
    rc = main(
        ["predict", str(folder), "--out", str(tmp_path / "o"), "--model", str(tiny_model_dir)]
    )
    err = capsys.readouterr().err
    assert rc == 0
    assert "out-of-distribution check skipped: the model has no OOD statistics" in err
    assert "1 images refused by the input-quality gate" in err
