"""Canvas speed at 1024²: window/level step, new-image show, ruler/cursor read-outs.

Usage::

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_canvas.py [--repeats 40]

Each line prints ours next to a baseline measured in the same run (synchronous repaint of
the canvas viewport included, at a 1100x850 canvas):

1. window/level step on a 12-bit 1024² image (``set_window`` -> uint16 index gathered
   through a <=4096-entry table -> ``setImage`` uint8 -> repaint). Baseline: pyqtgraph's own
   path (uint16 image, ``setLevels``), which does the same work inside ``render``; target:
   < 16 ms (60 Hz drag).
2. showing a new (cached, decoded) 12-bit image: ``show_image`` (index, statistics,
   presets, annotations, fit, repaint). Baseline: the old uint8 ``set_image`` path. Target:
   a cached switch < 50 ms in total.
3. a cursor move (value under the cursor) and a ruler drag step.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QPointF  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(fn, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and GUI-thread CPU seconds of ``fn(k)`` for k in range(repeats)."""
    wall, cpu = [], []
    for k in range(repeats):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn(k)
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - t0)
    return wall, cpu


def synthetic(seed: int) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:1024, 0:1024]
    stored = (2000 + 1500 * np.sin(x / 90.0) * np.cos(y / 120.0)).astype(np.float32)
    stored += rng.normal(0, 40, stored.shape).astype(np.float32)
    stored = np.clip(np.rint(stored), 0, 4095).astype(np.float32)
    md = SimpleNamespace(
        patient_sex="F", patient_age="041Y", age_text="41 y", view_position="PA",
        study_date="20190101", photometric="MONOCHROME2", patient_orientation=("L", "F"),
        window_centers=(2048.0,), window_widths=(3000.0,), pixel_spacing=(0.14, 0.14),
        pixel_spacing_source="Imager Pixel Spacing", rows=1024, columns=1024,
    )
    return SimpleNamespace(stored=stored, pixels=np.zeros((1024, 1024), np.uint8),
                           padding=None, metadata=md)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=40)
    a = ap.parse_args()
    app = QApplication.instance() or QApplication([])
    from PySide6.QtWidgets import QGraphicsItem

    from pneumoviewer.ui.image_canvas import ImageCanvas
    from pneumoviewer.ui.windowing import Window

    canvas = ImageCanvas()
    canvas.resize(1100, 850)
    canvas.show()
    app.processEvents()
    viewport = canvas.graphics.viewport()
    images = [synthetic(i) for i in range(4)]
    canvas.show_image(images[0])
    viewport.repaint()
    n = a.repeats
    print(f"(medians of {n}; 'cpu' is GUI-thread CPU time, robust to other load on the machine)")

    # [1] W/L step
    def ours_step(k):
        canvas.set_window(Window(1500 + 20 * k, 1000 + 30 * k), emit=True)
        viewport.repaint()

    wall, cpu = timed(ours_step, n)
    item = pg.ImageItem(axisOrder="row-major")
    item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    canvas.view.addItem(item)
    canvas.base_item.hide()
    item.setImage(images[0].stored.astype(np.uint16), levels=(0, 4095), autoLevels=False)

    def base_step(k):
        item.setLevels((1000 + 20 * k, 2000 + 50 * k))
        viewport.repaint()

    bwall, bcpu = timed(base_step, n)
    canvas.view.removeItem(item)
    canvas.base_item.show()
    print(
        f"[1] W/L step 1024² 12-bit + repaint: wall {median_ms(wall):.1f} ms, cpu "
        f"{median_ms(cpu):.1f} ms; baseline pyqtgraph uint16 setLevels wall "
        f"{median_ms(bwall):.1f} ms, cpu {median_ms(bcpu):.1f} ms; cpu ratio "
        f"{statistics.median(cpu) / statistics.median(bcpu):.2f}x the baseline (target < 16 ms)"
    )

    # [2] new image
    def ours_show(k):
        canvas.show_image(images[k % len(images)])
        viewport.repaint()

    display = [np.ascontiguousarray((i.stored / 16).astype(np.uint8)) for i in images]

    def base_show(k):
        canvas.set_image(display[k % len(display)])
        viewport.repaint()

    wall, cpu = timed(ours_show, n)
    bwall, bcpu = timed(base_show, n)
    print(
        f"[2] show a new 1024² 12-bit image + repaint: wall {median_ms(wall):.1f} ms, cpu "
        f"{median_ms(cpu):.1f} ms; baseline uint8 set_image wall {median_ms(bwall):.1f} ms, "
        f"cpu {median_ms(bcpu):.1f} ms; cpu ratio "
        f"{statistics.median(cpu) / statistics.median(bcpu):.2f}x (cached switch target < 50 ms)"
    )

    # [3] cursor and ruler
    canvas.show_image(images[0])
    canvas.set_ruler(True)

    def cursor(k):
        canvas._on_mouse_moved(canvas.view.mapViewToScene(QPointF(100 + k, 200 + k)))
        viewport.repaint()

    def ruler(k):
        canvas.ruler.roi.movePoint(1, QPointF(600 + k, 500))
        viewport.repaint()

    cwall, ccpu = timed(cursor, n)
    rwall, rcpu = timed(ruler, n)
    print(
        f"[3] cursor read-out + repaint: wall {median_ms(cwall):.1f} ms, cpu "
        f"{median_ms(ccpu):.1f} ms; ruler drag step + repaint: wall {median_ms(rwall):.1f} ms, "
        f"cpu {median_ms(rcpu):.1f} ms ({canvas.ruler.text()})"
    )
    canvas.close()


if __name__ == "__main__":
    main()
