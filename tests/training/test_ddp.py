"""DistributedDataParallel: two gloo processes train one short epoch through torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.isolated
def test_torchrun_two_gloo_processes(png_data, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "model_training",
        "segment",
        "--data",
        str(png_data),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--batch-size",
        "2",
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
        "--workers",
        "0",
        "--device",
        "cpu",
        "--no-progress",
        "--val",
        "0.25",
        "--test",
        "0.25",
        "--sampling",
        "schedule",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert (out / "checkpoints" / "best.safetensors").is_file()
    assert (out / "metrics.csv").read_text().count("\n") == 2  # header + one epoch
    state = json.loads((out / "checkpoints" / "last.json").read_text())
    row = state["history"][0]
    # 4 training images split over 2 ranks, counted back as the world's throughput
    assert row["epoch"] == 1 and "kaggle_mean_dice" in row
    assert proc.stdout.count("epoch 1:") == 1  # only rank 0 prints and writes
