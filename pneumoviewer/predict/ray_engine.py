"""The Ray Data engine of ``pneumoviewer predict`` (``--engine ray [--address ADDR]``).

The driver checks and scans as the local engine does (:mod:`.prepare`), then streams the
images through Ray Data: decode in CPU tasks, both models in an actor pool (one actor per
GPU when the cluster has GPUs, CPU actors otherwise) which also post-process and write the
PNGs and heat-maps into the shared output folder, and back to the driver in scan order,
where the same :class:`~pneumoviewer.predict.sink.OutputSink` as the local engine's writes
the tables. The per-image work is :mod:`.pipeline`'s, so the outputs are the local
engine's.

Ray is optional (``pip install 'pneumoviewer[ray]'``) and imported only here.
"""

from __future__ import annotations

import math
import os
import pickle
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from pneumoviewer.predict.options import PredictOptions, UsageError
from pneumoviewer.predict.pipeline import configure, error_result
from pneumoviewer.predict.prepare import gather_inputs, load_engine
from pneumoviewer.predict.sink import OutputSink, PredictSummary, report

__all__ = ["INSTALL_HINT", "RayRunError", "import_ray", "run_predict_ray"]

INSTALL_HINT = "pip install 'pneumoviewer[ray]'"
#: Images per block of the input dataset at most (small blocks: a bounded stream).
_BLOCK = 8
#: A callable run in every worker of a Ray this module starts (Ray's
#: ``worker_process_setup_hook``): None in use; the tests make the workers decode as the
#: test process does.
_WORKER_SETUP = None


class RayRunError(RuntimeError):
    """The Ray run stopped midway (an actor or a node lost); the message says how to resume."""


def import_ray():
    """Return the ``ray`` module (``ray.data`` loaded); UsageError says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            f"--engine ray needs Ray Data, which is not installed ({exc}); "
            f"install it with: {INSTALL_HINT}"
        ) from exc
    return ray


def _absolute(entry, cwd: str):
    """Return ``entry`` with absolute paths (workers may run elsewhere than the driver)."""
    import dataclasses

    def fix(p: Path) -> Path:
        return p if p.is_absolute() else Path(cwd) / p

    return dataclasses.replace(
        entry, path=fix(entry.path), alternates=[fix(p) for p in entry.alternates]
    )


def _enter(cwd: str) -> None:
    """Run in the driver's folder when this node has it (relative paths as the user typed)."""
    if os.path.isdir(cwd) and os.getcwd() != cwd:
        os.chdir(cwd)


def _decode(batch: dict, *, cwd: str) -> dict:
    """Ray task: decode the batch's images (errors become the image's error row)."""
    from pneumoviewer.core.studies import load_entry

    _enter(cwd)
    images, failed = [], []
    for blob in batch["entry"]:
        entry = pickle.loads(blob)
        try:
            # as typed when this node runs in the driver's folder (same error messages)
            image = load_entry(entry if os.getcwd() == cwd else _absolute(entry, cwd))
        except Exception as exc:  # one bad file must not end the run
            images.append(b"")
            failed.append(pickle.dumps(error_result(entry, exc)))
            continue
        images.append(pickle.dumps(image, protocol=pickle.HIGHEST_PROTOCOL))
        failed.append(b"")
    return {"i": batch["i"], "entry": batch["entry"], "image": images, "failed": failed}


class _Predictor:
    """Ray actor: loads the models once, then runs the pipeline on each decoded image."""

    def __init__(self, opts: PredictOptions, model_dir: Path, gt, *, threads: int, cwd: str):
        import torch

        from pneumoviewer.core.overlay import OverlayStyle
        from pneumoviewer.predict.memory import fix_mmap_threshold

        _enter(cwd)
        fix_mmap_threshold()
        torch.set_num_threads(threads)
        self.opts = opts
        self.gt = gt
        self.engine = load_engine(opts, model_dir)
        self.config = configure(opts, self.engine, gt, [])
        self.style = OverlayStyle()
        self._said = 0  # engine warnings already sent to the driver

    def __call__(self, batch: dict) -> dict:
        from concurrent.futures import ThreadPoolExecutor

        from pneumoviewer.predict.outputs import png_name
        from pneumoviewer.predict.pipeline import png_job, prepare_image, process_image, write_cam

        opts, engine, cfg = self.opts, self.engine, self.config
        results, problems, pngs = [], [], []
        with (
            ThreadPoolExecutor(1, thread_name_prefix="prepare") as preparer,
            ThreadPoolExecutor(1, thread_name_prefix="png") as writer,
        ):
            # CLAHE, resizes and pixel rules of the batch's images on a thread, ahead of
            # the forward passes (as the local engine's decode threads do)
            images = [pickle.loads(b) if b else None for b in batch["image"]]
            ahead = [
                None if im is None else preparer.submit(prepare_image, im, engine) for im in images
            ]
            for blob, image, job, failed in zip(
                batch["entry"], images, ahead, batch["failed"], strict=True
            ):
                entry = pickle.loads(blob)
                said: list[tuple[Path, str]] = []
                problems.append(said)
                pngs.append(None)
                if failed:
                    results.append(failed)
                    continue
                try:
                    result, mask, gt_mask, dec, quality = process_image(
                        entry, image, engine, cfg.params, self.gt, cfg.decision, job.result()
                    )
                except Exception as exc:  # one bad file must not end the run
                    results.append(pickle.dumps(error_result(entry, exc)))
                    continue
                if cfg.cam:
                    write_cam(opts, engine, entry, image, lambda p, m, s=said: s.append((p, m)))
                if opts.png:
                    job = png_job(
                        opts, engine, cfg.params, self.style, entry, image, result, mask,
                        gt_mask, dec, quality,
                    )  # fmt: skip
                    pngs[-1] = (opts.out / "png" / png_name(entry.image_id), writer.submit(job))
                results.append(pickle.dumps(result))
            for said, png in zip(problems, pngs, strict=True):
                if png is not None and (error := png[1].result()) is not None:
                    said.append((png[0], error))
        news = engine.warnings[self._said :]
        self._said = len(engine.warnings)
        return {
            "i": batch["i"],
            "result": results,
            "problems": [pickle.dumps(p) for p in problems],
            "warnings": [pickle.dumps(news)] + [pickle.dumps([])] * (len(results) - 1),
            "runtime": [f"{engine.device} {engine.runtime}"] * len(results),
        }


def _init_ray(ray, opts: PredictOptions) -> bool:
    """Connect to ``opts.address`` or start a local Ray; return True when we started it."""
    import logging

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # no per-dataset INFO lines
    # "progress bars disabled": the run has its own (tqdm, fed by the driver)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
    if ray.is_initialized():
        return False
    # "token authentication is enabled": Ray's default, nothing for the user to do
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
        logging.ERROR
    )
    kwargs = dict(
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        configure_logging=True,
    )
    if _WORKER_SETUP is not None:
        kwargs["runtime_env"] = {"worker_process_setup_hook": _WORKER_SETUP}
    try:
        if opts.address is not None:
            ray.init(address=opts.address, **kwargs)
        else:
            ray.init(num_cpus=_local_cpus(), **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {opts.address}" if opts.address else "a local Ray"
        raise UsageError(f"could not start {where}: {exc}") from exc
    return True


def _local_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _pool(ray, opts: PredictOptions, n_images: int) -> tuple[int, dict]:
    """Return (actors, resources per actor): one per GPU, else CPU actors of ``threads``."""
    res = ray.cluster_resources()
    gpus = int(res.get("GPU", 0))
    if gpus > 0 and opts.device != "cpu":
        return max(1, min(gpus, n_images)), {"num_gpus": 1, "num_cpus": 1}
    threads = opts.threads or 1
    cpus = int(res.get("CPU", 1))
    actors = max(1, (cpus - 1) // threads)  # one CPU left for the decode tasks
    return max(1, min(actors, n_images)), {"num_cpus": threads}


def run_predict_ray(
    opts: PredictOptions,
    *,
    stderr: TextIO | None = sys.stderr,
    on_image: Callable[[int], None] | None = None,
) -> PredictSummary:
    """Run ``pneumoviewer predict`` on Ray Data; same outputs as the local engine.

    Parameters and result as :func:`pneumoviewer.predict.runner.run_predict`. Ray is
    started locally (``opts.threads`` torch threads per CPU actor, default 1) unless
    ``opts.address`` names a running cluster; a Ray started here is shut down at the end.

    Raises
    ------
    UsageError
        As the local engine, and when Ray is not installed, cannot start, or ``--dicom``
        is asked for (not supported on Ray).
    RayRunError
        When the run stops midway (an actor failed, a node was lost); the images written
        so far are kept for ``--resume``.

    """
    if opts.dicom:
        raise UsageError(
            "--dicom is not supported with --engine ray (series numbering needs one writer); "
            "run it with the local engine"
        )
    ray = import_ray()
    t0 = time.perf_counter()
    from pneumoviewer.predict.memory import fix_mmap_threshold

    fix_mmap_threshold()
    summary = PredictSummary()
    inputs = gather_inputs(opts, summary)
    entries, gt = inputs.entries, inputs.gt
    import torch

    torch.set_num_threads(opts.threads or 1)
    engine = load_engine(opts, inputs.model_dir)  # settings, warnings and the tables' model
    config = configure(opts, engine, gt, summary.warnings)
    sink = OutputSink(
        opts, summary, config.settings, has_seg=config.has_seg, cam=config.cam, on_image=on_image
    )
    todo = [e for e in entries if e.image_id not in sink.done]
    started = _init_ray(ray, opts) if todo else False
    runtimes: set[str] = set()
    t_loop = time.perf_counter()
    try:
        sink.start(len(entries), len(todo), stderr=stderr)
        if todo:
            for batch in _dataset(ray, opts, inputs.model_dir, gt, todo).iter_batches(
                batch_size=None, batch_format="numpy"
            ):
                for k in range(len(batch["i"])):
                    for path, message in pickle.loads(batch["problems"][k]):
                        sink.problem(path, message)
                    sink.add(pickle.loads(batch["result"][k]))
                    for warning in pickle.loads(batch["warnings"][k]):
                        if warning not in engine.warnings:
                            engine.warnings.append(warning)
                    runtimes.add(str(batch["runtime"][k]))
    except ray.exceptions.RayError as exc:  # an actor or task died, a node was lost
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:300]
        raise RayRunError(
            f"the Ray run stopped after {sink.written} of {len(todo)} images: {first}; the "
            f"finished images are kept in {opts.out}: run the same command with --resume "
            "to continue"
        ) from exc
    finally:
        if started:
            ray.shutdown()
    sink.close(engine=engine, gt=gt, decision=config.decision, params=config.params)
    summary.loop_seconds = time.perf_counter() - t_loop
    summary.seconds = time.perf_counter() - t0
    summary.runtime = ", ".join(sorted(runtimes)) or engine.runtime
    report(stderr, opts, summary)
    return summary


def _dataset(ray, opts: PredictOptions, model_dir: Path, gt, todo: list):
    """Build the streaming dataset: items -> decode tasks -> actor pool, in scan order."""
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    ctx.enable_auto_log_stats = False
    cwd = os.getcwd()
    actors, resources = _pool(ray, opts, len(todo))
    items = [{"i": i, "entry": pickle.dumps(e)} for i, e in enumerate(todo)]
    n_blocks = min(len(items), max(64, math.ceil(len(items) / _BLOCK)))
    ds = ray.data.from_items(items, override_num_blocks=n_blocks)
    # half a CPU per decode task: two decode images ahead per free CPU, as the local
    # engine's --workers 2, and an operator of its own (not fused into the actors)
    ds = ds.map_batches(_decode, batch_size=1, fn_kwargs={"cwd": cwd}, num_cpus=0.5)
    with warnings.catch_warnings():  # max_restarts: deprecated as a ray_remote_arg (2.60)
        warnings.simplefilter("ignore", DeprecationWarning)
        return ds.map_batches(
            _Predictor,
            batch_size=4,
            fn_constructor_args=(opts, model_dir, gt),
            fn_constructor_kwargs={"threads": opts.threads or 1, "cwd": cwd},
            compute=ray.data.ActorPoolStrategy(size=actors),
            # no restarts: a lost actor ends the run (--resume continues it) instead of
            # retrying forever, and Ray logs no error about restartable actors
            max_restarts=0,
            **resources,
        )
