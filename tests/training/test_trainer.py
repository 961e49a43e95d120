"""The shared training loop: gradient accumulation is equivalent to a larger batch."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from model_training.distributed import DistInfo
from model_training.loaders import EpochSampler
from model_training.trainer import TrainConfig, fit, read_metrics_csv


class _Points(Dataset):
    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(8, 3, generator=g)
        self.y = (self.x[:, 0] > 0).float()

    def __len__(self):
        return 8

    def __getitem__(self, item):
        i = item[0] if isinstance(item, tuple) else item
        return self.x[i], self.y[i]


def _train(tmp_path, name, batch, accumulate):
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    ds = _Points()
    sampler = EpochSampler(range(8), shuffle=False)
    loader = DataLoader(ds, batch_size=batch, sampler=sampler)

    def loss_fn(model, out, y):
        return torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], y)

    def validate(model):
        return {"score": -float(loss_fn(model, model(ds.x), ds.y))}

    cfg = TrainConfig(
        epochs=2,
        batch_size=batch,
        accumulate=accumulate,
        lr=0.1,
        weight_decay=0.0,
        workers=0,
        device="cpu",
        progress=False,
    )
    res = fit(
        net,
        train_loader=loader,
        loss_fn=loss_fn,
        validate=validate,
        run_dir=tmp_path / name,
        config=cfg,
        info=DistInfo(0, 1, 0, torch.device("cpu")),
    )
    return net, res


def test_accumulation_equals_the_larger_batch(tmp_path):
    big, _ = _train(tmp_path, "big", batch=8, accumulate=1)
    acc, res = _train(tmp_path, "acc", batch=4, accumulate=2)
    torch.testing.assert_close(acc.weight, big.weight, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(acc.bias, big.bias, rtol=1e-5, atol=1e-6)
    small, _ = _train(tmp_path, "small", batch=4, accumulate=1)  # two steps per epoch differ
    assert not torch.allclose(small.weight, big.weight)
    rows = read_metrics_csv(tmp_path / "acc")
    assert [r["epoch"] for r in rows] == [1.0, 2.0] and res.best_epoch in (1, 2)
    assert (tmp_path / "acc" / "checkpoints" / "best.safetensors").is_file()
