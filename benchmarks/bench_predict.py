"""``pneumoviewer predict`` per image vs the chosen runtimes' bare forward passes (#11 §1).

Usage::

    .venv/bin/python benchmarks/bench_predict.py [--runtime auto] [--rounds 5]
        [--stage2 20] [--n N] [--threads T] [--model DIR|random] [--png] [--stages]

Measured in one process, side by side, in alternating rounds (the order flips every round,
so load from other processes hits both alike):

(a) **bare**: the engine's own runners (``--runtime``: ``auto`` picks the fastest faithful
    runtime per network, as predict does) called on the real inputs of the same images,
    prepared beforehand: classifier + segmenter, batch 1, nothing else. What the models
    alone cost per image.
(b) **predict**: ``run_predict`` in-process (what ``pneumoviewer predict --no-png`` runs,
    same runtime and torch threads) over the same folder: seconds per image from the first
    image to the last output written (``PredictSummary.loop_seconds``; the folder scan and
    model loading are outside it).

Prints both medians, the ratio of medians and the median of the per-round ratios; the goal
is <= 1.10. The folder: the 10 bundled samples (with their ground-truth CSV, so Dice is
computed) plus ``--stage2`` stage-2 images from ``../shared/data`` when present, or ``--n``
copies of the samples. The load average is printed per round: on a shared machine only
the medians of alternating rounds mean something.

``--stages`` adds the per-stage profile of one image's work, each stage timed on its own
(``time.perf_counter``, median over the images), split into what predict runs in its decode
threads and what it runs in the main thread between forward passes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def make_real_model(path: Path) -> Path:
    """Real architectures (DenseNet-121 @224, U-Net ResNet-34 @256), random weights."""
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


def make_mixed_folder(path: Path, stage2: int) -> Path:
    """The 10 samples + their ground-truth CSV, and the first ``stage2`` stage-2 images."""
    from pneumoviewer import SAMPLES_DIR

    path.mkdir(parents=True, exist_ok=True)
    for src in sorted(SAMPLES_DIR.glob("*.dcm")) + sorted(SAMPLES_DIR.glob("*rle*.csv")):
        shutil.copy(src, path / src.name)
    shared = REPO.parent / "shared" / "data" / "stage2-unlabeled"
    for src in sorted(shared.glob("*.dcm"))[:stage2] if shared.is_dir() else []:
        shutil.copy(src, path / src.name)
    return path


def _images(folder: Path):
    from pneumoviewer.core.studies import ScanProblem, load_entry, scan_folder

    entries = [e for e in scan_folder(folder) if not isinstance(e, ScanProblem)]
    return entries, [load_entry(e) for e in entries]


class Bare:
    """The engine's runners on the prepared inputs of a folder's images (batch 1)."""

    def __init__(self, engine, images) -> None:
        self.engine = engine
        self.nets = [(kind, net) for kind, net, _ in engine._networks()]
        prepare = getattr(engine, "prepare", None) or engine._inputs
        self.inputs = []
        for image in images:
            cls_in, seg_in = prepare(image.pixels, image.padding)
            by_kind = {"classifier": cls_in, "segmenter": seg_in}
            self.inputs.append([by_kind[kind][None] for kind, _ in self.nets])

    def seconds_per_image(self) -> float:
        t = time.perf_counter()
        for batch in self.inputs:
            for (_, net), x in zip(self.nets, batch, strict=True):
                self.engine._run(net, x)
        return (time.perf_counter() - t) / len(self.inputs)


def run_predict_once(folder: Path, out: Path, model_dir: Path, args, cpu=None) -> float:
    """Seconds per image of one predict run; ``cpu`` gets (process, main thread) CPU
    seconds per image from the first image written to the last (setup excluded)."""
    from pneumoviewer.predict import PredictOptions, run_predict

    marks: list[tuple[int, float, float]] = []

    def on_image(done: int) -> None:
        marks.append((done, time.process_time(), time.thread_time()))

    opts = PredictOptions(
        folder=folder,
        out=out,
        model_dir=model_dir,
        device="cpu",
        png=args.png,
        overwrite=True,
        workers=args.workers,
        threads=args.threads,
        runtime=args.runtime,
        progress=False,
    )
    s = run_predict(opts, stderr=None, on_image=on_image)
    assert s.n_error == 0, s.problems
    if cpu is not None and len(marks) > 1:
        (n0, p0, t0), (n1, p1, t1) = marks[0], marks[-1]
        cpu["predict"].append((p1 - p0) / (n1 - n0))
        cpu["predict_main"].append((t1 - t0) / (n1 - n0))
    return s.loop_seconds / s.n_ok


def _ms(values: list[float]) -> str:
    rounds = [round(v * 1000) for v in values]
    return f"{statistics.median(values) * 1000:7.1f} ms/image (rounds {rounds})"


def stage_profile(engine, entries, gt, repeats: int = 2) -> None:
    """Time each step of one image's work on its own (one thread), median over the images."""
    import numpy as np
    import torch

    from pneumoviewer.core.decision import decide, decision_threshold_of
    from pneumoviewer.core.probability_map import quantise_probability, upsample_probability
    from pneumoviewer.core.quality import check_header, check_pixels
    from pneumoviewer.core.rle import encode
    from pneumoviewer.core.studies import load_entry

    prepare = getattr(engine, "prepare", None) or engine._inputs
    params = engine.postprocess_params()
    decision = decision_threshold_of(engine.manifest)
    nets = dict((kind, net) for kind, net, _ in engine._networks())
    times: dict[str, list[float]] = {}

    def timed(name, fn, *a, **k):
        t = time.perf_counter()
        out = fn(*a, **k)
        times.setdefault(name, []).append(time.perf_counter() - t)
        return out

    for _ in range(repeats):
        for entry in entries:
            image = timed("decode (load_entry)", load_entry, entry)
            cls_in, seg_in = timed(
                "model inputs (CLAHE + 2 resizes)", prepare, image.pixels, image.padding
            )
            timed("quality: pixel rules", check_pixels, image.pixels, padding=image.padding)
            out = timed("forward: classifier", engine._run, nets["classifier"], cls_in[None])
            logits = timed("forward: segmenter", engine._run, nets["segmenter"], seg_in[None])
            feats = out[1][0].numpy().astype(np.float32) if isinstance(out, tuple) else None

            def to_map(logits=logits, shape=image.pixels.shape):
                p = torch.sigmoid(logits[:, 0]).numpy().astype(np.float32, copy=False)
                return upsample_probability(quantise_probability(p[0]), shape)

            prob_map = timed("map: sigmoid, uint8, upsample to image", to_map)
            d = timed(
                "post-processing + decision",
                decide,
                class_probability=0.9,
                prob_map=prob_map,
                params=params,
                decision_threshold=decision,
            )
            timed(
                "quality: header rules",
                check_header,
                image.metadata,
                engine.manifest.effective_intended_use,
            )
            if engine.ood is not None and feats is not None:
                timed("quality: OOD distance", engine.ood.check, feats)
            if gt is not None:
                timed("ground truth lookup", gt.lookup, entry.image_id, image.pixels.shape)
            if d.mask is not None:
                timed("RLE encode", encode, d.mask)
    in_decode = {"decode (load_entry)", "model inputs (CLAHE + 2 resizes)", "quality: pixel rules"}
    forwards = {"forward: classifier", "forward: segmenter"}
    print(f"\nper-stage profile ({len(entries)} images x {repeats}, median ms, one thread):")
    total = {"decode": 0.0, "main": 0.0, "fwd": 0.0}
    for name, v in times.items():
        med = statistics.median(v) * 1000
        where = "decode" if name in in_decode else "fwd" if name in forwards else "main"
        total[where] += med
        print(f"  {name:<42} {med:8.2f}   [{where}]")
    print(
        f"  sums: forwards {total['fwd']:.1f} ms, main thread besides them {total['main']:.1f} ms "
        f"({total['main'] / total['fwd']:.1%}), decode threads {total['decode']:.1f} ms"
    )


def main() -> int:
    from pneumoviewer import DEMO_MODEL_DIR

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEMO_MODEL_DIR), help="model dir, or 'random'")
    parser.add_argument("--runtime", default="auto", help="auto|torch|onnxruntime|openvino|...")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (predict's default)"
    )
    parser.add_argument("--workers", type=int, default=2, help="decode threads of predict")
    parser.add_argument("--rounds", type=int, default=5, help="alternating measurement rounds")
    parser.add_argument("--stage2", type=int, default=20, help="stage-2 images besides the samples")
    parser.add_argument("--n", type=int, default=0, help="N copies of the samples instead")
    parser.add_argument("--png", action="store_true", help="predict writes annotated PNGs too")
    parser.add_argument("--stages", action="store_true", help="also print the per-stage profile")
    args = parser.parse_args()

    import torch

    from pneumoviewer.core.ground_truth import find_ground_truth_csv, read_rle_csv
    from pneumoviewer.core.inference.engine import InferenceEngine
    from pneumoviewer.predict.runner import default_threads

    if args.threads is None:
        args.threads = default_threads()
    torch.set_num_threads(args.threads)  # before the runners are built: they take this count
    with tempfile.TemporaryDirectory(prefix="bench_predict_") as tmp:
        tmp = Path(tmp)
        model_dir = make_real_model(tmp / "model") if args.model == "random" else Path(args.model)
        if args.n:
            folder = make_folder(tmp / "images", args.n)
        else:
            folder = make_mixed_folder(tmp / "images", args.stage2)
        entries, images = _images(folder)
        engine = InferenceEngine(model_dir, device="cpu", runtime=args.runtime)
        bare = Bare(engine, images)
        found = find_ground_truth_csv(folder)
        print(
            f"model {model_dir.name}, {len(images)} images ({folder}), runtime {args.runtime} -> "
            f"{engine.runtimes}, {args.threads} torch thread(s), {args.workers} decode threads, "
            f"png {args.png}, torch {torch.__version__}, {os.cpu_count()} CPUs"
        )
        del images
        bare.seconds_per_image()  # warm-up (first calls allocate)
        run_predict_once(folder, tmp / "warm", model_dir, args)
        times: dict[str, list[float]] = {"bare": [], "predict": []}
        # CPU seconds per image: the whole process, and the main thread (forwards + the
        # per-image work between them); under load, wall time follows CPU demand
        cpu: dict[str, list[float]] = {"bare": [], "predict": [], "predict_main": []}
        for r in range(args.rounds):
            load = os.getloadavg()[0]
            order = ("bare", "predict") if r % 2 == 0 else ("predict", "bare")
            for key in order:
                if key == "bare":
                    c0 = time.process_time()
                    times["bare"].append(bare.seconds_per_image())
                    cpu["bare"].append((time.process_time() - c0) / len(bare.inputs))
                else:
                    times["predict"].append(
                        run_predict_once(folder, tmp / "out", model_dir, args, cpu)
                    )
            print(
                f"  round {r + 1}: load average {load:.2f}, bare {times['bare'][-1] * 1000:.0f}, "
                f"predict {times['predict'][-1] * 1000:.0f} ms/image"
            )
        print(f"(a) bare forward passes, both networks: {_ms(times['bare'])}")
        what = "with PNGs" if args.png else "--no-png"
        print(f"(b) predict {what}:            {_ms(times['predict'])}")
        ratio = statistics.median(times["predict"]) / statistics.median(times["bare"])
        paired = statistics.median(
            p / b for p, b in zip(times["predict"], times["bare"], strict=True)
        )
        print(
            f"ratio predict / bare forwards = {ratio:.3f} (median of per-round ratios "
            f"{paired:.3f}); goal <= 1.10; load average now {os.getloadavg()[0]:.2f}"
        )
        c = {k: statistics.median(v) * 1000 for k, v in cpu.items()}
        print(
            f"CPU ms/image (medians): bare {c['bare']:.1f}; predict {c['predict']:.1f} in all "
            f"threads ({c['predict'] / c['bare']:.3f}x), {c['predict_main']:.1f} in the main "
            f"thread ({c['predict_main'] / c['bare']:.3f}x)"
        )
        if args.stages:
            stage_profile(engine, entries, read_rle_csv(found) if found is not None else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
