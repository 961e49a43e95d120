"""The training loop shared by the classifier and the segmenter.

Per epoch: train (autocast on CUDA, gradient accumulation, DDP), validate (each rank on
its shard, results gathered), append a row to ``metrics.csv``, save ``last`` and, when the
validation score improved, ``best`` checkpoints. ``resume=True`` continues from ``last``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from model_training.checkpoint import load_checkpoint, save_checkpoint
from model_training.distributed import DistInfo, barrier, broadcast_object, wrap_model
from pneumoviewer.core.inference.devices import autocast_context, needs_grad_scaler
from pneumoviewer.core.io import atomic_write_text

METRICS_CSV = "metrics.csv"


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Optimisation settings common to both models.

    Attributes
    ----------
    epochs, batch_size : int
        Epochs and per-process batch size.
    lr, weight_decay : float
        AdamW learning rate (cosine-decayed per epoch to 5 % of it) and weight decay.
    accumulate : int
        Gradient accumulation steps (effective batch = batch_size × accumulate × ranks).
    workers : int
        DataLoader worker processes.
    device : {"auto", "cpu", "cuda"}
        Where to train.
    amp : bool
        Mixed precision (autocast) on CUDA: bfloat16 where supported, else float16 + scaler.
    seed : int
        Seeds Python, NumPy, torch, the split shuffles and the augmentation.
    progress : bool
        tqdm bars.
    resume : bool
        Continue from the run's ``last`` checkpoint.
    max_minutes : float or None
        Stop after the epoch during which this much wall time was exceeded.
    val_every : int
        Validate every this many epochs (and always at the last one).
    save_last_every : int
        Write the resumable ``last`` checkpoint every this many epochs (and at the end).
    """

    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    accumulate: int = 1
    workers: int = 2
    device: str = "auto"
    amp: bool = True
    seed: int = 0
    progress: bool = True
    resume: bool = False
    max_minutes: float | None = None
    val_every: int = 1
    save_last_every: int = 1

    def to_dict(self) -> dict:
        """JSON-ready copy."""
        return asdict(self)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))  # noqa: NPY002 - seeds libraries using the legacy RNG
    torch.manual_seed(seed)


@dataclass
class FitResult:
    """Outcome of :func:`fit`: the best validation score, its epoch and every row."""

    best_score: float
    best_epoch: int
    history: list[dict]


def write_metrics_csv(run_dir: Path, history: list[dict]) -> Path:
    """Write one row per epoch atomically (columns: the union of the rows' keys, in order)."""
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    for row in history:
        w.writerow({k: row.get(k, "") for k in keys})
    return atomic_write_text(run_dir / METRICS_CSV, buf.getvalue(), overwrite=True)


def read_metrics_csv(run_dir: str | Path) -> list[dict]:
    """Rows of a run's ``metrics.csv`` as dicts of floats (empty cells dropped)."""
    with (Path(run_dir) / METRICS_CSV).open(newline="", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def fit(
    model: nn.Module,
    *,
    train_loader: DataLoader,
    loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    validate: Callable[[nn.Module], dict],
    run_dir: Path,
    config: TrainConfig,
    info: DistInfo,
    state_extra: dict | None = None,
) -> FitResult:
    """Train ``model`` and keep the checkpoint with the best ``validate(model)["score"]``.

    Parameters
    ----------
    model : nn.Module
        The bare network (wrapped in DDP here when distributed); on ``info.device``.
    train_loader : DataLoader
        Its sampler must have ``set_epoch``.
    loss_fn : callable
        ``loss_fn(bare_model, outputs, targets)`` -> scalar; gets the bare model to reach
        layers (the SVM regulariser).
    validate : callable
        ``validate(bare_model)`` -> dict with a ``"score"`` (higher is better) and other
        floats; called on every rank (each validates its shard and gathers).
    run_dir : Path
        Output folder (rank 0 writes).
    config : TrainConfig
        Optimisation settings.
    info : DistInfo
        Rank, world size, device.
    state_extra : dict or None
        Saved in each checkpoint's JSON (e.g. the model spec).

    Returns
    -------
    FitResult
    """
    from tqdm import tqdm

    device = info.device
    bare = model
    net = wrap_model(model, info)
    opt = torch.optim.AdamW(bare.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=needs_grad_scaler(device, amp=config.amp))
    history: list[dict] = []
    best_score, best_epoch, start = -math.inf, -1, 0
    if config.resume and (run_dir / "checkpoints" / "last.json").is_file():
        st = load_checkpoint(run_dir, "last", model=bare, optimizer=opt, scaler=scaler)
        history = st.get("history", [])
        best_score = st.get("best_score", -math.inf)
        best_epoch = st.get("best_epoch", -1)
        start = int(st["epoch"]) + 1
    t_start = time.perf_counter()
    for epoch in range(start, config.epochs):
        lr = config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * epoch / config.epochs)))
        for g in opt.param_groups:
            g["lr"] = lr
        train_loader.sampler.set_epoch(epoch)
        net.train()
        t0 = time.perf_counter()
        total, count = 0.0, 0
        steps = len(train_loader)
        bar = tqdm(
            train_loader,
            desc=f"epoch {epoch + 1}/{config.epochs}",
            disable=not (config.progress and info.is_main),
            leave=False,
        )
        opt.zero_grad(set_to_none=True)
        for step, (x, y) in enumerate(bar):
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            last_micro = (step + 1) % config.accumulate == 0 or step + 1 == steps
            sync = contextlib.nullcontext()
            if info.distributed and not last_micro:
                sync = net.no_sync()
            with sync:
                with autocast_context(device, enabled=config.amp):
                    out = net(x)
                loss = loss_fn(bare, out, y)
                scaler.scale(loss / config.accumulate).backward()
            if last_micro:
                scaler.step(opt)
                scaler.update()
                opt.zero_grad(set_to_none=True)
            total += float(loss.detach()) * len(x)
            count += len(x)
            bar.set_postfix(loss=f"{total / max(count, 1):.4f}")
        train_seconds = time.perf_counter() - t0
        elapsed_min = (time.perf_counter() - t_start) / 60.0
        stop = config.max_minutes is not None and elapsed_min > config.max_minutes
        stop = bool(broadcast_object(stop, info))
        final = stop or epoch + 1 == config.epochs
        row = {
            "epoch": epoch + 1,
            "train_loss": total / max(count, 1),
            "lr": lr,
            "seconds": train_seconds,
            "images_per_s": count * info.world_size / max(train_seconds, 1e-9),
        }
        improved = False
        if final or (epoch + 1) % max(config.val_every, 1) == 0:
            net.eval()
            with torch.inference_mode(), autocast_context(device, enabled=config.amp):
                val = validate(bare)
            row.update({k: float(v) for k, v in val.items()})
            score = row["score"] if math.isfinite(row["score"]) else -1e9
            improved = score > best_score
            if improved:
                best_score, best_epoch = score, epoch + 1
        history.append(row)
        if info.is_main:
            state = {
                "epoch": epoch,
                "best_score": best_score,
                "best_epoch": best_epoch,
                "history": history,
                "train_config": config.to_dict(),
                **(state_extra or {}),
            }
            if final or (epoch + 1) % max(config.save_last_every, 1) == 0:
                save_checkpoint(
                    run_dir, "last", model=bare, optimizer=opt, state=state, scaler=scaler
                )
            if improved:
                save_checkpoint(run_dir, "best", model=bare, optimizer=None, state=state)
            write_metrics_csv(run_dir, history)
            print(
                f"epoch {epoch + 1}: "
                + ", ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch"),
                flush=True,
            )
        barrier(info)
        if stop:
            if info.is_main:
                print(f"stopping after {elapsed_min:.1f} min (--max-minutes)", flush=True)
            break
    return FitResult(best_score, best_epoch, history)

