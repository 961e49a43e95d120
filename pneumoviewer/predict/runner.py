"""The local engine of ``pneumoviewer predict``: scan, decode ahead, infer, write.

Decoding runs in a small thread pool a few images ahead of the models (bounded), and PNG
writing in another thread (bounded too), so a run costs about what the models cost. A bad
file is listed in ``problems.csv`` and the run goes on. The per-image work lives in
:mod:`.pipeline`, the tables in :mod:`.sink` (the Ray engine, :mod:`.ray_engine`, shares
both).
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TextIO

from pneumoviewer.predict.options import PredictOptions, UsageError
from pneumoviewer.predict.outputs import ImageResult, png_name
from pneumoviewer.predict.pipeline import (
    configure,
    decode_image,
    error_result,
    png_job,
    process_image,
    write_cam,
)
from pneumoviewer.predict.prepare import default_threads, gather_inputs, load_engine
from pneumoviewer.predict.sink import SUBMISSION_COLUMNS, OutputSink, PredictSummary, report

__all__ = ["SUBMISSION_COLUMNS", "PredictSummary", "default_threads", "run_predict"]

_PNG_QUEUE = 4  # annotated PNGs waiting to be written at most


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
    if opts.engine == "ray":  # Ray Data: same pipeline, same sink (predict/ray_engine.py)
        from pneumoviewer.predict.ray_engine import run_predict_ray

        return run_predict_ray(opts, stderr=stderr, on_image=on_image)
    if opts.address is not None:
        raise UsageError("--address is for --engine ray")
    t0 = time.perf_counter()
    from pneumoviewer.predict.memory import fix_mmap_threshold

    fix_mmap_threshold()  # flat memory over long runs (#11 §3)
    summary = PredictSummary()
    inputs = gather_inputs(opts, summary)
    entries, gt = inputs.entries, inputs.gt

    import torch

    torch.set_num_threads(opts.threads if opts.threads is not None else default_threads())

    engine = load_engine(opts, inputs.model_dir)
    config = configure(opts, engine, gt, summary.warnings)
    params, decision, cam = config.params, config.decision, config.cam
    sink = OutputSink(
        opts, summary, config.settings, has_seg=config.has_seg, cam=cam, on_image=on_image
    )
    done = sink.done
    dicom_writer = None
    if config.dicom_kinds:  # #9: SEG / SR / GSPS / SC per image, on the PNG writer thread
        from pneumoviewer.core.dicom_out import DicomWriter

        dicom_writer = DicomWriter(
            opts.out / "dicom",
            kinds=config.dicom_kinds,
            manifest=engine.manifest,
            params=params if config.has_seg else None,
            decision_threshold=decision,
            overwrite=opts.overwrite or opts.resume,
        )
    dicom_jobs: deque[tuple[Path, Future]] = deque()

    def collect_dicom(limit: int) -> None:
        while len(dicom_jobs) > limit or (dicom_jobs and dicom_jobs[0][1].done()):
            path, job = dicom_jobs.popleft()
            _, message = job.result()
            if message is not None:
                sink.problem(path, message)

    from pneumoviewer.core.overlay import OverlayStyle

    style = OverlayStyle()
    t_loop = time.perf_counter()
    todo_entries = [e for e in entries if e.image_id not in done] if done else entries
    sink.start(len(entries), len(todo_entries), stderr=stderr)
    # images waiting for their PNG (FIFO): rows are written in scan order, after the PNG
    finishing: deque[tuple[ImageResult, Future | None]] = deque()
    pending: deque = deque()
    todo = iter(todo_entries)

    def drain(limit: int) -> None:
        while len(finishing) > limit or (finishing and _ready(finishing[0][1])):
            result, job = finishing.popleft()
            error = None if job is None else job.result()
            if error is not None:  # the PNG failed: listed; the image's rows are written
                sink.problem(opts.out / "png" / png_name(result.image_id), error)
            sink.add(result)

    with (
        ThreadPoolExecutor(opts.workers, thread_name_prefix="decode") as decoders,
        ThreadPoolExecutor(1, thread_name_prefix="png") as png_writer,
    ):

        def refill() -> None:
            while len(pending) < opts.workers + 1:
                entry = next(todo, None)
                if entry is None:
                    return
                pending.append((entry, decoders.submit(decode_image, entry, engine)))

        refill()
        while pending:
            entry, job = pending.popleft()
            refill()
            try:
                image, prepared = job.result()
                result, mask, gt_mask, dec, quality = process_image(
                    entry, image, engine, params, gt, decision, prepared
                )
            except Exception as exc:  # one bad file must not end the run
                drain(0)
                sink.add(error_result(entry, exc))
                continue
            if cam:  # #10: Grad-CAM (about one classifier pass), written here
                write_cam(opts, engine, entry, image, sink.problem)
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
            png = None
            if opts.png:
                drain(_PNG_QUEUE - 1)
                write = png_job(
                    opts, engine, params, style, entry, image, result, mask, gt_mask, dec, quality
                )
                png = png_writer.submit(write)
                del image, mask, gt_mask, dec, write
            finishing.append((result, png))
            drain(_PNG_QUEUE - 1 if opts.png else 0)
        drain(0)
        collect_dicom(0)
    sink.close(engine=engine, gt=gt, decision=decision, params=params)
    summary.loop_seconds = time.perf_counter() - t_loop
    summary.seconds = time.perf_counter() - t0
    summary.runtime = engine.runtime
    report(stderr, opts, summary)
    return summary


def _ready(job: Future | None) -> bool:
    return job is None or job.done()
