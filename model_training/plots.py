"""PNG plots of a run's metrics per epoch.

Drawn with matplotlib's object-oriented API on an Agg canvas (``Figure`` +
``FigureCanvasAgg``): importing this module neither selects a process-wide backend
(no ``matplotlib.use``) nor touches pyplot's global figure registry.
"""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from model_training.trainer import METRICS_CSV, read_metrics_csv
from pneumoviewer.core.io import atomic_write_bytes

PLOTS = {
    "loss.png": ("Loss", ("train_loss", "val_loss")),
    "accuracy.png": ("Accuracy / AUC", ("accuracy", "auc", "sensitivity", "specificity")),
    "dice.png": ("Dice", ("dice_positive", "kaggle_mean_dice")),
}


def _plot(path: Path, title: str, series: dict[str, tuple[list, list]], ylabel: str) -> Path:
    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for label, (x, y) in series.items():
        ax.plot(x, y, marker="o", markersize=3, label=label)
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue(), overwrite=True)


def plot_run(run_dir: str | Path) -> list[Path]:
    """Write ``plots/loss.png``, ``accuracy.png`` and/or ``dice.png`` from ``metrics.csv``.

    Returns
    -------
    list of Path
        The files written (a plot is skipped when none of its columns exist).
    """
    run_dir = Path(run_dir)
    if not (run_dir / METRICS_CSV).is_file():
        return []
    rows = read_metrics_csv(run_dir)
    out_dir = run_dir / "plots"
    out_dir.mkdir(exist_ok=True)
    written = []
    for name, (title, keys) in PLOTS.items():
        series = {
            k: ([r["epoch"] for r in rows if k in r], [r[k] for r in rows if k in r])
            for k in keys
            if any(k in r for r in rows)
        }
        if series:
            written.append(_plot(out_dir / name, title, series, title.split(" ")[0].lower()))
    return written


def plot_comparison(runs: dict[str, str | Path], key: str, path: str | Path, *, title: str) -> Path:
    """One curve of ``key`` per run (e.g. validation Dice of ResNet-18 vs ResNet-34)."""
    series = {}
    for label, run_dir in runs.items():
        rows = read_metrics_csv(run_dir)
        series[label] = ([r["epoch"] for r in rows if key in r], [r[key] for r in rows if key in r])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _plot(path, title, series, key)
