"""The batch pipeline of ``pneumoviewer predict``: scan, decode ahead, infer, write.

Decoding runs in a small thread pool a few images ahead of the models (bounded), and PNG
writing in another thread (bounded too), so a run costs about what the models cost. A bad
file is listed in ``problems.csv`` and the run goes on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pneumoviewer.core.errors import GroundTruthError, ModelLoadError, PneumoviewerError
from pneumoviewer.predict import stream
from pneumoviewer.predict.options import OUTPUT_NAMES, PredictOptions, UsageError
from pneumoviewer.predict.outputs import (
    PREDICTION_COLUMNS,
    ImageResult,
    metrics_dict,
    outcome_of,
    png_name,
    write_csv,
    write_json,
    write_png,
)

SUBMISSION_COLUMNS = ("ImageId", "EncodedPixels")

__all__ = ["PredictSummary", "default_threads", "run_predict"]

_PNG_QUEUE = 4  # annotated PNGs waiting to be written at most


@dataclass
class PredictSummary:
    """What a run did: counts, problems, written files, metrics, warnings.

    Nothing per image is kept (rows are streamed to the output files).
    """

    n_ok: int = 0  # images with a prediction (a resumed run counts the earlier ones too)
    n_error: int = 0  # images that could not be analysed
    runtime: str = ""  # the runtime(s) the networks ran on
    n_refused: int = 0  # refused by the input-quality gate: "not assessed" (#10)
    problems: list[tuple[Path, str]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    metrics: dict | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0  # the whole run, model loading included
    loop_seconds: float = 0.0  # from the first image to the last output written


def _say(stream: TextIO | None, text: str) -> None:
    if stream is not None:
        print(text, file=stream, flush=True)


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


def _model_dir(opts: PredictOptions) -> Path:
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


def _ground_truth(opts: PredictOptions, warnings: list[str]):
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


def _check_outputs(opts: PredictOptions, image_ids: list[str]) -> None:
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


def _contrast(manifest) -> str:
    """How the PNG's grey levels were made (the model's CLAHE is not applied to the picture)."""
    return "DICOM display (Modality LUT + VOI/window); the model saw " + (
        "CLAHE clip {clip_limit:g}, tiles {tile_grid[0]}x{tile_grid[1]}".format(
            **manifest.clahe.to_dict()
        )
        if manifest.clahe is not None
        else "no CLAHE"
    )


def _process(entry, image, engine, params, gt, decision_threshold: float):
    """Run the models on one decoded image; return (ImageResult, mask, gt_mask, Decision).

    The call, the mask and the state come from :func:`pneumoviewer.core.decision.decide`
    (the one decision rule the viewer uses too).
    """
    from pneumoviewer.core.decision import decide
    from pneumoviewer.core.metrics import dice
    from pneumoviewer.core.quality import assess, withhold
    from pneumoviewer.core.rle import encode

    pred = engine.predict(image.pixels, image_id=entry.image_id, padding=image.padding)
    d = decide(
        class_probability=pred.class_probability,
        prob_map=pred.probability_map,
        params=params,
        decision_threshold=decision_threshold,
    )
    quality = assess(  # #10: header + pixel + OOD rules; refused -> "not assessed"
        image.metadata,
        image.pixels,
        padding=image.padding,
        intended=engine.manifest.effective_intended_use,
        ood=engine.ood,
        features=pred.features,
    )
    if quality.refused:
        d = withhold(d)
    mask = d.mask
    gt_mask = gt_label = score = None
    truth_problem = ""
    truth = gt.lookup(entry.image_id, image.pixels.shape) if gt is not None else None
    if truth is not None:  # a bad row blanks this image's ground truth only (listed)
        gt_mask = truth.mask
        gt_label = None if truth.positive is None else int(truth.positive)
        if truth.problem is not None:
            truth_problem = f"ground truth not used for this image: {truth.problem}"
    if mask is not None and gt_mask is not None:
        score = dice(mask, gt_mask)
    result = ImageResult(
        image_id=entry.image_id,
        file=entry.path,
        probability=pred.class_probability,
        score=pred.class_score,
        predicted_label=d.label,
        state=str(d.state),
        quality=str(quality.level),
        quality_reason=quality.text,
        mask_pixels=d.area,
        rle=None if mask is None else encode(mask),
        gt_label=gt_label,
        dice=score,
        error=truth_problem,
        seconds=pred.seconds,
    )
    return result, mask, gt_mask, d, quality


def _annotation(
    engine, params, opts: PredictOptions, entry, image, decision, paints, dice_, quality=None
):
    """Build the PNG's text, legend and provenance (core.annotation, as the viewer does)."""
    from pneumoviewer.core.annotation import build_annotation
    from pneumoviewer.core.decision import decision_threshold_of

    m = engine.manifest
    md = image.metadata
    return build_annotation(
        image_id=entry.image_id,
        decision=decision,
        decision_threshold=decision_threshold_of(m),
        params=params if m.segmenter is not None else None,
        manifest=m,
        manifest_sha256=engine.manifest_sha256,
        dice=dice_,
        source=entry.path,
        contrast=_contrast(m),
        paints=paints,
        shape=image.pixels.shape,
        orientation=getattr(md, "patient_orientation", None),
        pixel_spacing=getattr(md, "pixel_spacing", None),
        extra={"Device": engine.device, "TTA": str(opts.tta)},
        quality=quality,
    )


def _params(engine, opts: PredictOptions, warnings: list[str]):
    """Return the manifest's post-processing with the command line's overrides."""
    params = engine.postprocess_params()
    changes: dict = {}
    if opts.scheme is not None:
        changes["scheme"] = opts.scheme
    if opts.bottom_threshold is not None:
        changes["bottom_threshold"] = opts.bottom_threshold
    if opts.top_threshold is not None:
        changes["top_threshold"] = opts.top_threshold
    if opts.min_area is not None:
        changes["min_area"] = opts.min_area
    has_classifier = engine.manifest.classifier is not None
    if opts.gate is not None or opts.gate_threshold is not None:
        if not has_classifier:
            if opts.gate or opts.gate_threshold is not None:
                warnings.append("--gate ignored: the model has no classifier")
        else:
            if opts.gate is not None:
                changes["gate_enabled"] = opts.gate
            if opts.gate_threshold is not None:
                changes["gate_threshold"] = opts.gate_threshold
                changes.setdefault("gate_enabled", True)
    return dataclasses.replace(params, **changes) if changes else params


def _settings(opts: PredictOptions, engine, gt, params, decision: float) -> dict:
    """Return what shapes the outputs (``predict-run.json``; ``--resume`` compares it)."""
    from pneumoviewer.core.inference.manifest import file_sha256

    model = {"manifest.json": engine.manifest_sha256}
    for name in engine.manifest.weight_files():
        model[name] = file_sha256(engine.model_dir / name)
    return {
        "folder": str(opts.folder.resolve()),
        "ground_truth": None if gt is None or gt.path is None else str(Path(gt.path).resolve()),
        "model_sha256": model,
        "postprocess": params.to_dict(decision_threshold=decision),
        "tta": opts.tta,
        "png": opts.png,
        "cam": opts.cam,
        "device": engine.device,
        "runtime": engine.runtime,
    }


def run_predict(
    opts: PredictOptions,
    *,
    stderr: TextIO | None = sys.stderr,
    on_image: Callable[[int], None] | None = None,
) -> PredictSummary:
    """Run the models over every DICOM image of ``opts.folder`` and write the outputs.

    Rows of ``predictions.csv`` / ``submission.csv`` are written as images finish, the
    folder summary is accumulated as they go (:class:`pneumoviewer.core.metrics.
    SummaryAccumulator`); ``opts.resume`` continues a killed run (:mod:`.stream`).

    Parameters
    ----------
    opts : PredictOptions
        Folder, output folder, model, thresholds and switches.
    stderr : text stream or None
        Progress bar, warnings and the final summary go here (None: silent).
    on_image : callable or None
        Called with the number of images written so far (this run) after each one.

    Returns
    -------
    PredictSummary

    Raises
    ------
    UsageError
        Missing folder, bad model folder, bad ``--gt`` CSV, existing outputs without
        ``overwrite``, or a ``--resume`` of another run; raised before any output is
        written.

    """
    from pneumoviewer.core.decision import decision_threshold_of
    from pneumoviewer.core.metrics import SummaryAccumulator
    from pneumoviewer.core.studies import ScanProblem, load_entry, scan_folder

    t0 = time.perf_counter()
    from pneumoviewer.predict.memory import fix_mmap_threshold

    fix_mmap_threshold()  # flat memory over long runs (#11 §3)
    summary = PredictSummary()
    if not opts.folder.is_dir():
        raise UsageError(f"{opts.folder}: folder not found")
    model_dir = _model_dir(opts)
    gt = _ground_truth(opts, summary.warnings)
    if gt is not None:  # lines of the CSV that were skipped (wrong field count, no id)
        summary.problems.extend((bad.path, str(bad)) for bad in gt.problems)
    entries = []
    for item in scan_folder(opts.folder):
        if isinstance(item, ScanProblem):
            summary.problems.append((item.path, item.message))
        else:
            entries.append(item)
    if not opts.resume:
        _check_outputs(opts, [e.image_id for e in entries])

    import torch

    from pneumoviewer.core.inference.engine import InferenceEngine

    torch.set_num_threads(opts.threads if opts.threads is not None else default_threads())

    try:
        engine = InferenceEngine(model_dir, device=opts.device, tta=opts.tta, runtime=opts.runtime)
    except ModelLoadError as exc:
        raise UsageError(f"bad model folder: {exc}") from exc
    except ValueError as exc:  # an unavailable --runtime
        raise UsageError(str(exc)) from exc
    params = _params(engine, opts, summary.warnings)
    if engine.ood is None and engine.manifest.classifier is not None:  # #10: said once
        from pneumoviewer.core.inference.ood import SKIPPED_MESSAGE

        summary.warnings.append(SKIPPED_MESSAGE)
    cam = opts.cam and engine.manifest.classifier is not None
    if opts.cam and not cam:
        summary.warnings.append("--cam ignored: the model has no classifier to explain")
    decision = decision_threshold_of(engine.manifest)
    settings = _settings(opts, engine, gt, params, decision)
    has_seg = engine.manifest.segmenter is not None
    acc = SummaryAccumulator()
    done: set[str] = set()
    if opts.resume:
        try:
            stream.check_resume(opts.out, settings)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        done = _replay(opts.out, summary, acc)
    opts.out.mkdir(parents=True, exist_ok=True)
    if opts.png:
        (opts.out / "png").mkdir(exist_ok=True)
    if cam:
        (opts.out / "cam").mkdir(exist_ok=True)
    dicom_writer = None
    kinds = tuple(k for k in opts.dicom if has_seg or k != "seg")
    if len(kinds) < len(opts.dicom):
        summary.warnings.append("--dicom seg ignored: the model has no segmenter")
    if kinds:  # #9: SEG / SR / GSPS / SC per image, on the PNG writer thread
        from pneumoviewer.core.dicom_out import DicomWriter

        dicom_writer = DicomWriter(
            opts.out / "dicom",
            kinds=kinds,
            manifest=engine.manifest,
            params=params if has_seg else None,
            decision_threshold=decision,
            overwrite=opts.overwrite or opts.resume,
        )
    dicom_jobs: deque[tuple[Path, Future]] = deque()

    def collect_dicom(limit: int) -> None:
        while len(dicom_jobs) > limit or (dicom_jobs and dicom_jobs[0][1].done()):
            path, job = dicom_jobs.popleft()
            _, message = job.result()
            if message is not None:
                problem(path, message)

    stream.write_run_manifest(opts.out, settings, complete=False)
    writers = _open_writers(opts.out, has_seg, resume=opts.resume, done=done)
    journal = writers[-1]

    def problem(path, message: str) -> None:
        summary.problems.append((path, message))
        journal.problem(str(path), message)

    from tqdm import tqdm

    from pneumoviewer.core.overlay import OverlayStyle, style_paints

    style = OverlayStyle()
    t_loop = time.perf_counter()
    todo_entries = [e for e in entries if e.image_id not in done] if done else entries
    bar = tqdm(
        total=len(entries),
        initial=len(entries) - len(todo_entries),
        unit="img",
        file=stderr,
        disable=stderr is None or not opts.progress,
        desc="predict",
    )
    # images waiting for their PNG (FIFO): rows are written in scan order, after the PNG
    finishing: deque[tuple[ImageResult, Future | None]] = deque()
    pending: deque = deque()
    todo = iter(todo_entries)
    written = 0

    def finish(result: ImageResult) -> None:
        nonlocal written
        outcome = outcome_of(result)
        acc.add(outcome)
        writers[0].write_row(result.row())
        if has_seg and result.status == "ok" and result.quality != "refused":
            writers[1].write_row((result.image_id, result.rle))
        summary.n_refused += result.quality == "refused"
        journal.image(
            outcome,
            status=result.status,
            problem=(str(result.file), result.error) if result.error else None,
        )
        if result.error:
            summary.problems.append((result.file, result.error))
        if result.status == "ok":
            summary.n_ok += 1
        else:
            summary.n_error += 1
        written += 1
        bar.update(1)
        if on_image is not None:
            on_image(written)

    def drain(limit: int) -> None:
        while len(finishing) > limit or (finishing and _ready(finishing[0][1])):
            result, job = finishing.popleft()
            error = None if job is None else job.result()
            if error is not None:  # the PNG failed: listed; the image's rows are written
                problem(opts.out / "png" / png_name(result.image_id), error)
            finish(result)

    with (
        ThreadPoolExecutor(opts.workers, thread_name_prefix="decode") as decoders,
        ThreadPoolExecutor(1, thread_name_prefix="png") as png_writer,
    ):

        def refill() -> None:
            while len(pending) < opts.workers + 1:
                entry = next(todo, None)
                if entry is None:
                    return
                pending.append((entry, decoders.submit(load_entry, entry)))

        refill()
        while pending:
            entry, job = pending.popleft()
            refill()
            try:
                image = job.result()
                result, mask, gt_mask, dec, quality = _process(
                    entry, image, engine, params, gt, decision
                )
            except Exception as exc:  # one bad file must not end the run
                message = str(exc) if isinstance(exc, PneumoviewerError) else f"{entry.path}: {exc}"
                drain(0)
                finish(
                    ImageResult(
                        image_id=entry.image_id, file=entry.path, status="error", error=message
                    )
                )
                continue
            if cam:  # #10: Grad-CAM (about one classifier pass), written here
                _write_cam(opts, engine, entry, image, problem)
            if dicom_writer is not None and result.quality != "refused":
                collect_dicom(_PNG_QUEUE - 1)
                dicom_jobs.append(
                    (
                        entry.path,
                        png_writer.submit(
                            dicom_writer.write, entry.path, dec, display=image.pixels
                        ),
                    )
                )
            png_job = None
            if opts.png:
                drain(_PNG_QUEUE - 1)
                paints = style_paints(
                    image.pixels.shape, ground_truth=gt_mask, prediction=mask, style=style
                )
                png_job = png_writer.submit(
                    write_png,
                    opts.out / "png" / png_name(entry.image_id),
                    image.pixels,
                    paints=paints,
                    annotation=_annotation(
                        engine, params, opts, entry, image, dec, paints, result.dice, quality
                    ),
                    overwrite=opts.overwrite or opts.resume,
                )
                del image, mask, gt_mask, dec, paints
            finishing.append((result, png_job))
            drain(_PNG_QUEUE - 1 if opts.png else 0)
        drain(0)
        collect_dicom(0)
    bar.close()
    for w in filter(None, writers):
        w.close()
    summary.warnings[:0] = engine.warnings
    _write_tables(opts, summary, engine, gt, decision, params, acc)
    stream.write_run_manifest(opts.out, settings, complete=True)
    summary.loop_seconds = time.perf_counter() - t_loop
    summary.seconds = time.perf_counter() - t0
    summary.runtime = engine.runtime
    _report(stderr, opts, summary)
    return summary


def _write_cam(opts: PredictOptions, engine, entry, image, problem) -> None:
    """Write ``cam/<ImageId>.png``: the Grad-CAM heat-map over the image (#10)."""
    from pneumoviewer.core.heatmap import write_heatmap_png

    path = opts.out / "cam" / png_name(entry.image_id)
    try:
        heat = engine.heatmap(image.pixels, padding=image.padding)
        write_heatmap_png(path, image.pixels, heat, overwrite=opts.overwrite or opts.resume)
    except (OSError, ValueError, RuntimeError) as exc:
        problem(path, f"{path}: heat-map not written: {exc}")


def _ready(job: Future | None) -> bool:
    return job is None or job.done()


def _open_writers(out: Path, has_seg: bool, *, resume: bool, done: set[str]):
    """Open predictions.csv, submission.csv (None without a segmenter) and the journal."""
    pred = out / "predictions.csv"
    sub = out / "submission.csv"
    specs = [(pred, PREDICTION_COLUMNS), (sub, SUBMISSION_COLUMNS) if has_seg else None]
    writers: list = []
    for spec in specs:
        if spec is None:
            writers.append(None)
            continue
        path, header = spec
        append = resume and stream.truncate_csv(path, done) >= 0 and _has_header(path, header)
        writers.append(stream.RowWriter(path, header=header, append=append))
    journal = out / stream.JOURNAL_NAME
    if resume:  # keep the complete records only (a line cut by the kill is dropped)
        records = stream.read_journal(journal)
        from pneumoviewer.core.io import atomic_write_text

        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        atomic_write_text(journal, text, overwrite=True)
    writers.append(stream.Journal(journal, append=resume))
    return writers


def _has_header(path: Path, header) -> bool:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            first = f.readline()
    except OSError:
        return False
    return first.rstrip("\n") == ",".join(header)


def _replay(out: Path, summary: PredictSummary, acc) -> set[str]:
    """Re-add the finished images of a killed run (journal) to the summary; return their ids."""
    from pneumoviewer.core.metrics import ImageOutcome

    done: set[str] = set()
    for rec in stream.read_journal(out / stream.JOURNAL_NAME):
        if rec.get("t") == "problem":
            path, message = rec["problem"]
            summary.problems.append((Path(path), message))
            continue
        done.add(rec["id"])
        acc.add(
            ImageOutcome(
                image_id=rec["id"],
                truth_positive=rec["truth"],
                probability=rec["p"],
                positive=rec["pos"],
                dice=rec["dice"],
                refused=bool(rec.get("refused", False)),
            )
        )
        summary.n_refused += bool(rec.get("refused", False))
        if rec.get("problem"):
            path, message = rec["problem"]
            summary.problems.append((Path(path), message))
        if rec["status"] == "ok":
            summary.n_ok += 1
        else:
            summary.n_error += 1
    return done


def _write_tables(
    opts: PredictOptions, summary: PredictSummary, engine, gt, decision: float, params, acc
) -> None:
    w = True  # existing outputs were refused (or --overwrite/--resume) before the run
    out = opts.out
    summary.written.append(out / "predictions.csv")
    if engine.manifest.segmenter is not None:
        summary.written.append(out / "submission.csv")
    else:
        summary.warnings.append("no segmenter in the model: submission.csv not written")
    probs = [(str(p), m) for p, m in summary.problems]
    summary.written.append(write_csv(out / "problems.csv", ("file", "problem"), probs, overwrite=w))
    if gt is not None:
        has_seg = engine.manifest.segmenter is not None
        metrics = metrics_dict(
            acc.summary(),
            decision_threshold=decision,
            has_classifier=engine.manifest.classifier is not None,
            postprocess=params.to_dict(decision_threshold=decision) if has_seg else None,
        )
        if metrics["n_evaluated"] == 0:
            summary.warnings.append(
                f"the ground truth {gt.path} lists none of the predicted images: "
                "metrics.json not written"
            )
            return
        metrics["ground_truth"] = str(gt.path) if gt.path is not None else None
        metrics["model"] = engine.manifest.name
        metrics["problems"] = len(summary.problems)
        summary.metrics = metrics
        summary.written.append(write_json(out / "metrics.json", metrics, overwrite=w))


def _report(stderr: TextIO | None, opts: PredictOptions, summary: PredictSummary) -> None:
    for warning in summary.warnings:
        _say(stderr, f"warning: {warning}")
    for path, message in summary.problems[:20]:
        _say(stderr, f"problem: {message if str(path) in message else f'{path}: {message}'}")
    if len(summary.problems) > 20:
        _say(stderr, f"... {len(summary.problems) - 20} more problems in problems.csv")
    n = summary.n_ok
    per = summary.loop_seconds / n if n else float("nan")
    _say(
        stderr,
        f"{n} images predicted, {len(summary.problems)} problems in {summary.seconds:.1f} s "
        f"({per:.3f} s/image after {summary.seconds - summary.loop_seconds:.1f} s of scan and "
        f"model loading); outputs in {opts.out}",
    )
    if summary.n_refused:  # #10
        _say(
            stderr,
            f"{summary.n_refused} images refused by the input-quality gate: 'not assessed' in "
            "predictions.csv (quality_reason says why), left out of submission.csv and metrics",
        )
    m = summary.metrics
    if m is not None:

        def f(v):
            return "n/a" if v is None or v != v else f"{v:.3f}"

        _say(
            stderr,
            f"vs ground truth ({m['n_evaluated']} images): accuracy "
            f"{f(m['accuracy'])}, AUC {f(m['auc'])}, sensitivity {f(m['sensitivity'])}, "
            f"specificity {f(m['specificity'])}, Dice on positives {f(m['dice_positive'])}, "
            f"Kaggle mean Dice {f(m['kaggle_mean_dice'])}",
        )
