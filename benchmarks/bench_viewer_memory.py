"""Viewer memory at archive scale, and reopening an analysed folder (issue #12).

Usage::

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_viewer_memory.py
        [--sizes 200 12000] [--reopen 3205] [--baseline 3205] [--model DIR] [--real 4]

For each size N (one fresh process each, so the peaks do not mix):

1. a folder of N real stage-2 DICOMs copied under fresh SOPInstanceUIDs (as
   ``bench_scan`` builds them, cached under ``benchmarks/_work/``);
2. the viewer (offscreen) loads the model, then lists the folder;
3. the first ``--real`` images are analysed by the real model (Analyse all on them);
4. every other image gets a result through the **same path** worker results take: an
   :class:`InferenceOutput` emitted on the inference worker's ``result`` signal (store in
   memory + on disk, list columns, decision, summary), its map one of the real model-size
   maps of step 3 (running the models on 12,000 images would take an hour on 2 CPUs).

Memory is read from ``/proc/self/status`` (VmRSS, RssAnon, RssFile, VmHWM = peak) after
each stage, so the table says where the memory before any analysis goes. Target: peak
<= 2 GB with 12,000 images and within 10 % of the peak with 200.

``--reopen N``: a process analyses (as above) an N-image folder and quits; a second
process loads the model, opens the folder and times open -> every row's AI columns filled
(and scan finished). Target < 2 s for 3,205 images.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "2")
warnings.filterwarnings("ignore", message="Invalid value for VR UI")  # stage-2 ids "ID_..."
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "stage2-unlabeled"
DEFAULT_MODEL = REPO / "resources" / "models" / "demo"


def status_mb() -> dict[str, float]:
    """VmRSS, RssAnon, RssFile, VmHWM of this process in MB (from /proc/self/status)."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[key] = int(rest.split()[0]) / 1024
    return out


def store_mb(path: Path) -> float:
    """Size of the store file and its WAL in MB."""
    wal = path.with_name(path.name + "-wal")
    return (path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)) / 1e6


def wait_for(signal, timeout_ms: int = 600_000, predicate=lambda *a: True):
    """Run the event loop until ``signal`` fires with args satisfying ``predicate``."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop, got = QEventLoop(), []

    def on(*args):
        if predicate(*args):
            got.append(args)
            loop.quit()

    signal.connect(on)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(on)
    if not got:
        raise TimeoutError(f"no {signal} within {timeout_ms} ms")
    return got[0]


def wait_until(predicate, timeout_s: float = 600.0) -> None:
    from PySide6.QtWidgets import QApplication

    t0 = time.monotonic()
    while not predicate():
        QApplication.processEvents()
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError("condition not met")
        time.sleep(0.002)


def make_window(stages: list):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from pneumoviewer.ui.app import configure_runtime

    configure_runtime()
    app = QApplication.instance() or QApplication([])
    QSettings.setPath(
        QSettings.Format.IniFormat,
        QSettings.Scope.UserScope,
        tempfile.mkdtemp(prefix="pv_mem_cfg_"),
    )
    stages.append(("QApplication", status_mb()))
    from pneumoviewer.ui.main_window import MainWindow

    w = MainWindow()
    w.show_error = lambda title, text: print(f"  error: {title}: {text}", file=sys.stderr)
    w.show()
    app.processEvents()
    stages.append(("MainWindow shown (Qt, pyqtgraph, no torch)", status_mb()))
    return app, w


def feed(w, image_ids: list[str], templates: list, *, report_every: int = 0) -> float:
    """Emit a worker result for each id (a real map of ``templates``); return seconds."""
    from PySide6.QtWidgets import QApplication

    from pneumoviewer.ui.inference_worker import InferenceOutput

    t0 = time.perf_counter()
    for n, image_id in enumerate(image_ids):
        t = templates[n % len(templates)]
        out = InferenceOutput(  # a new array per result, as from the worker
            w.analysis.generation, image_id, t.class_probability, t.prob_u8.copy(), t.device,
            t.seconds, True, image_shape=t.image_shape, score=t.score,
        )  # fmt: skip
        w.inference.result.emit(out)  # the same slot the worker's results reach
        if n % 50 == 0:
            QApplication.processEvents()
        if report_every and n and n % report_every == 0:
            print(f"  fed {n}: {status_mb()}", file=sys.stderr, flush=True)
    wait_until(lambda: not w.bulk_timer.isActive())
    QApplication.processEvents()
    return time.perf_counter() - t0


def analyse(
    folder: Path, model: Path, n_real: int, *, stages: list, baseline: bool = False
) -> dict:
    """List ``folder``, analyse ``n_real`` images for real and feed the rest.

    ``baseline``: the design before #12 -- maps quantised at the image's resolution (1 MiB
    at 1024²) in a memory-only LRU of 1 GiB, nothing on disk.
    """
    app, w = make_window(stages)
    if baseline:
        from pneumoviewer.ui.results import ResultStore

        w.analysis.store.close()
        w.analysis.store = ResultStore(disk=None, max_map_bytes=1 << 30)
    t = time.perf_counter()
    w.load_model(model)
    wait_for(w.model_ready)
    stages.append((f"model loaded (torch + weights, {time.perf_counter() - t:.1f} s)", status_mb()))
    t = time.perf_counter()
    w.vm.analysis.auto = False  # only what we ask for runs
    w.open_folder(folder)
    n = wait_for(w.scan_finished)[0]
    listed = time.perf_counter() - t
    stages.append((f"{n} images listed ({listed:.1f} s)", status_mb()))
    ids = [r.image_id for r in w.study_list.model.rows]
    real = ids[:n_real]
    t = time.perf_counter()
    w.analysis.analyse_all(real)
    wait_for(w.batch_done)
    real_s = time.perf_counter() - t
    templates = [w.store.get(i) for i in real]
    assert all(tp.prob_u8 is not None for tp in templates)
    if baseline:  # what the worker sent before: the full-resolution map, quantised
        from dataclasses import replace

        from pneumoviewer.ui.cache import quantise_probability

        templates = [
            replace(tp, prob_u8=quantise_probability(tp.full_map()), image_shape=None)
            for tp in templates
        ]
    shape = templates[0].prob_u8.shape
    stages.append((f"{n_real} analysed by the model ({real_s:.1f} s), maps {shape}", status_mb()))
    rest = [i for i in ids if i not in set(real)]
    fed_s = feed(w, rest, templates, report_every=2000 if len(rest) > 4000 else 0)
    w.analysis.update_summary()
    analysed = sum(r.analysed for r in w.study_list.model.rows)
    stages.append((f"{analysed} analysed (fed {len(rest)} in {fed_s:.0f} s)", status_mb()))
    info = {
        "images": n,
        "analysed": analysed,
        "maps_in_memory": len(w.store.maps),
        "map_bytes_in_memory": w.store.maps.nbytes,
        "store_rows": len(w.store.disk) if w.store.disk is not None else 0,
        "store_file_mb": store_mb(w.store.disk.path) if w.store.disk else 0,
        "summary_n": None if w.summary is None else w.summary.get("n_analysed"),
        "predictions_run": w.inference.predictions_run,
    }
    w.close()
    w.shutdown()
    app.processEvents()
    return info


def child_breakdown(args) -> None:
    """Where the memory before any analysis goes, one import / step at a time (no window)."""
    stages: list = [("python (start)", status_mb())]
    import numpy  # noqa: F401
    import pydicom  # noqa: F401

    stages.append(("+ numpy, pydicom", status_mb()))
    import pyqtgraph  # noqa: F401
    from PySide6 import QtWidgets  # noqa: F401

    stages.append(("+ PySide6 (QtWidgets), pyqtgraph", status_mb()))
    import torch

    stages.append(("+ import torch", status_mb()))
    import segmentation_models_pytorch  # noqa: F401
    import torchvision  # noqa: F401

    stages.append(("+ torchvision, segmentation_models_pytorch", status_mb()))
    from pneumoviewer.core.inference.engine import InferenceEngine

    engine = InferenceEngine(args.model, device="cpu")
    n_params = sum(
        p.numel()
        for net in (engine._classifier, engine._segmenter)
        if net
        for p in net.parameters()
    )
    stages.append(
        (f"+ model weights ({n_params / 1e6:.1f} M params, fp32: {n_params * 4 / 1e6:.0f} MB)",
         status_mb())
    )  # fmt: skip
    from pneumoviewer.core.dicom_io import load_xray

    pixels = load_xray(sorted(args.source.glob("*.dcm"))[0]).pixels
    engine.predict(pixels)
    stages.append((f"+ one prediction ({pixels.shape[0]}x{pixels.shape[1]} image)", status_mb()))
    engine.predict(pixels)
    stages.append(("+ a second prediction", status_mb()))
    print(json.dumps({"stages": stages, "torch_threads": torch.get_num_threads()}))


def child_memory(args) -> None:
    stages: list = [("python + numpy (start)", status_mb())]
    import numpy  # noqa: F401
    from bench_scan import build_folder

    folder = build_folder(args.source, args.files)
    info = analyse(folder, args.model, args.real, stages=stages, baseline=args.baseline)
    print(json.dumps({"stages": stages, "info": info, "peak_mb": status_mb()["VmHWM"]}))


def child_reopen(args) -> None:
    from bench_scan import build_folder

    folder = build_folder(args.source, args.files)
    if args.phase == "analyse":
        info = analyse(folder, args.model, args.real, stages=[])
        print(json.dumps({"info": info}))
        return
    stages: list = []
    app, w = make_window(stages)
    w.load_model(args.model)
    wait_for(w.model_ready)
    w.vm.analysis.auto = False
    model = w.study_list.model
    restore = w.analysis.restore_results
    spent = [0.0]

    def timed_restore(rows):
        t = time.perf_counter()
        n = restore(rows)
        spent[0] += time.perf_counter() - t
        return n

    rounds = []
    for k in range(6):  # alternating: reopen with the results store / the same scan without
        with_store = k % 2 == 0
        w.analysis.restore_results = timed_restore if with_store else (lambda rows: 0)
        spent[0] = 0.0
        t0 = time.perf_counter()
        w.open_folder(folder)
        n = wait_for(w.scan_finished)[0]
        t_scan = time.perf_counter() - t0
        if with_store:
            wait_until(lambda: all(r.analysed and r.state is not None for r in model.rows))
        t_cols = time.perf_counter() - t0
        filled = sum(r.analysed for r in model.rows)
        rounds.append(
            {"store": with_store, "scan_s": t_scan, "columns_s": t_cols, "restore_s": spent[0],
             "filled": filled}
        )  # fmt: skip
    w.analysis.restore_results = restore
    w.analysis.update_summary()
    print(
        json.dumps(
            {
                "images": n,
                "rounds": rounds,
                "predictions_run": w.inference.predictions_run,
                "map_reads": w.store.disk_reads,
            }
        )
    )
    w.close()
    w.shutdown()


def print_stages(stages: list) -> None:
    print(f"{'stage (MB)':60s} {'VmRSS':>7s} {'anon':>7s} {'file':>7s} {'peak':>7s}")
    for name, m in stages:
        print(
            f"{name[:60]:60s} {m['VmRSS']:7.0f} {m['RssAnon']:7.0f} {m['RssFile']:7.0f} "
            f"{m['VmHWM']:7.0f}"
        )


def run_child(args: list[str], env: dict) -> dict:
    cmd = [sys.executable, __file__, *args]
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[200, 12000])
    ap.add_argument("--reopen", type=int, default=3205, help="0 to skip")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--real", type=int, default=4, help="images analysed by the model")
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--child", choices=["memory", "reopen", "breakdown"], help=argparse.SUPPRESS)
    ap.add_argument("--files", type=int, default=200, help=argparse.SUPPRESS)
    ap.add_argument("--phase", default="", help=argparse.SUPPRESS)
    ap.add_argument(
        "--baseline",
        type=int,
        default=0,
        help="also run N images the pre-#12 way (full-size maps, 1 GiB LRU); 0: skip",
    )
    a = ap.parse_args(argv)
    if a.child == "memory":
        child_memory(a)
        return 0
    if a.child == "reopen":
        child_reopen(a)
        return 0
    if a.child == "breakdown":
        child_breakdown(a)
        return 0
    if not a.source.is_dir():
        print(f"source folder {a.source} not found; pass --source", file=sys.stderr)
        return 2
    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} CPUs")
    common = ["--model", str(a.model), "--real", str(a.real), "--source", str(a.source)]
    if a.sizes:
        r = run_child(["--child", "breakdown", *common], dict(os.environ))
        print("\n== where the memory before any analysis goes (no window; one step at a time) ==")
        print_stages(r["stages"])
    peaks = {}
    for n in a.sizes:
        env = dict(os.environ, PNEUMOVIEWER_RESULTS_DIR=tempfile.mkdtemp(prefix="pv_mem_"))
        r = run_child(["--child", "memory", "--files", str(n), *common], env)
        peaks[n] = r["peak_mb"]
        print(f"\n== {n} images: peak RSS {r['peak_mb']:.0f} MB ==")
        print_stages(r["stages"])
        print("  " + json.dumps(r["info"]))
    if a.baseline and a.child is None:
        env = dict(os.environ, PNEUMOVIEWER_RESULTS_DIR=tempfile.mkdtemp(prefix="pv_mem_"))
        r = run_child(
            ["--child", "memory", "--files", str(a.baseline), "--baseline", "1", *common], env
        )
        print(f"\n== baseline (before #12: 1024² uint8 maps, 1 GiB LRU), {a.baseline} images: "
              f"peak RSS {r['peak_mb']:.0f} MB ==")  # fmt: skip
        print_stages(r["stages"])
        print("  " + json.dumps(r["info"]))
    if len(peaks) >= 2:
        small, large = min(peaks), max(peaks)
        ratio = peaks[large] / peaks[small]
        print(
            f"\npeak RSS {large} images: {peaks[large]:.0f} MB (target <= 2048); "
            f"{small} images: {peaks[small]:.0f} MB; ratio {ratio:.3f} (target <= 1.10)"
        )
    if a.reopen:
        env = dict(os.environ, PNEUMOVIEWER_RESULTS_DIR=tempfile.mkdtemp(prefix="pv_reopen_"))
        args = ["--child", "reopen", "--files", str(a.reopen), *common]
        first = run_child([*args, "--phase", "analyse"], env)
        print(f"\nreopen: analysed {json.dumps(first['info'])}")
        r = run_child([*args, "--phase", "reopen"], env)
        import statistics

        with_store = [x for x in r["rounds"] if x["store"]]
        without = [x for x in r["rounds"] if not x["store"]]
        cols = statistics.median(x["columns_s"] for x in with_store)
        scan = statistics.median(x["scan_s"] for x in without)
        inside = statistics.median(x["restore_s"] for x in with_store)
        print(
            f"reopen of {r['images']} analysed images, 3 rounds each, alternating: every AI "
            f"column filled in {cols:.2f} s (median; rows filled "
            f"{with_store[0]['filled']}); the same folder listed without the store "
            f"{scan:.2f} s; time inside restore {inside:.3f} s; ratio {cols / scan:.2f}; "
            f"models run {r['predictions_run']}, maps read {r['map_reads']} (target < 2 s)"
        )
        for x in r["rounds"]:
            print("  " + json.dumps({k: round(v, 3) if isinstance(v, float) else v
                                     for k, v in x.items()}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
