"""Closing the loop: a tiny segmenter trains on reader-corrected labels from a reading file."""

from __future__ import annotations

import json

import numpy as np

from model_training.runs import DataConfig
from model_training.splits import SplitConfig
from model_training.trainer import TrainConfig
from tests.reading_samples import make_sample_reading


def test_segmenter_trains_on_reader_labels(samples_dir, sample_csv, tmp_path):
    from model_training.data import load_corpus
    from model_training.segment import SegmentConfig, run_segment
    from pneumoviewer.core.reading_export import LABELS_NAME, export_readings

    expected = make_sample_reading(tmp_path / "study.sqlite", samples_dir, sample_csv)
    result = export_readings(tmp_path / "study.sqlite", tmp_path / "out", dicom_kinds=())
    labels = tmp_path / "out" / LABELS_NAME
    labelled = {k: v for k, v in expected.items() if v is not None}
    assert result.labels == len(labelled) == 8

    # model_training reads the reader's labels as ground truth: the corrected masks exactly
    corpus = load_corpus(samples_dir, csv=labels)
    assert sorted(r.image_id for r in corpus.records) == sorted(labelled)
    for record in corpus.records:
        mask = corpus.mask(record, (1024, 1024))
        np.testing.assert_array_equal(mask, labelled[record.image_id], err_msg=record.image_id)
        assert record.positive == bool(labelled[record.image_id].any())

    run = tmp_path / "run"
    run_segment(
        DataConfig(
            root=samples_dir, csv=labels, split=SplitConfig(val_fraction=0.2, test_fraction=0.2)
        ),
        run,
        train=TrainConfig(epochs=1, batch_size=2, workers=0, device="cpu", progress=False),
        config=SegmentConfig(
            encoder="resnet18", input_size=64, decoder_channels=(16, 16, 16, 16, 16)
        ),
    )
    split = (run / "split.csv").read_text()
    assert all(image_id in split for image_id in labelled)
    assert not any(image_id in split for image_id, m in expected.items() if m is None)
    spec = json.loads((run / "spec.json").read_text())
    assert spec["spec"]["encoder"] == "resnet18"
    assert (run / "checkpoints" / "best.safetensors").is_file()
