"""Options of ``pneumoviewer predict`` and their command-line parser (no heavy imports)."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["OUTPUT_NAMES", "PredictOptions", "UsageError", "add_predict_arguments", "from_args"]

#: Files ``pneumoviewer predict`` writes into ``--out`` (PNGs go to ``png/<ImageId>.png``).
OUTPUT_NAMES = ("predictions.csv", "submission.csv", "problems.csv", "metrics.json")


#: ``--runtime`` values (as :data:`pneumoviewer.core.inference.runtimes.RUNTIME_CHOICES`,
#: repeated here so the parser does not import torch).
RUNTIME_CHOICES = ("auto", "torch", "torch-bf16", "onnxruntime", "openvino")
#: ``--engine`` values.
ENGINE_CHOICES = ("local", "ray")
#: Environment variable giving ``--runtime``'s default.
RUNTIME_ENV = "PNEUMOVIEWER_RUNTIME"


class UsageError(Exception):
    """A command-line mistake (missing folder, bad model folder, existing outputs): exit 2."""


@dataclass(frozen=True, kw_only=True)
class PredictOptions:
    """Everything a batch run needs.

    Attributes
    ----------
    folder : Path
        Folder scanned for DICOM files (recursively).
    out : Path
        Output folder (created when missing).
    model_dir : Path or None
        Model directory; None means the bundled demo model.
    gt_csv : Path or None
        Ground-truth run-length CSV; None means auto-discovery next to/above ``folder``.
    device : str
        ``auto``, ``cpu`` or ``cuda``.
    runtime : str
        ``auto`` (the fastest runtime faithful to torch fp32 on this machine), ``torch``,
        ``torch-bf16``, ``onnxruntime`` or ``openvino``
        (:mod:`pneumoviewer.core.inference.runtimes`).
    resume : bool
        Continue a killed run in ``out`` (same settings and model), skipping the images
        already written.
    scheme, bottom_threshold, top_threshold, min_area, gate, gate_threshold
        Post-processing overrides (:class:`pneumoviewer.core.postprocessing.
        PostprocessParams`); None keeps the manifest's defaults. ``gate`` True/False turns
        the classification gate on/off; ``gate_threshold`` sets it (and turns it on).
    tta : bool
        Horizontal-flip test-time augmentation.
    png : bool
        Write annotated PNGs.
    cam : bool
        Also write each image's Grad-CAM heat-map, ``cam/<ImageId>.png`` (#10).
    dicom : tuple of str
        DICOM objects to write per image under ``dicom/`` (#9): among seg, sr, gsps, sc.
    overwrite : bool
        Replace existing outputs.
    workers : int
        Threads decoding the next images while the models run.
    threads : int or None
        torch intra-op threads (process-wide); None: all CPUs but one
        (:func:`pneumoviewer.predict.prepare.default_threads`).
    progress : bool
        Show a tqdm progress bar on stderr.
    engine : str
        ``local`` (threads in this process) or ``ray`` (Ray Data: decode tasks and an actor
        pool of the models; :mod:`pneumoviewer.predict.ray_engine`).
    address : str or None
        With ``engine="ray"``: the address of a running Ray cluster (``ray.init(address=...)``);
        None starts a local Ray for the run.

    """

    folder: Path
    out: Path
    model_dir: Path | None = None
    gt_csv: Path | None = None
    device: str = "auto"
    runtime: str = field(default_factory=lambda: os.environ.get(RUNTIME_ENV, "auto"))
    resume: bool = False
    scheme: str | None = None
    bottom_threshold: float | None = None
    top_threshold: float | None = None
    min_area: int | None = None
    gate: bool | None = None
    gate_threshold: float | None = None
    tta: bool = False
    png: bool = True
    cam: bool = False
    dicom: tuple[str, ...] = ()
    overwrite: bool = False
    workers: int = 2
    threads: int | None = None
    progress: bool = True
    engine: str = "local"
    address: str | None = None


def _unit(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _dicom_kinds(text: str) -> tuple[str, ...]:
    from pneumoviewer.core.dicom_out import kinds_argument  # highdicom: only with --dicom

    return kinds_argument(text)


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``predict`` arguments to ``parser``."""
    parser.add_argument("folder", type=Path, help="folder with DICOM files (searched recursively)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--model", type=Path, default=None, help="model directory (default: the bundled demo)"
    )
    parser.add_argument(
        "--gt",
        type=Path,
        default=None,
        help="ground-truth run-length CSV (default: a *rle*.csv next to or above FOLDER)",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument(
        "--runtime",
        choices=RUNTIME_CHOICES,
        default=os.environ.get(RUNTIME_ENV, "auto"),
        help="CPU runtime of the models: auto (default, or $PNEUMOVIEWER_RUNTIME) picks the "
        "fastest one whose results match torch fp32 on the bundled samples (measured once per "
        "model and machine, then cached); onnxruntime/openvino need "
        "pip install 'pneumoviewer[runtimes]'",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue a killed run in --out (same settings and model): finished images are "
        "skipped, the outputs end as an uninterrupted run's",
    )
    post = parser.add_argument_group(
        "post-processing (default: the model's manifest)",
        "triplet (SIIM 1st place): if fewer than MIN_AREA pixels have probability >= "
        "TOP_THRESHOLD the mask is empty, else it is every pixel >= BOTTOM_THRESHOLD. "
        "components: every pixel >= BOTTOM_THRESHOLD, minus connected regions smaller than "
        "MIN_AREA pixels. The image-level call: with a classifier, positive when its "
        "probability >= the model's decision threshold; without one, when the mask is not "
        "empty.",
    )
    post.add_argument("--scheme", choices=("triplet", "components"), default=None)
    post.add_argument(
        "--bottom-threshold",
        "--threshold",
        dest="bottom_threshold",
        type=_unit,
        default=None,
        help="pixel threshold of the mask (--threshold is the old name)",
    )
    post.add_argument(
        "--top-threshold",
        type=_unit,
        default=None,
        help="triplet only: the confident pixels counted against --min-area",
    )
    post.add_argument(
        "--min-area",
        type=_non_negative,
        default=None,
        help="in pixels at the image's resolution (triplet: confident pixels needed; "
        "components: smallest region kept)",
    )
    post.add_argument(
        "--gate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="--gate: the mask, submission row and PNG of an image whose classifier "
        "probability is below the gate threshold are empty (the default: the gate at the "
        "decision threshold, so an image called negative has an empty mask); --no-gate: "
        "masks are kept whatever the probability, and an image called negative with a mask "
        "is listed as 'localised, below threshold'",
    )
    post.add_argument(
        "--gate-threshold",
        type=_unit,
        default=None,
        help="gate at this probability instead of the decision threshold (turns the gate on)",
    )
    parser.add_argument("--tta", action="store_true", help="horizontal-flip test-time augmentation")
    parser.add_argument("--no-png", action="store_true", help="do not write annotated PNGs")
    parser.add_argument(
        "--cam",
        action="store_true",
        help="also write each image's Grad-CAM heat-map of the classifier: cam/<ImageId>.png",
    )
    parser.add_argument(
        "--dicom",
        type=_dicom_kinds,
        default=(),
        metavar="KINDS",
        help="also write DICOM objects per image under dicom/: comma-separated among "
        "seg,sr,gsps,sc (SEG, TID 1500 SR, GSPS outline, burned-in SC)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument(
        "--workers", type=_positive, default=2, help="threads decoding images ahead (default 2)"
    )
    parser.add_argument(
        "--threads",
        type=_positive,
        default=None,
        help="CPU threads for the models (default: all CPUs but one)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--engine",
        choices=ENGINE_CHOICES,
        default="local",
        help="local (default): threads in this process; ray: Ray Data (decode tasks, the "
        "models in an actor pool: one actor per GPU, else CPU actors of --threads threads), "
        "on a local Ray or the cluster at --address; needs pip install 'pneumoviewer[ray]'",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="with --engine ray: address of a running Ray cluster (e.g. HEAD:6379 or auto); "
        "inputs, outputs and the model folder must be on a filesystem every node sees",
    )


def from_args(args: argparse.Namespace) -> PredictOptions:
    """Build :class:`PredictOptions` from parsed arguments."""
    return PredictOptions(
        folder=args.folder,
        out=args.out,
        model_dir=args.model,
        gt_csv=args.gt,
        device=args.device,
        runtime=args.runtime,
        resume=args.resume,
        scheme=args.scheme,
        bottom_threshold=args.bottom_threshold,
        top_threshold=args.top_threshold,
        min_area=args.min_area,
        gate=args.gate,
        gate_threshold=args.gate_threshold,
        tta=args.tta,
        png=not args.no_png,
        cam=args.cam,
        dicom=args.dicom,
        overwrite=args.overwrite,
        workers=args.workers,
        threads=args.threads,
        progress=not args.no_progress,
        engine=args.engine,
        address=args.address,
    )
