"""Viewer: "A -> result painted" against ``engine.predict`` alone, on the sample images.

Usage::

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_viewer_predict.py \
        [--runtime auto|torch|torch-bf16|onnxruntime|openvino] [--model DIR]

With Analyse by itself off, for every sample image but the first (one-off costs), the time
from ``analyse_current()`` to the result painted (``result_arrived`` + ``processEvents``),
then ``engine.predict`` alone on the same image (preprocessing and both networks), in one
process. Prints both medians and their ratio (#11 §1: the viewer adds little around the
model; the runtime choice is what moves "A -> result painted").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtime", default="auto")
    ap.add_argument("--model", type=Path, default=REPO / "resources" / "models" / "demo")
    a = ap.parse_args()
    os.environ["PNEUMOVIEWER_RUNTIME"] = a.runtime
    os.environ["PNEUMOVIEWER_RESULTS_DIR"] = tempfile.mkdtemp(prefix="pv_bench_results_")
    from bench_ui import wait_for
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    QSettings.setPath(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="pv_")
    )
    import pneumoviewer
    from pneumoviewer.ui.main_window import MainWindow

    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} CPUs")
    w = MainWindow()
    w.resize(1400, 900)
    w.show()
    w.vm.analysis.auto = False
    w.open_folder(pneumoviewer.SAMPLES_DIR)
    wait_for(w.scan_finished)
    w.load_model(a.model)
    wait_for(w.model_ready, 180000)
    engine = w.inference.engine
    painted, alone = [], []
    for k, image_id in enumerate(w.study_list.proxy.image_ids()):
        w.study_list.select_id(image_id)
        if w.current is None or w.current.image_id != image_id:
            wait_for(w.image_shown, predicate=lambda i, want=image_id: i == want)
        app.processEvents()
        t0 = time.perf_counter()
        w.analyse_current()
        wait_for(w.result_arrived, predicate=lambda i, want=image_id: i == want)
        app.processEvents()
        t1 = time.perf_counter()
        engine.predict(w.current.image.pixels, image_id=image_id)
        t2 = time.perf_counter()
        if k:
            painted.append(t1 - t0)
            alone.append(t2 - t1)
    p, e = statistics.median(painted), statistics.median(alone)
    print(
        f"runtime {a.runtime} -> {getattr(engine, 'runtimes', None)}: A -> result painted "
        f"median {p * 1000:.0f} ms; engine.predict alone {e * 1000:.0f} ms; ratio {p / e:.2f} "
        f"({len(painted)} images; load after {os.getloadavg()})"
    )
    w.close()


if __name__ == "__main__":
    main()
