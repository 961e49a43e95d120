"""Run plots: drawn on an Agg canvas (no pyplot), written atomically, one per metric group."""

from __future__ import annotations

import numpy as np
from PIL import Image

from model_training.plots import plot_comparison, plot_run
from model_training.trainer import read_metrics_csv, write_metrics_csv


def test_plot_run_writes_the_groups_present(tmp_path):
    history = [
        {"epoch": 1, "train_loss": 0.9, "val_loss": 1.0, "auc": 0.6},
        {"epoch": 2, "train_loss": 0.5, "val_loss": 0.7, "auc": 0.8},
    ]
    write_metrics_csv(tmp_path, history)
    assert read_metrics_csv(tmp_path) == [{k: float(v) for k, v in r.items()} for r in history]
    written = plot_run(tmp_path)
    assert sorted(p.name for p in written) == ["accuracy.png", "loss.png"]  # no Dice columns
    for p in written:
        with Image.open(p) as im:
            assert im.format == "PNG" and im.size == (600, 400)
            pixels = np.asarray(im.convert("L"))
        assert pixels.min() < 100 < 250 <= pixels.max()  # lines and axes on white
    assert sorted(f.name for f in (tmp_path / "plots").iterdir()) == ["accuracy.png", "loss.png"]


def test_plot_comparison_one_curve_per_run(tmp_path):
    for name, dice in (("a", [0.1, 0.3]), ("b", [0.2, 0.5])):
        rows = [{"epoch": i + 1, "dice": d} for i, d in enumerate(dice)]
        (tmp_path / name).mkdir()
        write_metrics_csv(tmp_path / name, rows)
    out = plot_comparison(
        {"A": tmp_path / "a", "B": tmp_path / "b"}, "dice", tmp_path / "fig" / "d.png", title="t"
    )
    with Image.open(out) as im:
        assert im.size == (600, 400)
    assert not list((tmp_path / "fig").glob("*.tmp"))
