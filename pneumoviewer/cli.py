"""The ``pneumoviewer`` command: open the viewer, or ``pneumoviewer predict`` a folder.

Parsing the command line imports neither torch nor Qt; both load only when needed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pneumoviewer import __version__

__all__ = ["main"]

_EPILOG = """\
commands:
  pneumoviewer predict FOLDER --out DIR [...]
                        run the model over a folder without a window and write
                        predictions.csv, submission.csv, annotated PNGs and metrics
                        (see `pneumoviewer predict --help`)
  pneumoviewer readings export READING_FILE --out DIR
                        write a reading file's verdicts (readings.csv), the
                        reader's masks as run-length ground truth and DICOM
                        SEG/SR/GSPS/SC objects
"""


def _viewer_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pneumoviewer",
        description="Desktop viewer for pneumothorax AI on chest radiographs (SIIM-ACR).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "folder",
        nargs="?",
        type=Path,
        help="folder with DICOM files (default: the bundled sample study)",
    )
    parser.add_argument(
        "--model", type=Path, default=None, help="model directory (default: the bundled demo)"
    )
    parser.add_argument(
        "--gt", type=Path, default=None, help="ground-truth run-length CSV (default: auto)"
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--version", action="version", version=f"pneumoviewer {__version__}")
    return parser


def _predict_parser() -> argparse.ArgumentParser:
    from pneumoviewer.predict.options import add_predict_arguments

    parser = argparse.ArgumentParser(
        prog="pneumoviewer predict",
        description="Run the model over every DICOM file of FOLDER (no window) and write "
        "DIR/predictions.csv, submission.csv (SIIM format), problems.csv, png/<ImageId>.png "
        "and, with ground truth, metrics.json.",
    )
    add_predict_arguments(parser)
    return parser


def _predict(argv: list[str]) -> int:
    from pneumoviewer.predict import UsageError, run_predict
    from pneumoviewer.predict.options import from_args
    from pneumoviewer.predict.ray_engine import RayRunError  # Ray itself is imported lazily

    opts = from_args(_predict_parser().parse_args(argv))
    try:
        summary = run_predict(opts, stderr=sys.stderr)  # looked up now, not at import
    except UsageError as exc:
        print(f"pneumoviewer predict: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pneumoviewer predict: interrupted", file=sys.stderr)
        return 130
    except RayRunError as exc:  # --engine ray stopped midway: say how to resume
        print(f"pneumoviewer predict: error: {exc}", file=sys.stderr)
        return 1
    if summary.n_ok == 0:
        print("pneumoviewer predict: error: no image could be processed", file=sys.stderr)
        return 1
    return 0


def _viewer(argv: list[str]) -> int:
    parser = _viewer_parser()
    args = parser.parse_args(argv)
    if args.folder is not None and not args.folder.is_dir():
        parser.exit(2, f"pneumoviewer: error: {args.folder}: folder not found\n")
    if args.gt is not None and not args.gt.is_file():
        parser.exit(2, f"pneumoviewer: error: {args.gt}: ground-truth CSV not found\n")
    if args.model is not None:
        from pneumoviewer.core.errors import ModelLoadError
        from pneumoviewer.core.inference.manifest import read_manifest  # torch-free

        try:
            read_manifest(args.model)
        except ModelLoadError as exc:
            parser.exit(2, f"pneumoviewer: error: bad model folder: {exc}\n")
    from pneumoviewer.ui.app import run_viewer

    return int(
        run_viewer(args.folder, model_dir=args.model, gt_csv=args.gt, device=args.device) or 0
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pneumoviewer`` console script.

    Parameters
    ----------
    argv : sequence of str or None
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 success, 1 nothing could be processed, 2 usage error.

    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] == "predict":
            return _predict(args[1:])
        if args and args[0] == "readings":
            from pneumoviewer.readings_cli import main as readings_main

            return readings_main(args[1:])
        return _viewer(args)
    except SystemExit as exc:  # argparse --help / --version / errors
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 2)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
