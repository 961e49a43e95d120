"""Export fits the OOD statistics on the classifier run's split and states the intended use."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from model_training.augment import AugmentConfig
from model_training.runs import DataConfig
from model_training.splits import SplitConfig
from model_training.trainer import TrainConfig


@pytest.fixture(scope="module")
def cls_run(samples_dir, tmp_path_factory):
    from model_training.classify import ClassifyConfig, run_classify

    root = tmp_path_factory.mktemp("ood_export")
    data = DataConfig(root=samples_dir, split=SplitConfig(val_fraction=0.2, test_fraction=0.2))
    run_classify(
        data,
        root / "cls",
        train=TrainConfig(epochs=1, batch_size=3, workers=0, device="cpu", progress=False),
        config=ClassifyConfig(head="svm", input_size=32, augment=AugmentConfig.none()),
    )
    return root / "cls"


def test_export_cli_fits_ood_and_intended_use(cls_run, samples_dir, tmp_path):
    from model_training.cli import main
    from pneumoviewer.core.dicom_io import load_xray
    from pneumoviewer.core.inference.engine import InferenceEngine

    out = tmp_path / "model"
    use = '{"age_min": 16, "views": ["PA", "AP"], "modalities": ["CR"]}'
    argv = ["export", "--classifier", str(cls_run), "--out", str(out), "--name", "t"]
    rc = main([*argv, "--ood-data", str(samples_dir), "--intended-use", use])
    assert rc == 0
    with open(cls_run / "split.csv", newline="") as f:
        splits = [row["split"] for row in csv.DictReader(f)]
    engine = InferenceEngine(out, device="cpu")
    m = engine.manifest
    assert m.ood.train_images == splits.count("train") and m.ood.train_images >= 4
    assert m.ood.threshold_images == splits.count("val") >= 1
    assert m.ood.threshold_from == "validation split" and m.ood.feature_dim == 1024
    assert (m.intended_use.age_min, m.intended_use.modalities) == (16, ("CR",))
    data = json.loads((out / "manifest.json").read_text())
    assert data["ood"]["sha256"] == m.ood.sha256 and data["intended_use"]["views"] == ["PA", "AP"]
    # the threshold is the 99th percentile of the val images' distances, via the engine
    val_ids = set()
    with open(cls_run / "split.csv", newline="") as f:
        val_ids = {r["image_id"] for r in csv.DictReader(f) if r["split"] == "val"}
    dists = [
        engine.ood.distance(engine.predict(load_xray(p).pixels).features)
        for p in sorted(samples_dir.glob("*.dcm"))
        if p.stem in val_ids
    ]
    assert m.ood.threshold == pytest.approx(float(np.percentile(dists, 99.0)), rel=1e-3)


def test_export_without_ood_says_so_and_ood_needs_a_classifier(cls_run, samples_dir, tmp_path):
    from model_training.cli import main
    from pneumoviewer.core.inference.manifest import read_manifest

    out = tmp_path / "plain"
    assert main(["export", "--classifier", str(cls_run), "--out", str(out)]) == 0
    m = read_manifest(out)
    assert m.ood is None and m.intended_use is None
    assert "OOD check: none (no statistics in this model; the check is skipped)" in m.card_lines()
    rc = main(["export", "--segmenter", str(cls_run), "--out", str(out), "--ood-data", "x"])
    assert rc == 2


def test_ood_command_adds_statistics_to_an_existing_model(cls_run, samples_dir, tmp_path, capsys):
    from model_training.cli import main
    from pneumoviewer.core.inference.manifest import read_manifest

    out = tmp_path / "old"
    assert main(["export", "--classifier", str(cls_run), "--out", str(out)]) == 0
    assert read_manifest(out).ood is None
    split = str(cls_run / "split.csv")
    argv = ["ood", "--model", str(out), "--data", str(samples_dir), "--split-csv", split]
    assert main([*argv, "--percentile", "90"]) == 0
    m = read_manifest(out)
    assert m.ood.percentile == 90.0 and m.ood.threshold_from == "validation split"
    assert f"threshold {m.ood.threshold:.2f}" in capsys.readouterr().out
    assert (out / "ood.safetensors").is_file()
