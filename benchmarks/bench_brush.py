"""Reader-mask drawing at 1024²: one brush step, and saving a finished stroke.

Usage::

    .venv/bin/python benchmarks/bench_brush.py [--repeats 200]

Prints, at 1024 x 1024 with a 15 px brush (the core part only; the viewer's overlay
redraw is measured by ``bench_ui.py``):

1. one brush step (``ReadingSession.stroke_to`` of the segment since the last mouse move)
   against the 16 ms budget of a 60 Hz drag;
2. finishing a stroke (undo record of the changed box + run-length encode + one SQLite
   transaction with fsync), against the same budget (it runs once, at mouse release);
3. undo (restore the box + save).

Both with the reading file's default ``durable=True`` (``synchronous=FULL``: an fsync per
change) and ``durable=False`` (``synchronous=NORMAL``: kill-safe, not power-loss-safe).

4. the whole brush step in the viewer (``--viewer``, the default; offscreen Qt): the mask
   edit, the recomposition of the changed rectangle by the one compositor (ground truth
   filled, prediction filled, the reader's mask outlined: ``BoxRepainter``), pyqtgraph's
   image conversion and a synchronous repaint of the canvas (``viewport().repaint()``),
   against the same 16 ms; and, for scale, the full-overlay refresh it avoids.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from pneumoviewer.core.reading_session import ReadingSession  # noqa: E402
from pneumoviewer.core.readings import AIContext, ReadingFile  # noqa: E402

BUDGET_MS = 16.0


def report(*rows: tuple[str, list[float]]) -> None:
    """Print each ``(name, seconds)`` row's median and p95 against the budget."""
    for name, samples in rows:
        ms = statistics.median(samples) * 1000
        p95 = float(np.percentile(samples, 95)) * 1000
        print(
            f"  {name}: median {ms:.3f} ms, p95 {p95:.3f} ms; "
            f"budget {BUDGET_MS:.0f} ms / median = {BUDGET_MS / ms:.1f}x"
        )


def main() -> int:
    """Run the benchmark and print one line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--no-viewer", action="store_true", help="skip the viewer step")
    args = parser.parse_args()
    for durable in (True, False):
        print(f"reading file durable={durable} (synchronous={'FULL' if durable else 'NORMAL'})")
        run(args.repeats, durable=durable)
    if not args.no_viewer:
        run_viewer(args.repeats)
    return 0


def run_viewer(repeats: int) -> None:
    """Measure the whole brush step in the viewer: edit + box recompose + canvas repaint."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from pneumoviewer.core.overlay import MaskPaint, compose
    from pneumoviewer.core.reading_annotation import READER_COLOR
    from pneumoviewer.ui.image_canvas import ImageCanvas
    from pneumoviewer.ui.widgets.reading_draw import BoxRepainter

    app = QApplication.instance() or QApplication([])
    rng = np.random.default_rng(1)
    shape = (1024, 1024)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = ((xx + yy) % 256).astype(np.uint8)
    truth = (xx - 700) ** 2 + (yy - 300) ** 2 < 150**2
    prediction = (xx - 650) ** 2 + (yy - 320) ** 2 < 170**2
    canvas = ImageCanvas()
    canvas.resize(1000, 900)
    canvas.show()
    canvas.set_image(image)
    app.processEvents()
    with tempfile.TemporaryDirectory() as tmp:
        rf = ReadingFile(Path(tmp) / "r.sqlite", study="bench", durable=False)
        session = ReadingSession(rf)
        session.open_image("img", shape=shape)
        np.copyto(session.mask, prediction)

        def paints():
            return [
                MaskPaint("Ground truth", truth, (168, 60, 220), 0.45),
                MaskPaint("Prediction", prediction, (255, 215, 0), 0.45),
                MaskPaint("Reader", session.mask, READER_COLOR, 0.9, True),
            ]

        full = []
        for _ in range(5):
            t0 = time.perf_counter()
            canvas.set_overlay(compose(shape, paints()))
            full.append(time.perf_counter() - t0)
        repainter = BoxRepainter(canvas, paints)
        edit, whole = [], []
        for stroke in range(max(1, repeats // 20)):
            session.begin_stroke()
            repainter.begin(shape)
            x, y = rng.uniform(100, 900, 2)
            for _ in range(20):
                nx, ny = np.clip([x, y] + rng.normal(0, 8, 2), 0, 1023)
                t0 = time.perf_counter()
                box = session.stroke_to([(x, y), (nx, ny)], 15, erase=stroke % 3 == 2)
                t1 = time.perf_counter()
                repainter.repaint(box)
                canvas.graphics.viewport().repaint()
                whole.append(time.perf_counter() - t0)
                edit.append(t1 - t0)
                x, y = nx, ny
            repainter.end()
            session.finish_stroke()
        rf.close()
    canvas.close()
    print("viewer (offscreen Qt, 1024 x 1024, brush radius 15, truth + prediction + reader)")
    report(
        ("mask edit only", edit),
        ("whole brush step (edit + box recompose + image + repaint)", whole),
        ("full overlay refresh (what a step would cost without the box path)", full),
    )


def run(repeats: int, *, durable: bool) -> None:
    """Measure brush steps, stroke finishes and undos on one reading file."""
    rng = np.random.default_rng(0)
    ai_mask = np.zeros((1024, 1024), bool)
    ai_mask[100:400, 600:900] = True
    ai = AIContext.build(probability=0.9, decision_state="positive", mask=ai_mask)
    steps, finishes, undos = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        rf = ReadingFile(Path(tmp) / "r.sqlite", study="bench", durable=durable)
        session = ReadingSession(rf)
        session.open_image("img", shape=(1024, 1024), ai=ai)
        for stroke in range(max(1, repeats // 20)):
            session.begin_stroke()
            x, y = rng.uniform(100, 900, 2)
            for _ in range(20):
                nx, ny = np.clip([x, y] + rng.normal(0, 8, 2), 0, 1023)
                t0 = time.perf_counter()
                session.stroke_to([(x, y), (nx, ny)], 15, erase=stroke % 3 == 2)
                steps.append(time.perf_counter() - t0)
                x, y = nx, ny
            t0 = time.perf_counter()
            session.finish_stroke()
            finishes.append(time.perf_counter() - t0)
        for _ in range(min(10, len(finishes))):
            t0 = time.perf_counter()
            session.undo()
            undos.append(time.perf_counter() - t0)
        rf.close()
    report(
        ("brush step (stroke_to)", steps),
        ("finish stroke (undo record + RLE + commit)", finishes),
        ("undo (restore + commit)", undos),
    )


if __name__ == "__main__":
    sys.exit(main())
