"""Peak memory of ``pneumoviewer predict --no-png``: 200 images vs 3,205 (#11 §3).

Usage::

    .venv/bin/python benchmarks/bench_predict_memory.py [--model tiny|demo|DIR]
        [--sizes 200 3205] [--runtime torch] [--stages]

Each run is a fresh child process (``pneumoviewer predict``) over a folder of
copies of ``../shared/data/stage2-unlabeled`` under fresh SOPInstanceUIDs (built once by
``benchmarks/bench_scan.py``'s ``build_folder``, cached in ``benchmarks/_work``); its peak
RSS is the child's ``ru_maxrss``. Prints both peaks and their ratio (goal: 3,205 within
10% of 200).

``--model tiny`` (the default) is a randomly initialised DenseNet-121 + U-Net ResNet-18 at
64 px (``tests/tiny_models.py``): 3,205 images then take minutes on 2 CPUs instead of an
hour, and what grows with the folder (decoding, rows, the summary) is the same.

``--stages`` prints where a 256 px model's memory goes before the first image: the RSS
after the interpreter, ``import torch``, the pneumoviewer modules predict imports, the
engine (weights), the first prediction, and whether Qt / CUDA libraries are loaded.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SOURCE = REPO.parent / "shared" / "data" / "stage2-unlabeled"

_STAGES = r"""
import os, sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
print(f"interpreter              {rss():7.0f} MB", flush=True)
import numpy, pydicom, cv2
print(f"numpy, pydicom, cv2      {rss():7.0f} MB", flush=True)
import torch
print(f"import torch             {rss():7.0f} MB", flush=True)
torch.set_num_threads(1)
from pneumoviewer.predict import runner
from pneumoviewer.core.inference.engine import InferenceEngine
import tqdm
print(f"pneumoviewer modules     {rss():7.0f} MB", flush=True)
e = InferenceEngine(sys.argv[1], device="cpu", runtime=sys.argv[2])
print(f"engine (weights)         {rss():7.0f} MB  runtime {e.runtime}", flush=True)
from pneumoviewer import SAMPLES_DIR
from pneumoviewer.core.dicom_io import load_xray
im = load_xray(sorted(SAMPLES_DIR.glob("*.dcm"))[0])
e.predict(im.pixels)
print(f"first prediction         {rss():7.0f} MB", flush=True)
for _ in range(5):
    e.predict(im.pixels)
print(f"6 predictions            {rss():7.0f} MB", flush=True)
qt = [m for m in sys.modules if m.startswith(("PySide6", "PyQt", "pyqtgraph"))]
cuda = sorted({l.split()[-1].rsplit("/", 1)[-1] for l in open("/proc/self/maps")
               if "libcu" in l or "libnv" in l or "torch_cuda" in l})
print(f"Qt modules loaded: {qt or 'none'}; CUDA libraries mapped: {len(cuda)} "
      f"({', '.join(cuda[:6])}{'...' if len(cuda) > 6 else ''}); "
      f"torch.cuda initialised: {torch.cuda.is_initialized()}", flush=True)
"""


def model_dir(choice: str, tmp: Path) -> Path:
    from pneumoviewer import DEMO_MODEL_DIR

    if choice == "demo":
        return DEMO_MODEL_DIR
    if choice == "tiny":
        from tests.tiny_models import make_tiny_model_dir

        return make_tiny_model_dir(tmp / "tiny")
    return Path(choice)


def peak_rss(folder: Path, out: Path, model: Path, runtime: str, threads: int) -> tuple:
    """Run predict in a child; return (peak RSS MB, seconds, rows, its last line)."""
    cmd = [
        sys.executable,
        "-c",
        "import sys; from pneumoviewer.cli import main; sys.exit(main(sys.argv[1:]))",
        "predict",
        str(folder),
        "--out",
        str(out),
        "--model",
        str(model),
        "--no-png",
        "--no-progress",
        "--runtime",
        runtime,
        "--threads",
        str(threads),
        "--device",
        "cpu",
    ]
    log = out.with_suffix(".log")
    t = time.perf_counter()
    with open(log, "w") as f:
        child = subprocess.Popen(cmd, stderr=f)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage
    secs = time.perf_counter() - t
    child.returncode = os.waitstatus_to_exitcode(status)
    err = log.read_text()
    if child.returncode != 0:
        raise SystemExit(f"predict failed ({child.returncode}): {err[-2000:]}")
    rows = (out / "predictions.csv").read_text().count("\n") - 1
    return usage.ru_maxrss / 1024, secs, rows, err.strip().splitlines()[-1] if err else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--sizes", type=int, nargs="*", default=[200, 3205])
    ap.add_argument("--runtime", default="torch")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stages", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("PNEUMOVIEWER_RUNTIME_CACHE", str(tmp / "cache"))
        model = model_dir(args.model, tmp)
        if args.stages:
            print(f"where the memory goes ({model}):")
            subprocess.run([sys.executable, "-c", _STAGES, str(model), args.runtime], check=True)
        if not args.sizes:
            return
        from benchmarks.bench_scan import build_folder

        peaks = {}
        for n in args.sizes:
            folder = build_folder(SOURCE, n)
            peak, secs, rows, last = peak_rss(
                folder, tmp / f"out{n}", model, args.runtime, args.threads
            )
            peaks[n] = peak
            print(f"{n:6d} images: peak RSS {peak:7.0f} MB, {secs:6.1f} s, {rows} rows; {last}")
        if len(peaks) >= 2:
            small, large = min(peaks), max(peaks)
            print(
                f"peak RSS {large} / {small} images = {peaks[large] / peaks[small]:.3f} "
                "(goal <= 1.10)"
            )


if __name__ == "__main__":
    main()
