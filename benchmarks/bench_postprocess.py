"""Slider path benchmark: postprocess + compose_overlay on a cached 1024 x 1024 map.

Usage::

    .venv/bin/python benchmarks/bench_postprocess.py [--repeats 40] [--size 1024]

Prints, in milliseconds, the median (and best) time of pneumoviewer's implementation, the
median of a naive baseline measured in the same run, and the ratio of the medians:

* post-processing, component scheme -- baseline: threshold to uint8,
  ``cv2.connectedComponents`` and a Python loop over components (``mask[labels == i] = 0``),
  as in common SIIM-ACR kernels;
* post-processing, SIIM triplet (the default scheme) -- baseline: the 1st-place solution's
  form, ``(prob > top).sum()`` then a uint8 copy of ``prob > bottom``;
* overlay baseline: float32 RGBA canvas, one straight-alpha "over" per layer with boolean
  indexing, converted to uint8;
* CLAHE: ``clahe()`` (a new ``cv2.createCLAHE`` per call, thread-safe) vs. one reused
  object, on the first bundled sample radiograph.
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from pneumoviewer.core.overlay import LayerStyle, OverlayStyle, compose_overlay, compose_rgba
from pneumoviewer.core.postprocessing import PostprocessParams, postprocess
from pneumoviewer.core.preprocessing import ClaheParams, clahe


def synthetic_map(size: int, seed: int = 0) -> np.ndarray:
    """Two smooth blobs plus smooth noise: ~160 components at 0.5, most below 200 px."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    blobs = np.exp(-(((yy - 0.3) / 0.12) ** 2 + ((xx - 0.7) / 0.08) ** 2))
    blobs += 0.8 * np.exp(-(((yy - 0.6) / 0.05) ** 2 + ((xx - 0.25) / 0.04) ** 2))
    noise = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), 4 * size / 1024)
    noise = (noise - noise.mean()) / noise.std()
    return np.clip(0.75 * blobs + 0.125 * noise + 0.15, 0, 1).astype(np.float32)


def naive_postprocess(prob: np.ndarray, params: PostprocessParams, cls: float | None):
    gate = 0.5 if params.gate_threshold is None else params.gate_threshold
    if params.gate_enabled and cls is not None and cls < gate:
        return np.zeros(prob.shape, bool)
    if params.scheme == "triplet":
        if params.min_area > 0 and (prob >= params.top_threshold).sum() < params.min_area:
            return np.zeros(prob.shape, bool)
        return (prob >= params.bottom_threshold).astype(np.uint8).astype(bool)
    mask = (prob >= params.bottom_threshold).astype(np.uint8)
    if params.min_area > 0:
        n, labels = cv2.connectedComponents(mask, connectivity=8)
        for i in range(1, n):
            component = labels == i
            if component.sum() < params.min_area:
                mask[component] = 0
    return mask.astype(bool)


def naive_overlay(shape, gt: np.ndarray | None, pred: np.ndarray | None, style: OverlayStyle):
    rgb = np.zeros((*shape, 3), np.float32)
    alpha = np.zeros(shape, np.float32)
    for mask, layer in ((gt, style.ground_truth), (pred, style.prediction)):
        if mask is None or not layer.visible:
            continue
        a = layer.opacity
        new_a = a + alpha[mask] * (1 - a)
        rgb[mask] = (
            np.array(layer.color, np.float32) * a + rgb[mask] * (alpha[mask] * (1 - a))[:, None]
        ) / new_a[:, None]
        alpha[mask] = new_a
    out = np.empty((*shape, 4), np.uint8)
    out[..., :3] = np.rint(rgb)
    out[..., 3] = np.rint(alpha * 255)
    return out


def timeit(fn, repeats: int) -> tuple[float, float]:
    """(median, best) wall time of ``fn()`` in ms, after one warm-up call."""
    fn()
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times)


def sample_xray(size: int) -> np.ndarray:
    """The first bundled sample radiograph (uint8), resized to size x size."""
    import pydicom

    from pneumoviewer import SAMPLES_DIR

    path = sorted(SAMPLES_DIR.glob("*.dcm"))[0]
    px = pydicom.dcmread(path).pixel_array
    px = cv2.normalize(px, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return cv2.resize(px, (size, size), interpolation=cv2.INTER_AREA)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--baseline-repeats", type=int, default=7, help="the naive loop is slow")
    ap.add_argument("--size", type=int, default=1024)
    args = ap.parse_args()
    n, nb, size = args.repeats, args.baseline_repeats, args.size

    prob = synthetic_map(size)
    gt = np.zeros((size, size), bool)
    gt[size // 5 : size // 2, size // 2 : size * 4 // 5] = True
    style = OverlayStyle()
    base = sample_xray(size)
    thresholds = np.linspace(0.35, 0.75, 9)
    k = len(thresholds)

    print(f"map {size}x{size} float32; ours: {n} runs, baseline: {nb} runs; times in ms")
    print(f"cv2 threads={cv2.getNumThreads()}")

    def report(label: str, ours, baseline=None, *, per: int = 1, rb: int = nb) -> None:
        med, best = timeit(ours, n if per == 1 else max(3, n // 4))
        med, best = med / per, best / per
        line = f"{label:<46} ours {med:7.2f} (best {best:6.2f})"
        if baseline is not None:
            b = timeit(baseline, rb)[0] / per
            line += f"   baseline {b:8.2f}   speed-up x{b / med:6.1f}"
        print(line)

    def kept(mask: np.ndarray) -> int:
        return cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] - 1

    for min_area in (0, 200):
        params = PostprocessParams(scheme="components", bottom_threshold=0.5, min_area=min_area)
        m = postprocess(prob, params)
        assert np.array_equal(m, naive_postprocess(prob, params, None)), "results differ"
        report(
            f"postprocess components min_area={min_area} ({kept(m)} comps kept)",
            lambda p=params: postprocess(prob, p),
            lambda p=params: naive_postprocess(prob, p, None),
        )
    for top, min_area in ((0.75, 2000), (0.95, 2000)):
        params = PostprocessParams(top_threshold=top, min_area=min_area, bottom_threshold=0.5)
        m = postprocess(prob, params)
        assert np.array_equal(m, naive_postprocess(prob, params, None)), "results differ"
        report(
            f"postprocess triplet top {top} area {min_area} ({int(m.sum())} px)",
            lambda p=params: postprocess(prob, p),
            lambda p=params: naive_postprocess(prob, p, None),
        )

    pred = postprocess(prob, PostprocessParams(scheme="components", min_area=200))
    ours_rgba = compose_overlay((size, size), ground_truth=gt, prediction=pred, style=style)
    naive_rgba = naive_overlay((size, size), gt, pred, style)
    assert np.abs(ours_rgba.astype(int) - naive_rgba).max() <= 1, "overlays differ"
    report(
        "compose_overlay fill (truth + prediction)",
        lambda: compose_overlay((size, size), ground_truth=gt, prediction=pred, style=style),
        lambda: naive_overlay((size, size), gt, pred, style),
    )
    outlined = OverlayStyle(
        ground_truth=LayerStyle(style.ground_truth.color, outline=True),
        prediction=LayerStyle(style.prediction.color, outline=True),
    )
    report(
        "compose_overlay outline (truth + prediction)",
        lambda: compose_overlay((size, size), ground_truth=gt, prediction=pred, style=outlined),
    )

    def slider(post, overlay, scheme):
        def run():
            for t in thresholds:
                p = PostprocessParams(
                    scheme=scheme, bottom_threshold=float(t), top_threshold=0.75, min_area=200
                )
                overlay(post(prob, p))

        return run

    for scheme in ("triplet", "components"):
        report(
            f"slider step {scheme}, postprocess+overlay (mean of {k})",
            slider(
                postprocess,
                lambda p: compose_overlay((size, size), ground_truth=gt, prediction=p, style=style),
                scheme,
            ),
            slider(
                lambda pr, pa: naive_postprocess(pr, pa, None),
                lambda p: naive_overlay((size, size), gt, p, style),
                scheme,
            ),
            per=k,
            rb=max(1, nb // 3),
        )
    report(
        "compose_rgba (export path)",
        lambda: compose_rgba(base, ground_truth=gt, prediction=pred, style=style),
    )

    params = ClaheParams()
    reused = cv2.createCLAHE(clipLimit=params.clip_limit, tileGridSize=params.tile_grid)
    report(
        "clahe(): new object per call vs one reused",
        lambda: clahe(base, params),
        lambda: reused.apply(base),
        rb=n,
    )
    t0 = time.perf_counter()
    for _ in range(10000):
        cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    print(f"cv2.createCLAHE alone: {(time.perf_counter() - t0) / 10000 * 1e6:.2f} us per call")


if __name__ == "__main__":
    main()
