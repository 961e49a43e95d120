"""CPU runtimes side by side (#11): torch fp32, torch bf16, ONNX Runtime, OpenVINO (+ CUDA fp16).

Usage::

    .venv/bin/python benchmarks/bench_runtimes.py [--model DIR] [--threads 1] [--reps 5]
        [--sizes 512 1024] [--predict-n 20] [--skip-predict]

In one process, alternating the runtimes round by round (so a busy machine hurts them
alike), batch 1:

1. both networks of the model (default: the bundled demo, DenseNet-121 224 + U-Net
   ResNet-34 256) at their manifest input size, and the U-Net at each ``--sizes``;
   ms/image (median over rounds) and the ratio to torch fp32; the faithfulness numbers on
   the bundled samples (classifier: worst probability difference vs fp32, <= 0.02;
   segmenter: worst mask Dice at the operating threshold, >= 0.99);
2. ``pneumoviewer predict --runtime auto --no-png`` over ``--predict-n`` copies of the
   samples vs the bare forward passes of the runtimes auto chose (both networks, pre-made
   inputs), alternating; the goal is a ratio <= 1.1.

Unavailable runtimes (no native bf16, package not installed, no GPU) are listed with the
reason. Converted models go to a temporary cache (not the user's).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _samples(spec, clahe, size: int):
    import numpy as np

    from pneumoviewer import SAMPLES_DIR
    from pneumoviewer.core.dicom_io import load_xray
    from pneumoviewer.core.preprocessing import to_model_input

    out = []
    for p in sorted(SAMPLES_DIR.glob("*.dcm")):
        im = load_xray(p)
        out.append(
            to_model_input(
                im.pixels,
                size=size,
                clahe_params=clahe,
                mean=spec.mean,
                std=spec.std,
                channels=spec.in_channels,
                padding=im.padding,
            )
        )
    return np.stack(out)


def _cuda_runner(net):
    import torch

    if not torch.cuda.is_available():
        return None
    gpu = net.to("cuda")

    def run(x):
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
            out = gpu(x.to("cuda"))
        torch.cuda.synchronize()
        return tuple(o.float().cpu() for o in out) if isinstance(out, tuple) else out.float().cpu()

    return run


def bench_network(kind, net, spec, clahe, sha, size, reps, rounds=3):
    """Return {runtime: (ms, faithfulness, note)} for one network at one size."""
    import numpy as np
    import torch

    from pneumoviewer.core.inference import runtime_choice as rc
    from pneumoviewer.core.inference.runtimes import RUNTIMES

    key = f"{sha}-{kind}"
    make = rc.runner_factory(net, key=key, input_size=size, in_channels=spec.in_channels)
    batch = _samples(spec, clahe, size)
    prob = None
    if kind == "classifier":
        from pneumoviewer.core.inference.calibration import scores_to_probability

        def prob(raw):
            return scores_to_probability(raw, spec)[0]

    thr = getattr(spec, "mask_threshold", 0.5)
    reports = rc.evaluate(make, batch, kind=kind, to_probability=prob, threshold=thr, reps=1)
    runners = {}
    result = {}
    for r in reports:
        if r.ms is None:
            result[r.runtime] = (None, None, r.reason)
        else:
            runners[r.runtime] = make(r.runtime)
            result[r.runtime] = [[], r.faithfulness, "" if r.faithful else r.reason]
    cuda = _cuda_runner(net) if torch.cuda.is_available() else None
    if cuda is not None:
        x = torch.from_numpy(batch)
        out = cuda(x)
        out = out[0] if isinstance(out, tuple) else out
        runners["cuda-fp16"] = cuda
        result["cuda-fp16"] = [[], None, "faithfulness not measured"]
    else:
        result["cuda-fp16"] = (None, None, "no CUDA GPU")
    x1 = torch.from_numpy(np.ascontiguousarray(batch[:1]))
    for run in runners.values():
        run(x1)  # warm-up
    for _ in range(rounds):
        for name, run in runners.items():
            t = time.perf_counter()
            for _ in range(reps):
                run(x1)
            result[name][0].append((time.perf_counter() - t) * 1000 / reps)
    if cuda is not None:
        net.to("cpu")
    out = {}
    for name in (*RUNTIMES, "cuda-fp16"):
        ms, faith, note = result[name]
        out[name] = (None if ms is None else statistics.median(ms), faith, note)
    return out


def print_table(title, res):
    print(f"\n{title}")
    base = res["torch"][0]
    print(f"  {'runtime':<12} {'ms/image':>9} {'vs fp32':>8}  faithfulness  note")
    for name, (ms, faith, note) in res.items():
        if ms is None:
            print(f"  {name:<12} {'-':>9} {'-':>8}  {'-':>12}  {note}")
            continue
        f = "-" if faith is None else f"{faith:.4g}"
        print(f"  {name:<12} {ms:9.1f} {base / ms:7.2f}x  {f:>12}  {note}")


def bench_predict(model_dir: Path, n: int, threads: int, rounds: int = 2) -> None:
    """predict --runtime auto --no-png vs the chosen runtimes' bare forward passes."""
    import numpy as np
    import torch

    from benchmarks.bench_predict import make_folder
    from pneumoviewer.core.inference.engine import InferenceEngine
    from pneumoviewer.predict import PredictOptions, run_predict

    engine = InferenceEngine(model_dir, device="cpu", runtime="auto")
    print(f"\npredict vs bare forwards (auto chose: {engine.runtimes})")
    nets = list(engine._networks())
    inputs = [torch.zeros(1, s.in_channels, s.input_size, s.input_size) for _, _, s in nets]

    def bare() -> float:
        t = time.perf_counter()
        for _ in range(n):
            for (_, net, _), x in zip(nets, inputs, strict=True):
                engine._run(net, x.numpy())
        return (time.perf_counter() - t) / n

    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(Path(tmp) / "in", n)
        bare()
        b_times, p_times = [], []
        for r in range(rounds):
            b_times.append(bare())
            opts = PredictOptions(
                folder=folder,
                out=Path(tmp) / f"out{r}",
                model_dir=model_dir,
                png=False,
                progress=False,
                runtime="auto",
                threads=threads,
            )
            s = run_predict(opts, stderr=None)
            assert s.n_ok == n, s.problems
            p_times.append(s.loop_seconds / s.n_ok)
        b, p = float(np.median(b_times)), float(np.median(p_times))
        print(f"  bare forwards {b * 1000:7.1f} ms/image   predict {p * 1000:7.1f} ms/image")
        print(
            f"  ratio predict / bare = {p / b:.2f} (goal <= 1.10); rounds: "
            f"bare {[round(x * 1000) for x in b_times]}, predict "
            f"{[round(x * 1000) for x in p_times]}"
        )


def main() -> None:
    from pneumoviewer import DEMO_MODEL_DIR

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=DEMO_MODEL_DIR)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--sizes", type=int, nargs="*", default=[512, 1024])
    ap.add_argument("--predict-n", type=int, default=20)
    ap.add_argument("--skip-predict", action="store_true")
    args = ap.parse_args()
    tmp_cache = tempfile.mkdtemp(prefix="bench_runtimes_")
    os.environ.setdefault("PNEUMOVIEWER_RUNTIME_CACHE", tmp_cache)

    import torch

    torch.set_num_threads(args.threads)
    from pneumoviewer.core.inference.engine import InferenceEngine
    from pneumoviewer.core.inference.manifest import file_sha256
    from pneumoviewer.core.inference.runtime_choice import machine_key

    engine = InferenceEngine(args.model, device="cpu", runtime="torch")
    m = engine.manifest
    print(
        f"model {m.name}; {args.threads} thread(s); machine {machine_key()}; torch "
        f"{torch.__version__}; CPU capability {torch.backends.cpu.get_cpu_capability()}"
    )
    for kind, net, spec in engine._networks():
        sha = file_sha256(args.model / spec.weights)
        sizes = [spec.input_size] + (list(args.sizes) if kind == "segmenter" else [])
        for size in sizes:
            res = bench_network(kind, net, spec, m.clahe, sha, size, args.reps)
            print_table(f"{kind} {spec.architecture} at {size}x{size}", res)
    if not args.skip_predict:
        bench_predict(args.model, args.predict_n, args.threads)


if __name__ == "__main__":
    main()
