"""What every ``pneumoviewer predict`` run does before its first image, whatever the engine.

Check the folder, the model and the ground truth, scan the folder, refuse existing outputs,
load the engine: all of it raises :class:`~pneumoviewer.predict.options.UsageError` before
any output is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pneumoviewer.core.errors import GroundTruthError, ModelLoadError
from pneumoviewer.predict.options import OUTPUT_NAMES, PredictOptions, UsageError
from pneumoviewer.predict.outputs import png_name

__all__ = [
    "RunInputs",
    "check_outputs",
    "default_threads",
    "gather_inputs",
    "load_engine",
    "read_ground_truth",
    "resolve_model_dir",
]


def default_threads() -> int:
    """Return the torch threads for a batch run: all CPUs but one (for decode and PNGs).

    Measured on a 2-CPU machine: 2 torch threads next to the decode/PNG threads made the
    run 3-5x slower than 1 (OpenMP workers wait for their descheduled siblings at each op).
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, cpus - 1)


def resolve_model_dir(opts: PredictOptions) -> Path:
    """Return the model directory (``--model`` or the bundled demo), its manifest checked."""
    from pneumoviewer import DEMO_MODEL_DIR
    from pneumoviewer.core.inference.manifest import read_manifest

    model_dir = opts.model_dir if opts.model_dir is not None else DEMO_MODEL_DIR
    if opts.model_dir is None and not DEMO_MODEL_DIR.is_dir():
        raise UsageError(
            f"no --model given and the bundled demo model is missing ({DEMO_MODEL_DIR}); "
            "pass --model DIR (or build it with `make demo-model`)"
        )
    try:
        read_manifest(model_dir)  # torch-free early check: fail before scanning
    except ModelLoadError as exc:
        raise UsageError(f"bad model folder: {exc}") from exc
    return model_dir


def read_ground_truth(opts: PredictOptions, warnings: list[str]):
    """Return the ground truth (``--gt``, else a CSV found next to the folder) or None."""
    from pneumoviewer.core.ground_truth import find_ground_truth_csv, read_rle_csv

    if opts.gt_csv is not None:
        if not opts.gt_csv.is_file():
            raise UsageError(f"{opts.gt_csv}: ground-truth CSV not found")
        try:
            return read_rle_csv(opts.gt_csv)
        except GroundTruthError as exc:
            raise UsageError(f"bad ground-truth CSV: {exc}") from exc
    found = find_ground_truth_csv(opts.folder)
    if found is None:
        return None
    try:
        return read_rle_csv(found)
    except GroundTruthError as exc:
        warnings.append(f"ignoring the ground-truth CSV found next to the folder: {exc}")
        return None


def check_outputs(opts: PredictOptions, image_ids: list[str]) -> None:
    """Refuse before any work when an output exists and ``--overwrite`` is not given."""
    if opts.out.exists() and not opts.out.is_dir():
        raise UsageError(f"{opts.out}: output path exists and is not a folder")
    if opts.overwrite:
        return
    targets = [opts.out / n for n in OUTPUT_NAMES]
    if opts.png:
        targets += [opts.out / "png" / png_name(i) for i in image_ids]
    if opts.cam:
        targets += [opts.out / "cam" / png_name(i) for i in image_ids]
    existing = [p for p in targets if p.exists()]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise UsageError(
            f"{existing[0]}: output file exists{more}; use --overwrite to replace, "
            "or choose another --out"
        )


@dataclass(frozen=True)
class RunInputs:
    """The checked inputs of a run.

    Attributes
    ----------
    model_dir : Path
        The model directory (manifest read and valid).
    gt : GroundTruth or None
        The ground truth, when given or found.
    entries : list of StudyEntry
        The images of the folder, in scan order.

    """

    model_dir: Path
    gt: object
    entries: list


def gather_inputs(opts: PredictOptions, summary) -> RunInputs:
    """Check the folder, model and ground truth, scan the folder, refuse existing outputs.

    Scan problems and skipped ground-truth lines go to ``summary.problems``, warnings to
    ``summary.warnings``.
    """
    from pneumoviewer.core.studies import ScanProblem, scan_folder

    if not opts.folder.is_dir():
        raise UsageError(f"{opts.folder}: folder not found")
    model_dir = resolve_model_dir(opts)
    gt = read_ground_truth(opts, summary.warnings)
    if gt is not None:  # lines of the CSV that were skipped (wrong field count, no id)
        summary.problems.extend((bad.path, str(bad)) for bad in gt.problems)
    entries = []
    for item in scan_folder(opts.folder):
        if isinstance(item, ScanProblem):
            summary.problems.append((item.path, item.message))
        else:
            entries.append(item)
    if not opts.resume:
        check_outputs(opts, [e.image_id for e in entries])
    return RunInputs(model_dir=model_dir, gt=gt, entries=entries)


def load_engine(opts: PredictOptions, model_dir: Path):
    """Return the :class:`~pneumoviewer.core.inference.engine.InferenceEngine` of the run."""
    from pneumoviewer.core.inference.engine import InferenceEngine

    try:
        return InferenceEngine(model_dir, device=opts.device, tta=opts.tta, runtime=opts.runtime)
    except ModelLoadError as exc:
        raise UsageError(f"bad model folder: {exc}") from exc
    except ValueError as exc:  # an unavailable --runtime
        raise UsageError(str(exc)) from exc
