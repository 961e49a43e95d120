"""Batch inference cost: `pneumoviewer predict` vs. bare forward passes of the same models.

Usage::

    .venv/bin/python benchmarks/bench_predict.py [--n 12] [--threads 2] [--model DIR]

Measured in one process, on the same threads:

(a) baseline: the classifier and the segmenter called on pre-made input tensors of the
    model's input sizes (``torch.inference_mode``, eval mode, batch 1, N times after a
    warm-up) - what the models alone cost per image;
(b) ``pneumoviewer predict`` (in-process, ``run_predict``) over a folder of N DICOMs
    (the bundled sample, copied under new SOPInstanceUIDs when N > 10), once with
    ``--no-png`` and once with annotated PNGs: seconds per image from the first image
    to the last output written (model loading and the folder scan are reported apart).

Prints the ratios (b) / (a); the target is <= 1.15. The default model has the real
architectures (DenseNet-121 at 224, U-Net ResNet-34 at 256), randomly initialised in a
temporary folder.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def make_real_model(path: Path) -> Path:
    import torch

    from pneumoviewer.core.inference.manifest import (
        ClaheParams,
        ClassifierSpec,
        ModelManifest,
        SegmenterSpec,
    )
    from pneumoviewer.core.inference.models import build_classifier, build_segmenter, save_model_dir

    manifest = ModelManifest(
        name="bench-random",
        description="random init, real architectures",
        demo=True,
        clahe=ClaheParams(),
        classifier=ClassifierSpec(head="svm", input_size=224, mean=0.5, std=0.25),
        segmenter=SegmenterSpec(encoder="resnet34", input_size=256, mean=0.5, std=0.25),
    )
    torch.manual_seed(0)
    save_model_dir(
        path,
        manifest,
        classifier=build_classifier(manifest.classifier),
        segmenter=build_segmenter(manifest.segmenter),
    )
    return path


def make_folder(path: Path, n: int) -> Path:
    """N DICOMs: the bundled sample, repeated under new SOPInstanceUIDs."""
    import pydicom

    from pneumoviewer import SAMPLES_DIR

    sources = sorted(SAMPLES_DIR.glob("*.dcm"))
    path.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = sources[i % len(sources)]
        if i < len(sources):
            shutil.copy(src, path / src.name)
            continue
        ds = pydicom.dcmread(src)
        uid = f"{ds.SOPInstanceUID}.{i}"
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.save_as(path / f"{uid}.dcm")
    return path


class BareModels:
    """The two networks of a model directory on pre-made input tensors (batch 1)."""

    def __init__(self, model_dir: Path, *, channels_last: bool) -> None:
        import torch

        from pneumoviewer.core.inference.models import load_model_dir

        loaded = load_model_dir(model_dir)
        c, s = loaded.manifest.classifier, loaded.manifest.segmenter
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.cls = loaded.classifier.to(memory_format=fmt)
        self.seg = loaded.segmenter.to(memory_format=fmt)
        gen = torch.Generator().manual_seed(0)
        self.xc = torch.randn(1, c.in_channels, c.input_size, c.input_size, generator=gen)
        self.xs = torch.randn(1, s.in_channels, s.input_size, s.input_size, generator=gen)
        self.xc = self.xc.contiguous(memory_format=fmt)
        self.xs = self.xs.contiguous(memory_format=fmt)

    def seconds_per_image(self, n: int) -> float:
        """Wall time of n (classifier + segmenter) forward passes, divided by n."""
        import torch

        with torch.inference_mode():
            t = time.perf_counter()
            for _ in range(n):
                self.cls(self.xc)
                self.seg(self.xs)
            return (time.perf_counter() - t) / n

    def warm_up(self) -> None:
        self.seconds_per_image(2)


def run_predict_once(
    folder: Path, out: Path, model_dir: Path, *, png: bool, workers: int, threads: int
):
    from pneumoviewer.predict import PredictOptions, run_predict

    opts = PredictOptions(
        folder=folder,
        out=out,
        model_dir=model_dir,
        device="cpu",
        png=png,
        overwrite=True,
        workers=workers,
        threads=threads,
        progress=False,
    )
    return run_predict(opts, stderr=None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12, help="number of images")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--workers", type=int, default=2, help="decode threads of predict")
    parser.add_argument("--model", type=Path, default=None, help="model directory")
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurement rounds")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_predict_") as tmp:
        tmp = Path(tmp)
        model_dir = args.model or make_real_model(tmp / "model")
        folder = make_folder(tmp / "images", args.n)
        print(
            f"model {model_dir}, {args.n} images 1024x1024, torch {torch.__version__}, "
            f"{args.threads} threads, device cpu"
        )

        plain = BareModels(model_dir, channels_last=False)
        fast = BareModels(model_dir, channels_last=True)
        plain.warm_up()
        fast.warm_up()
        run_predict_once(
            folder, tmp / "warm", model_dir, png=False, workers=args.workers, threads=args.threads
        )
        times: dict[str, list[float]] = {k: [] for k in ("bare", "bare_cl", "nopng", "png")}
        loads = []
        # Rounds alternate the measurements so that load from other processes hits all of
        # them alike; the minimum over rounds is reported (and the median for reference).
        for _ in range(args.rounds):
            times["bare"].append(plain.seconds_per_image(args.n))
            times["bare_cl"].append(fast.seconds_per_image(args.n))
            for key, png in (("nopng", False), ("png", True)):
                t = time.perf_counter()
                s = run_predict_once(
                    folder,
                    tmp / f"out_{key}",
                    model_dir,
                    png=png,
                    workers=args.workers,
                    threads=args.threads,
                )
                assert s.n_ok == args.n, s.problems
                times[key].append(s.loop_seconds / s.n_ok)
                loads.append(time.perf_counter() - t - s.loop_seconds)

        def ms(key: str) -> str:
            v = times[key]
            return f"{min(v) * 1000:7.1f} ms/image (median {statistics.median(v) * 1000:.1f})"

        print(f"(a) bare forward, classifier + segmenter, contiguous:    {ms('bare')}")
        print(f"(a') bare forward, classifier + segmenter, channels_last: {ms('bare_cl')}")
        print(f"(b) predict --no-png (loop, first image to outputs):     {ms('nopng')}")
        print(f"(b) predict with png:                                     {ms('png')}")
        print(f"    scan + model load per predict run: median {statistics.median(loads):.2f} s")
        base = min(times["bare"])
        for key, label in (("nopng", "--no-png"), ("png", "with png")):
            print(
                f"ratio predict {label} / bare forward = {min(times[key]) / base:.2f} "
                f"(medians {statistics.median(times[key]) / statistics.median(times['bare']):.2f};"
                " target <= 1.15)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
