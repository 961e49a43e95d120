"""A small U-Net learns a synthetic segmentation task (bright shapes) in under a minute.

The budget is CPU time (``time.process_time``: the 2 cores x 60 s), not wall time, so that
other processes sharing the machine cannot fail the test; uncontended it takes ~3 s.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from model_training.losses import DiceFocalConfig, DiceFocalLoss
from tests.training.synthetic import shape_image


def test_small_unet_reaches_dice_08_on_bright_shapes():
    from pneumoviewer.core.inference.manifest import SegmenterSpec
    from pneumoviewer.core.inference.models import build_segmenter
    from pneumoviewer.core.metrics import dice

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    size = 64
    pairs = [shape_image(rng, size, positive=True) for _ in range(48)]
    x = torch.tensor(np.stack([p[0] for p in pairs]), dtype=torch.float32)[:, None]
    x = ((x / 255.0 - 0.5) / 0.25).repeat(1, 3, 1, 1)
    y = torch.tensor(np.stack([p[1] for p in pairs]), dtype=torch.float32)[:, None]
    train_x, train_y, test_x, test_y = x[:40], y[:40], x[40:], y[40:]
    spec = SegmenterSpec(
        encoder="resnet18",
        input_size=size,
        mean=0.5,
        std=0.25,
        decoder_channels=(16, 16, 16, 16, 16),
    )
    net = build_segmenter(spec)
    loss_fn = DiceFocalLoss(DiceFocalConfig(dice_weight=1.0, focal_weight=1.0, gamma=2.0))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    t0 = time.process_time()
    for step in range(200):
        idx = torch.randint(0, 40, (8,))
        net.train()
        opt.zero_grad()
        loss_fn(net(train_x[idx]), train_y[idx]).backward()
        opt.step()
        if step % 10 == 9:
            net.eval()
            with torch.inference_mode():
                pred = torch.sigmoid(net(test_x))[:, 0].numpy() >= 0.5
            score = np.mean(
                [dice(p, t[0].numpy() > 0.5) for p, t in zip(pred, test_y, strict=True)]
            )
            if score >= 0.8:
                break
    cpu_seconds = time.process_time() - t0
    assert score >= 0.8, f"Dice {score:.3f} after {step + 1} steps"
    assert cpu_seconds < 2 * 60, f"took {cpu_seconds:.0f} CPU s"
