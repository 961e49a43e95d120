"""#10 costs: the quality gate's rules, the OOD distance and Grad-CAM, against a forward pass.

Usage::

    .venv/bin/python benchmarks/bench_quality.py [--repeats 7] [--threads 1]

On the demo model and a bundled sample (1024 x 1024), prints medians in milliseconds and
the ratios that matter:

* Grad-CAM (captum LayerGradCam at the rectified last DenseNet block, forward + backward,
  224 px) against the classifier's forward pass alone (``inference_mode``): the heat-map's
  price in forward passes;
* ``InferenceEngine.heatmap`` (CLAHE, resize, Grad-CAM, map resized to 1024²) against
  ``InferenceEngine.predict`` (both networks);
* header rules (per study-list row) and pixel rules (per loaded image) against the image
  decode (``load_xray``) they follow; the Mahalanobis distance (1024-d) against the forward.
"""

from __future__ import annotations

import argparse
import statistics
import time


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def _alternate(a, b, repeats: int) -> tuple[float, float]:
    """Median ms of ``a`` and ``b``, run in turn (after one warm-up each)."""
    a(), b()
    ta, tb = [], []
    for _ in range(repeats):
        for fn, out in ((a, ta), (b, tb)):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(ta), statistics.median(tb)


def main() -> None:
    """Measure and print (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    from pneumoviewer import DEMO_MODEL_DIR, SAMPLES_DIR
    from pneumoviewer.core.dicom_io import load_xray, read_header
    from pneumoviewer.core.inference.engine import InferenceEngine
    from pneumoviewer.core.inference.explain import grad_cam
    from pneumoviewer.core.quality import check_header, check_pixels

    torch.set_num_threads(args.threads)
    path = sorted(SAMPLES_DIR.glob("*.dcm"))[0]
    image = load_xray(path)
    engine = InferenceEngine(DEMO_MODEL_DIR, device="cpu", runtime="torch")
    x = torch.from_numpy(engine._inputs(image.pixels)[0][None])
    x = x.contiguous(memory_format=torch.channels_last)  # as the engine runs it on the CPU
    r = args.repeats

    def forward():
        with torch.inference_mode():
            engine._features(x)

    # alternated, so that a busy machine slows both sides alike
    fwd, cam = _alternate(
        forward, lambda: grad_cam(engine._features, x, target=0, out_shape=(1024, 1024)), r
    )
    predict, heat = _alternate(
        lambda: engine.predict(image.pixels), lambda: engine.heatmap(image.pixels), r
    )
    decode = _median_ms(lambda: load_xray(path), r)
    meta = read_header(path)[1]
    header = _median_ms(lambda: check_header(meta), max(r, 50))
    pixels = _median_ms(lambda: check_pixels(image.pixels), r)
    feats = engine.predict(image.pixels).features
    ood = "n/a (the model has no OOD statistics)"
    if engine.ood is not None:
        ood_ms = _median_ms(lambda: engine.ood.distance(feats), max(r, 20))
        ood = f"{ood_ms:.2f} ms = {ood_ms / fwd:.3f} x classifier forward"
    print(f"torch threads {args.threads}, {r} repeats, sample {path.name}")
    print(f"classifier forward (224 px)   {fwd:8.1f} ms")
    print(f"Grad-CAM (fwd + bwd, captum)  {cam:8.1f} ms  = {cam / fwd:.2f} x forward")
    print(f"engine.predict (both nets)    {predict:8.1f} ms")
    print(f"engine.heatmap (1024^2 map)   {heat:8.1f} ms  = {heat / predict:.2f} x predict")
    print(f"load_xray (decode)            {decode:8.1f} ms")
    print(f"header rules                  {header:8.3f} ms  = {header / decode:.4f} x decode")
    print(f"pixel rules                   {pixels:8.1f} ms  = {pixels / decode:.2f} x decode")
    print(f"OOD distance                  {ood}")


if __name__ == "__main__":
    main()
