"""``pneumoviewer-train`` parses and runs classify / segment / compare-heads / resume."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from model_training.cli import build_parser, main

# fmt: off
TINY = ["--epochs", "1", "--batch-size", "2", "--workers", "0", "--threads", "1",
        "--no-progress", "--device", "cpu", "--val", "0.25", "--test", "0.25", "--subset", "8"]
# fmt: on


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_parser_knows_every_command():
    p = build_parser()
    for argv in (
        ["split", "--data", "d", "--out", "s.csv"],
        ["classify", "--data", "d", "--out", "o", "--head", "softmax", "--pretrained"],
        [
            "segment",
            "--data",
            "d",
            "--out",
            "o",
            "--sampling",
            "schedule",
            "--schedule",
            "0.8",
            "0.4",
            "--encoder",
            "resnet18",
            "--gamma",
            "1.5",
            "--accumulate",
            "4",
        ],
        ["compare-heads", "--data", "d", "--out", "o"],
        ["compare-encoders", "--data", "d", "--out", "o", "--encoders", "resnet18", "resnet34"],
        ["evaluate", "--data", "d", "--model", "m", "--split-csv", "s.csv"],
        ["export", "--classifier", "c", "--segmenter", "s", "--out", "m", "--fp16"],
        ["demo"],
    ):
        assert p.parse_args(argv).command == argv[0]
    with pytest.raises(SystemExit):
        p.parse_args(["classify", "--data", "d", "--out", "o", "--head", "hinge"])


def test_classify_runs_and_resumes(png_data, tmp_path):
    out = tmp_path / "cls"
    args = ["classify", "--data", str(png_data), "--out", str(out), "--input-size", "32", *TINY]
    assert main(args) == 0
    for name in (
        "metrics.csv",
        "split.csv",
        "spec.json",
        "test_metrics.json",
        "checkpoints/best.safetensors",
        "checkpoints/last.optim.pt",
        "plots/loss.png",
        "plots/accuracy.png",
    ):
        assert (out / name).is_file(), name
    first = _rows(out / "metrics.csv")
    assert len(first) == 1
    split = _rows(out / "split.csv")
    assert len(split) == 8 and [r["split"] for r in split].count("train") == 4
    spec = json.loads((out / "spec.json").read_text())["spec"]
    assert spec["head"] == "svm" and spec["input_size"] == 32
    # --resume continues at epoch 2 and keeps epoch 1's row
    assert main([*args[: -len(TINY)], *TINY, "--epochs", "2", "--resume"]) == 0
    rows = _rows(out / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert rows[0] == first[0]


def test_segment_runs(png_data, tmp_path):
    out = tmp_path / "seg"
    rc = main(
        [
            "segment",
            "--data",
            str(png_data),
            "--out",
            str(out),
            "--input-size",
            "64",
            "--encoder",
            "resnet18",
            "--decoder-channels",
            "16",
            "16",
            "16",
            "16",
            "16",
            "--sampling",
            "schedule",
            *TINY,
            "--workers",  # DataLoader worker processes (persistent) too
            "2",
        ]
    )
    assert rc == 0
    for name in (
        "metrics.csv",
        "postprocess.json",
        "spec.json",
        "plots/dice.png",
        "checkpoints/best.safetensors",
    ):
        assert (out / name).is_file(), name
    post = json.loads((out / "postprocess.json").read_text())
    assert 0 < post["mask_threshold"] < 1 and post["table"]


def test_compare_heads_writes_a_table(png_data, tmp_path):
    out = tmp_path / "heads"
    assert (
        main(
            [
                "compare-heads",
                "--data",
                str(png_data),
                "--out",
                str(out),
                "--input-size",
                "32",
                *TINY,
            ]
        )
        == 0
    )
    rows = _rows(out / "heads_comparison.csv")
    assert [r["head"] for r in rows] == ["softmax", "svm"]
    for r in rows:
        for key in ("accuracy", "auc", "sensitivity", "specificity"):
            assert r[key] != ""
    assert (out / "heads_comparison.md").read_text().startswith("| head |")
    assert len(json.loads((out / "heads_comparison.json").read_text())) == 2
    # both heads used the same split
    assert (out / "softmax" / "split.csv").read_text() == (out / "svm" / "split.csv").read_text()


def test_user_errors_exit_2(tmp_path, capsys):
    assert (
        main(["classify", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), *TINY])
        == 2
    )
    assert "nope" in capsys.readouterr().err


def test_compare_encoders_writes_table_and_figure(png_data, tmp_path):
    out = tmp_path / "enc"
    rc = main(
        [
            "compare-encoders",
            "--data",
            str(png_data),
            "--out",
            str(out),
            "--input-size",
            "32",
            "--encoders",
            "resnet18",
            "resnet34",
            "--decoder-channels",
            "16",
            "16",
            "16",
            "16",
            "16",
            *TINY,
        ]
    )
    assert rc == 0
    rows = _rows(out / "encoders_comparison.csv")
    assert [r["encoder"] for r in rows] == ["resnet18", "resnet34"]
    assert (out / "encoders_dice.png").stat().st_size > 1000


def test_pretrained_without_internet_says_so(monkeypatch):
    import torchvision.models

    from model_training.classify import load_imagenet_weights

    def offline(*args, **kwargs):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.models, "densenet121", offline)
    with pytest.raises(RuntimeError, match="no internet connection"):
        load_imagenet_weights(torch.nn.Linear(1, 1))


def test_split_command_writes_a_stratified_split(samples_dir, tmp_path):
    out = tmp_path / "split.csv"
    assert (
        main(
            [
                "split",
                "--data",
                str(samples_dir),
                "--out",
                str(out),
                "--val",
                "0.2",
                "--test",
                "0.2",
                "--seed",
                "5",
            ]
        )
        == 0
    )
    rows = _rows(out)
    assert len(rows) == 10
    for split in ("val", "test"):
        labels = sorted(r["positive"] for r in rows if r["split"] == split)
        assert labels == ["0", "1"]
    again = tmp_path / "again.csv"
    main(
        [
            "split",
            "--data",
            str(samples_dir),
            "--out",
            str(again),
            "--val",
            "0.2",
            "--test",
            "0.2",
            "--seed",
            "5",
        ]
    )
    assert again.read_text() == out.read_text()
