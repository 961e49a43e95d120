"""``pneumoviewer predict``: images per second, local engine vs Ray Data (#11 §2).

Usage::

    .venv/bin/python benchmarks/bench_ray.py [--n 200] [--rounds 1] [--model demo|tiny|DIR]
        [--threads 1] [--png] [--runtime torch]

Runs both engines in this process on the same folder (the first ``--n`` stage-2 images of
``../shared/data/stage2-unlabeled``, else copies of the bundled sample), in alternating
order per round, and prints per engine:

- **steady**: images per second from the first image written to the last (start-up left
  out: Ray's worker processes import torch and load the models before the first image);
- **run**: images per second over the whole run, scan and model loading (and for Ray, the
  start of a local Ray and of the actors) included;

and the Ray / local ratio of each (> 1: Ray is faster), medians over the rounds. Ray is
the local Ray that ``--engine ray`` starts (all CPUs of this machine; CPU actors of
``--threads`` torch threads each); on a multi-node cluster the steady rate scales with the
actors, which this single machine cannot show. The local engine uses ``--threads`` torch
threads too, so both run the same models with the same threads per image.
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
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_predict_memory import model_dir  # noqa: E402 - one model choice for the benches

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def make_folder(path: Path, n: int) -> tuple[Path, str]:
    """Copy the first ``n`` stage-2 images (or the bundled samples, repeated) to ``path``."""
    shared = REPO.parent / "shared" / "data" / "stage2-unlabeled"
    sources = sorted(shared.glob("*.dcm"))[:n] if shared.is_dir() else []
    path.mkdir(parents=True, exist_ok=True)
    if sources:
        for src in sources:
            shutil.copy(src, path / src.name)
        return path, f"{len(sources)} stage-2 images"
    from benchmarks.bench_predict import make_folder as copies

    copies(path, n)
    return path, f"{n} copies of the bundled sample (no ../shared/data)"


def run_once(engine: str, folder: Path, out: Path, model: Path, args) -> tuple[float, float]:
    """Return (steady images/s, whole-run images/s) of one run."""
    from pneumoviewer.predict import PredictOptions, run_predict

    stamps: list[float] = []
    opts = PredictOptions(
        folder=folder,
        out=out,
        model_dir=model,
        device="cpu",
        runtime=args.runtime,
        png=args.png,
        overwrite=True,
        threads=args.threads,
        progress=False,
        engine=engine,
    )
    t0 = time.perf_counter()
    s = run_predict(opts, stderr=None, on_image=lambda _: stamps.append(time.perf_counter()))
    total = time.perf_counter() - t0
    assert s.n_error == 0 and s.n_ok == len(stamps), s.problems
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    return steady, s.n_ok / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="images (default 200)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds (default 1)")
    parser.add_argument("--model", default="demo", help="demo (default), tiny or a model dir")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per model copy")
    parser.add_argument("--runtime", default="torch", help="--runtime of both (default torch)")
    parser.add_argument("--png", action="store_true", help="also write the annotated PNGs")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    try:
        folder, what = make_folder(tmp / "in", args.n)
        model = model_dir(args.model, tmp)
        print(
            f"{what}, model {args.model}, runtime {args.runtime}, {args.threads} torch "
            f"thread(s), PNGs {'on' if args.png else 'off'}, {os.cpu_count()} CPUs",
            flush=True,
        )
        rates: dict[str, list[tuple[float, float]]] = {"local": [], "ray": []}
        for r in range(args.rounds):
            order = ("local", "ray") if r % 2 == 0 else ("ray", "local")
            for engine in order:
                load = os.getloadavg()[0]
                steady, whole = run_once(engine, folder, tmp / f"out-{engine}", model, args)
                rates[engine].append((steady, whole))
                print(
                    f"round {r + 1} {engine:5s}: steady {steady:6.2f} img/s, whole run "
                    f"{whole:6.2f} img/s (load average {load:.1f})",
                    flush=True,
                )
        med = {
            e: (statistics.median(s for s, _ in v), statistics.median(w for _, w in v))
            for e, v in rates.items()
        }
        for e, (s, w) in med.items():
            print(f"median {e:5s}: steady {s:6.2f} img/s, whole run {w:6.2f} img/s")
        print(
            f"ray / local: steady {med['ray'][0] / med['local'][0]:.2f}x, "
            f"whole run {med['ray'][1] / med['local'][1]:.2f}x"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
