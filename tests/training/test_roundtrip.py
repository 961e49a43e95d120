"""Train tiny models on the sample, export, and check the viewer's code reproduces them."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from model_training.augment import AugmentConfig
from model_training.runs import DataConfig
from model_training.splits import SplitConfig
from model_training.trainer import TrainConfig


@pytest.fixture(scope="module")
def trained(samples_dir, tmp_path_factory):
    from model_training.classify import ClassifyConfig, run_classify
    from model_training.segment import SegmentConfig, run_segment

    root = tmp_path_factory.mktemp("roundtrip")
    data = DataConfig(root=samples_dir, split=SplitConfig(val_fraction=0.2, test_fraction=0.2))
    train = TrainConfig(epochs=1, batch_size=3, workers=0, device="cpu", progress=False)
    run_classify(
        data,
        root / "cls",
        train=train,
        config=ClassifyConfig(head="svm", input_size=32, augment=AugmentConfig.none()),
    )
    run_segment(
        data,
        root / "seg",
        train=train,
        config=SegmentConfig(
            encoder="resnet18", input_size=64, decoder_channels=(16, 16, 16, 16, 16)
        ),
    )
    return root, data


def test_export_then_predict_reproduces_training_probabilities(trained, samples_dir):
    from model_training.classify import classifier_probabilities
    from model_training.export import ExportConfig, export_model
    from pneumoviewer.core.inference.manifest import read_manifest

    root, data = trained
    model_dir = root / "model"
    export_model(
        model_dir,
        classifier_run=root / "cls",
        segmenter_run=root / "seg",
        config=ExportConfig(name="tiny", fp16=False),
    )
    m = read_manifest(model_dir)
    assert m.classifier.platt_a is not None and m.segmenter.encoder == "resnet18"
    expected = {}
    everything = DataConfig(root=samples_dir, split=SplitConfig(val_fraction=0, test_fraction=0))
    expected = classifier_probabilities(root / "cls", everything, split="train", device="cpu")
    assert len(expected) == 10
    try:
        from pneumoviewer.cli import main as viewer_main
    except ImportError:  # pragma: no cover
        pytest.skip("pneumoviewer.cli not available")
    out = root / "predict"
    rc = viewer_main(
        [
            "predict",
            str(samples_dir),
            "--out",
            str(out),
            "--model",
            str(model_dir),
            "--device",
            "cpu",
            "--no-png",
            "--no-progress",
        ]
    )
    assert rc == 0
    with open(out / "predictions.csv", newline="") as fh:
        got = {r["ImageId"]: float(r["probability"]) for r in csv.DictReader(fh)}
    assert set(got) == set(expected)
    for image_id, p in expected.items():
        assert got[image_id] == pytest.approx(p, abs=1e-4), image_id


def test_engine_probability_map_matches_training_forward(trained, samples_dir):
    from model_training.checkpoint import load_weights
    from model_training.data import PreprocessedCache, load_corpus
    from model_training.export import ExportConfig, export_model
    from model_training.loaders import InputSpec, XrayDataset
    from model_training.runs import read_json
    from model_training.segment import predict_maps
    from pneumoviewer.core.inference.engine import InferenceEngine
    from pneumoviewer.core.inference.manifest import SegmenterSpec
    from pneumoviewer.core.inference.models import build_segmenter
    from pneumoviewer.core.preprocessing import ClaheParams, resize_probability

    root, _ = trained
    model_dir = root / "model_seg"
    export_model(model_dir, segmenter_run=root / "seg", config=ExportConfig(name="seg"))
    d = read_json(root / "seg" / "spec.json")
    s = dict(d["spec"], decoder_channels=tuple(d["spec"]["decoder_channels"]))
    net = load_weights(
        root / "seg" / "checkpoints" / "best.safetensors", build_segmenter(SegmenterSpec(**s))
    ).eval()
    corpus = load_corpus(samples_dir)
    recs = corpus.records[5:8]
    cache = PreprocessedCache(corpus, recs, size=64, clahe_params=ClaheParams())
    ds = XrayDataset(cache, task="segment", input_spec=InputSpec(mean=0.5, std=0.25, channels=3))
    ours = predict_maps(net, ds, [0, 1, 2], device=torch.device("cpu"), amp=False)
    engine = InferenceEngine(model_dir, device="cpu")
    for i, rec in enumerate(recs):
        pixels = corpus.image(rec)
        pred = engine.predict(pixels)
        # the network's output: the same to float precision
        np.testing.assert_allclose(pred.map_at_model_size, ours[i], atol=1e-4)
        # the full-resolution map lies on the uint8 grid (core.probability_map): one level
        full = resize_probability(ours[i], pixels.shape)
        np.testing.assert_allclose(pred.probability_map, full, atol=1 / 255 + 1e-4)


def test_evaluate_reports_dice_and_classification(trained, samples_dir, tmp_path):
    import json

    from model_training.cli import main

    root, _ = trained
    model_dir = tmp_path / "model"
    # through the CLI: pneumoviewer-train export --fp16
    assert (
        main(
            [
                "export",
                "--classifier",
                str(root / "cls"),
                "--segmenter",
                str(root / "seg"),
                "--out",
                str(model_dir),
                "--fp16",
                "--name",
                "tiny",
            ]
        )
        == 0
    )
    out = tmp_path / "eval"
    rc = main(
        [
            "evaluate",
            "--model",
            str(model_dir),
            "--data",
            str(samples_dir),
            "--split-csv",
            str(root / "seg" / "split.csv"),
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    res = json.loads(out.with_suffix(".json").read_text())[0]
    assert res["split"] == "test" and res["images"] == 2 and res["positives"] == 1
    for key in (
        "dice_positive",
        "kaggle_mean_dice",
        "accuracy",
        "auc",
        "sensitivity",
        "specificity",
    ):
        assert 0.0 <= res[key] <= 1.0, key
    assert res["tp"] + res["fn"] == 1 and res["tn"] + res["fp"] == 1
    assert out.with_suffix(".md").read_text().startswith("| split |")
