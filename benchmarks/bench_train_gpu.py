"""GPU training throughput of the two networks (prepared for a GPU session).

Runs a few hundred optimisation steps of the U-Net (ResNet-34 encoder, Dice + Focal) at
512 and 1024 px and of DenseNet-121 (squared hinge) at 224 and 512 px, with autocast, on
random data (the data pipeline is measured separately), and prints images/s and the peak
GPU memory. Without CUDA it prints "no CUDA device" and exits 0.

    python benchmarks/bench_train_gpu.py [--steps 200] [--batch-seg 8 4] [--batch-cls 32 16]
"""

from __future__ import annotations

import argparse
import sys
import time


def _bench(build, loss_fn, *, size, batch, steps, device, amp_dtype, masks):
    import torch

    net = build().to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, size, size, device=device).to(memory_format=torch.channels_last)
    if masks:
        y = (torch.rand(batch, 1, size, size, device=device) > 0.98).float()
    else:
        y = (torch.rand(batch, device=device) > 0.5).float()
    torch.cuda.reset_peak_memory_stats(device)
    warmup = max(steps // 10, 5)
    for i in range(warmup + steps):
        if i == warmup:
            torch.cuda.synchronize(device)
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=amp_dtype):
            out = net(x)
        loss = loss_fn(net, out, y)
        loss.backward()
        opt.step()
    torch.cuda.synchronize(device)
    dt = time.perf_counter() - t0
    return batch * steps / dt, torch.cuda.max_memory_allocated(device) / 2**30


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-seg", type=int, nargs=2, default=(16, 4), help="at 512 and 1024")
    ap.add_argument("--batch-cls", type=int, nargs=2, default=(64, 16), help="at 224 and 512")
    a = ap.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: nothing measured (run this in a GPU session)")
        return 0
    from model_training.heads import make_loss
    from model_training.losses import DiceFocalLoss
    from pneumoviewer.core.inference.devices import autocast_dtype
    from pneumoviewer.core.inference.manifest import ClassifierSpec, SegmenterSpec
    from pneumoviewer.core.inference.models import build_classifier, build_segmenter

    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    amp = autocast_dtype(dev)
    print(f"device: {torch.cuda.get_device_name(dev)}, autocast {amp}, steps {a.steps}")
    dice_focal = DiceFocalLoss()
    rows = []
    for size, batch in zip((512, 1024), a.batch_seg, strict=True):
        spec = SegmenterSpec(encoder="resnet34", input_size=size, mean=0.5, std=0.25)
        ips, mem = _bench(
            lambda s=spec: build_segmenter(s),
            lambda n, o, y: dice_focal(o, y),
            size=size,
            batch=batch,
            steps=a.steps,
            device=dev,
            amp_dtype=amp,
            masks=True,
        )
        rows.append(("U-Net ResNet-34", size, batch, ips, mem))
    svm = make_loss("svm")
    for size, batch in zip((224, 512), a.batch_cls, strict=True):
        spec = ClassifierSpec(head="svm", input_size=size, mean=0.5, std=0.25)
        ips, mem = _bench(
            lambda s=spec: build_classifier(s),
            svm,
            size=size,
            batch=batch,
            steps=a.steps,
            device=dev,
            amp_dtype=amp,
            masks=False,
        )
        rows.append(("DenseNet-121 svm", size, batch, ips, mem))
    print("| model | size | batch | images/s | peak GPU memory (GiB) |")
    print("|---|---|---|---|---|")
    for name, size, batch, ips, mem in rows:
        print(f"| {name} | {size} | {batch} | {ips:.1f} | {mem:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
