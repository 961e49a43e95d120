"""`pneumoviewer predict` end to end on (part of) the bundled sample with the tiny model."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pneumoviewer
from pneumoviewer.cli import main
from pneumoviewer.core import rle
from pneumoviewer.core.dicom_io import load_xray
from pneumoviewer.core.metrics import dice, kaggle_mean_dice
from pneumoviewer.core.postprocessing import postprocess
from pneumoviewer.predict.outputs import PREDICTION_COLUMNS

pytestmark = pytest.mark.filterwarnings("ignore:End of file reached:UserWarning")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """One torch thread: on 2 shared cores more threads only contend (tests 10x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


POSITIVE = [
    "1.2.276.0.7230010.3.1.4.8323329.4904.1517875185.355709",
    "1.2.276.0.7230010.3.1.4.8323329.1314.1517875167.222290",
]
NEGATIVE = [
    "1.2.276.0.7230010.3.1.4.8323329.1000.1517875165.878027",
    "1.2.276.0.7230010.3.1.4.8323329.10000.1517875220.938530",
]
TRUNCATED_SOURCE = "1.2.276.0.7230010.3.1.4.8323329.10001.1517875220.930580"


def _truth(sample_csv: Path) -> dict[str, np.ndarray]:
    """Ground-truth masks decoded straight from the CSV (independent of the CLI)."""
    masks: dict[str, np.ndarray] = {}
    for line in sample_csv.read_text(encoding="utf-8-sig").splitlines():
        image_id, encoded = line.split(",", 1)
        m = rle.decode(encoded.strip(), (1024, 1024))
        masks[image_id] = masks[image_id] | m if image_id in masks else m
    return masks


@pytest.fixture(scope="module")
def study(samples_dir, sample_csv, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("study")
    for image_id in POSITIVE + NEGATIVE:
        shutil.copy(samples_dir / f"{image_id}.dcm", folder)
    shutil.copy(sample_csv, folder)  # *rle*.csv: auto-discovered ground truth
    (folder / "junk.dcm").write_text("this is not a DICOM file\n")
    data = (samples_dir / f"{TRUNCATED_SOURCE}.dcm").read_bytes()
    (folder / "sub").mkdir()
    (folder / "sub" / "truncated.dcm").write_bytes(data[: len(data) * 6 // 10])
    return folder


@pytest.fixture(scope="module")
def run(study, tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "result"
    rc = main(
        [
            "predict",
            str(study),
            "--out",
            str(out),
            "--model",
            str(tiny_model_dir),
            "--no-progress",
            "--workers",
            "2",
        ]
    )
    return rc, out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_all_outputs_written(run):
    rc, out = run
    assert rc == 0
    for name in ("predictions.csv", "submission.csv", "problems.csv", "metrics.json"):
        assert (out / name).is_file(), name
    pngs = sorted(p.stem for p in (out / "png").glob("*.png"))
    assert pngs == sorted(POSITIVE + NEGATIVE)
    assert not list(out.rglob("*.tmp"))


def test_predictions_csv(run, sample_csv):
    _, out = run
    with (out / "predictions.csv").open(encoding="utf-8") as f:
        assert next(csv.reader(f)) == list(PREDICTION_COLUMNS)
    rows = _rows(out / "predictions.csv")
    ok = {r["ImageId"]: r for r in rows if r["status"] == "ok"}
    assert set(ok) == set(POSITIVE + NEGATIVE)
    truth = _truth(sample_csv)
    for image_id, r in ok.items():
        p = float(r["probability"])
        assert 0.0 < p < 1.0
        assert r["predicted_label"] == str(int(p >= 0.5))  # tiny model: decision threshold 0.5
        mask_px = int(r["mask_pixels"])
        if p >= 0.5:
            assert r["state"] == ("positive" if mask_px else "positive, not localised")
        else:  # the gate is the decision threshold: a negative call has an empty mask
            assert r["state"] == "negative" and mask_px == 0
        assert r["gt_label"] == str(int(truth[image_id].any()))
        assert 0.0 <= float(r["dice"]) <= 1.0
        assert r["error"] == ""
    # The truncated file is found by the scan (listed in problems.csv), never decoded.
    assert [r for r in rows if r["status"] == "error"] == []


def test_submission_matches_thresholded_maps(run, study, tiny_model_dir, sample_csv):
    from pneumoviewer.core.inference.engine import InferenceEngine

    _, out = run
    sub = _rows(out / "submission.csv")
    assert list(sub[0]) == ["ImageId", "EncodedPixels"]
    encoded = {r["ImageId"]: r["EncodedPixels"] for r in sub}
    assert set(encoded) == set(POSITIVE + NEGATIVE)
    rows = {r["ImageId"]: r for r in _rows(out / "predictions.csv")}
    truth = _truth(sample_csv)
    engine = InferenceEngine(tiny_model_dir, device="cpu")
    for image_id in (POSITIVE[0], NEGATIVE[0]):
        image = load_xray(study / f"{image_id}.dcm")
        pred = engine.predict(image.pixels, image_id=image_id)
        want = postprocess(
            pred.probability_map,
            engine.postprocess_params(),
            class_probability=pred.class_probability,
            decision_threshold=0.5,
        )
        got = rle.decode(encoded[image_id], image.pixels.shape)
        np.testing.assert_array_equal(got, want)
        assert int(rows[image_id]["mask_pixels"]) == int(want.sum())
        assert float(rows[image_id]["dice"]) == pytest.approx(dice(want, truth[image_id]), abs=1e-6)
        assert float(rows[image_id]["probability"]) == pytest.approx(
            pred.class_probability, abs=1e-5
        )


def test_png_has_provenance_chunks(run, tiny_model_dir):
    _, out = run
    from pneumoviewer.core.export import layout_for

    im = Image.open(out / "png" / f"{POSITIVE[0]}.png")
    f = layout_for((1024, 1024)).top
    assert im.size[0] == 1024 + 2 * f and im.size[1] > 1024 + 2 * f  # frame + text band
    text = im.text
    assert text["Model"] == "tiny-test"
    manifest_sha = hashlib.sha256((tiny_model_dir / "manifest.json").read_bytes()).hexdigest()
    assert text["Model manifest sha256"] == manifest_sha
    weights = json.loads(text["Model weights sha256"])
    assert set(weights) == {"classifier.safetensors", "segmenter.safetensors"}
    assert text["Source"].endswith(f"{POSITIVE[0]}.dcm")
    assert text["ImageId"] == POSITIVE[0]
    post = json.loads(text["Post-processing"])
    assert post["scheme"] == "triplet" and post["bottom_threshold"] == 0.5
    assert post["gate_threshold"] == post["decision_threshold"] == 0.5
    assert "CLAHE clip 2, tiles 8x8" in text["Contrast"]
    rows = {r["ImageId"]: r for r in _rows(out / "predictions.csv")}
    assert text["Decision"] == rows[POSITIVE[0]]["state"]
    assert text["TTA"] == "False" and text["Device"] == "cpu"
    assert pneumoviewer.__version__ in text["Software"]


def test_metrics_json(run):
    _, out = run
    m = json.loads((out / "metrics.json").read_text())
    for key in (
        "accuracy",
        "auc",
        "sensitivity",
        "specificity",
        "dice_positive",
        "kaggle_mean_dice",
        "n_evaluated",
        "tp",
        "fp",
        "tn",
        "fn",
    ):
        assert key in m, key
    listed = _rows(out / "predictions.csv")
    assert m["n_evaluated"] == 4 and m["n_images"] == len(listed) and m["n_analysed"] == 4
    assert m["n_truth_positive"] == 2 and m["n_truth_negative"] == 2
    assert m["decision"] == "classifier" and m["decision_threshold"] == 0.5
    assert m["postprocess"]["scheme"] == "triplet"
    rows = [r for r in _rows(out / "predictions.csv") if r["status"] == "ok"]
    correct = sum(r["predicted_label"] == r["gt_label"] for r in rows)
    assert m["accuracy"] == pytest.approx(correct / 4)
    assert m["tp"] + m["fp"] + m["tn"] + m["fn"] == 4
    assert m["kaggle_mean_dice"] == pytest.approx(
        np.mean([float(r["dice"]) for r in rows]), abs=1e-6
    )
    pos = [float(r["dice"]) for r in rows if r["gt_label"] == "1"]
    assert m["dice_positive"] == pytest.approx(np.mean(pos), abs=1e-6)


def test_kaggle_mean_dice_agrees_with_core_metrics(run, sample_csv):
    _, out = run
    truth = _truth(sample_csv)
    sub = {r["ImageId"]: r["EncodedPixels"] for r in _rows(out / "submission.csv")}
    preds = [rle.decode(sub[i], (1024, 1024)) for i in sorted(sub)]
    want = kaggle_mean_dice(preds, [truth[i] for i in sorted(sub)])
    assert json.loads((out / "metrics.json").read_text())["kaggle_mean_dice"] == pytest.approx(want)


def test_problems_listed_and_run_continued(run):
    _, out = run
    problems = _rows(out / "problems.csv")
    names = sorted(Path(p["file"]).name for p in problems)
    assert names == ["junk.dcm", "truncated.dcm"]
    assert all(p["problem"] for p in problems)


def test_refuses_to_overwrite(run, study, tiny_model_dir, capsys):
    _, out = run
    before = (out / "predictions.csv").read_bytes()
    rc = main(
        [
            "predict",
            str(study),
            "--out",
            str(out),
            "--model",
            str(tiny_model_dir),
            "--no-progress",
            "--no-png",
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "output file exists" in err and str(out / "predictions.csv") in err
    assert "--overwrite" in err
    assert (out / "predictions.csv").read_bytes() == before


def test_overwrite_threshold_and_no_png(study, tiny_model_dir, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    shutil.copy(study / f"{NEGATIVE[0]}.dcm", small)
    shutil.copy(study / "train-rle-sample.csv", tmp_path / "truth.csv")
    out = tmp_path / "o"
    (out / "png").mkdir(parents=True)
    (out / "png" / f"{NEGATIVE[0]}.png").write_bytes(b"old")
    args = [
        "predict",
        str(small),
        "--out",
        str(out),
        "--model",
        str(tiny_model_dir),
        "--no-progress",
        "--no-png",
        "--threshold",
        "1.0",
        "--gt",
        str(tmp_path / "truth.csv"),
    ]
    assert main(args) == 0  # --no-png: an old PNG is not in the way
    assert (out / "png" / f"{NEGATIVE[0]}.png").read_bytes() == b"old"
    assert main(args) == 2
    assert main([*args, "--overwrite"]) == 0
    sub = _rows(out / "submission.csv")
    assert sub and all(r["EncodedPixels"] == "-1" for r in sub)  # threshold 1: no pixel
    rows = [r for r in _rows(out / "predictions.csv") if r["status"] == "ok"]
    assert all(r["mask_pixels"] == "0" for r in rows)


def test_gate_empties_masks_of_negative_images(run, study, tiny_model_dir, tmp_path):
    # The default run has the gate on, at the decision threshold; --no-gate keeps the masks.
    _, gated_out = run
    gated = {r["ImageId"]: r for r in _rows(gated_out / "predictions.csv")}
    out = tmp_path / "ungated"
    rc = main(
        [
            "predict",
            str(study),
            "--out",
            str(out),
            "--model",
            str(tiny_model_dir),
            "--no-progress",
            "--no-png",
            "--no-gate",
            "--threads",
            "1",
        ]
    )
    assert rc == 0
    ungated = {r["ImageId"]: r for r in _rows(out / "predictions.csv") if r["status"] == "ok"}
    below = [i for i, r in ungated.items() if float(r["probability"]) < 0.5]
    assert below, "the tiny model should call at least one image negative"
    for image_id, r in ungated.items():
        if float(r["probability"]) < 0.5:
            assert gated[image_id]["mask_pixels"] == "0"
            assert gated[image_id]["state"] == "negative"
            want = "localised, below threshold" if r["mask_pixels"] != "0" else "negative"
            assert r["state"] == want and r["predicted_label"] == "0"
        else:
            assert r["mask_pixels"] == gated[image_id]["mask_pixels"]
    assert any(ungated[i]["mask_pixels"] != "0" for i in below)


def test_nothing_processable_is_an_error(tmp_path, tiny_model_dir, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.dcm").write_bytes(b"\0" * 10)
    rc = main(
        [
            "predict",
            str(folder),
            "--out",
            str(tmp_path / "o"),
            "--model",
            str(tiny_model_dir),
            "--no-progress",
        ]
    )
    assert rc == 1
    assert "no image could be processed" in capsys.readouterr().err
    assert [Path(r["file"]).name for r in _rows(tmp_path / "o" / "problems.csv")] == ["a.dcm"]
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_usage_errors(tmp_path, study, tiny_model_dir, capsys, monkeypatch):
    out = str(tmp_path / "o")
    assert main(["predict", str(tmp_path / "missing"), "--out", out]) == 2
    assert "missing: folder not found" in capsys.readouterr().err
    bad_model = tmp_path / "model"
    bad_model.mkdir()
    assert main(["predict", str(study), "--out", out, "--model", str(bad_model)]) == 2
    err = capsys.readouterr().err
    assert "bad model folder" in err and str(bad_model / "manifest.json") in err
    monkeypatch.setattr(pneumoviewer, "DEMO_MODEL_DIR", tmp_path / "no-demo")
    assert main(["predict", str(study), "--out", out]) == 2
    assert "demo model is missing" in capsys.readouterr().err
    assert (
        main(
            [
                "predict",
                str(study),
                "--out",
                out,
                "--model",
                str(tiny_model_dir),
                "--gt",
                str(tmp_path / "nope.csv"),
            ]
        )
        == 2
    )
    assert "nope.csv: ground-truth CSV not found" in capsys.readouterr().err
    assert not Path(out).exists()


@pytest.mark.parametrize("kind", ["classifier", "segmenter"])
def test_single_model_directories(kind, study, tmp_path):
    from tests.tiny_models import make_tiny_model_dir

    model = make_tiny_model_dir(
        tmp_path / "m", classifier=kind == "classifier", segmenter=kind == "segmenter"
    )
    small = tmp_path / "small"
    small.mkdir()
    for image_id in (POSITIVE[0], NEGATIVE[0]):
        shutil.copy(study / f"{image_id}.dcm", small)
    shutil.copy(study / "train-rle-sample.csv", small)
    out = tmp_path / "o"
    rc = main(
        [
            "predict",
            str(small),
            "--out",
            str(out),
            "--model",
            str(model),
            "--no-progress",
            "--no-png",
            "--tta",
        ]
    )
    assert rc == 0
    rows = _rows(out / "predictions.csv")
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_evaluated"] == 2
    if kind == "classifier":
        assert not (out / "submission.csv").exists()
        assert all(r["probability"] and r["mask_pixels"] == "" and r["dice"] == "" for r in rows)
        assert metrics["decision"] == "classifier" and metrics["kaggle_mean_dice"] is None
    else:
        assert all(r["probability"] == "" for r in rows)
        for r in rows:  # no classifier: the label is "mask not empty"
            assert r["predicted_label"] == str(int(int(r["mask_pixels"]) > 0))
        assert metrics["decision"] == "mask not empty" and metrics["auc"] is None
        assert len(_rows(out / "submission.csv")) == 2


def test_ground_truth_without_these_images_writes_no_metrics(
    study, tiny_model_dir, tmp_path, capsys
):
    other = tmp_path / "other-rle.csv"
    other.write_text("ImageId,EncodedPixels\nnot.in.this.folder,-1\n", encoding="utf-8")
    out = tmp_path / "o"
    rc = main(
        ["predict", str(study), "--out", str(out), "--model", str(tiny_model_dir)]
        + ["--gt", str(other), "--no-progress", "--no-png"]
    )
    assert rc == 0
    assert (out / "predictions.csv").exists()
    assert not (out / "metrics.json").exists()
    assert "lists none of the predicted images" in capsys.readouterr().err
