"""``python -m pneumoviewer.ui [FOLDER] [--model DIR] [--gt CSV] [--device auto|cpu|cuda]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the viewer."""
    p = argparse.ArgumentParser(prog="python -m pneumoviewer.ui", description=__doc__)
    p.add_argument("folder", nargs="?", type=Path, help="folder of DICOM images")
    p.add_argument("--model", type=Path, default=None, help="model directory")
    p.add_argument("--gt", type=Path, default=None, help="ground-truth run-length CSV")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--screenshot", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--script", default="", help=argparse.SUPPRESS)
    p.add_argument("--probe-startup", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--probe-first-result", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    from pneumoviewer.ui.app import run_viewer

    return run_viewer(
        a.folder,
        model_dir=a.model,
        gt_csv=a.gt,
        device=a.device,
        screenshot=a.screenshot,
        script=a.script,
        probe=a.probe_startup,
        probe_result=a.probe_first_result,
    )


if __name__ == "__main__":
    sys.exit(main())
