"""Segmenter training (report §5): smp U-Net (ResNet encoder), Dice + Focal loss.

Architecture and encoder are segmentation_models_pytorch registry names
(``SegmentConfig.architecture`` / ``encoder``), so another one is a configuration change.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from model_training.augment import AugmentConfig
from model_training.checkpoint import load_weights
from model_training.classify import _default_clahe
from model_training.data import PreprocessedCache
from model_training.distributed import DistInfo, gather_lists, init_distributed
from model_training.loaders import EpochSampler, InputSpec, LoaderConfig, XrayDataset, make_loader
from model_training.losses import DiceFocalConfig, DiceFocalLoss
from model_training.runs import DataConfig, finish_run, start_run, write_json
from model_training.trainer import TrainConfig, fit
from pneumoviewer.core.inference.devices import autocast_context

POSTPROCESS_JSON = "postprocess.json"


@dataclass(frozen=True, kw_only=True)
class SegmentConfig:
    """What to train.

    Attributes
    ----------
    architecture : str
        smp architecture (``unet``, the report's; e.g. ``unetplusplus``, ``fpn``).
    encoder : str
        smp encoder name (resnet18, resnet34 (default), resnet50, ...).
    input_size : int
        Side of the square input, a multiple of 32 (report: 1024).
    decoder_channels : tuple of int
        U-Net decoder widths.
    sampling : {"positives", "schedule"}
        Train on positive images only (report), or on all images with the positive
        fraction decaying linearly from ``schedule[0]`` to ``schedule[1]`` (SIIM winner).
    schedule : (float, float)
        Start and end positive fraction of the schedule.
    loss : DiceFocalConfig
        Dice and Focal weights and gamma.
    mean, std : float
        Input normalisation.
    clahe : ClaheParams or None
        CLAHE before resizing.
    augment : AugmentConfig
        Training augmentation (same geometry on image and mask).
    postprocess_scheme : {"triplet", "components"}
        The post-processing searched on the validation split and written into the spec:
        the SIIM triplet (default) or threshold + small-component removal.
    """

    architecture: str = "unet"
    encoder: str = "resnet34"
    input_size: int = 256
    decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16)
    sampling: str = "positives"
    schedule: tuple[float, float] = (0.8, 0.4)
    loss: DiceFocalConfig = DiceFocalConfig()
    mean: float = 0.5
    std: float = 0.25
    clahe: object | None = field(default_factory=_default_clahe)
    augment: AugmentConfig = AugmentConfig()
    postprocess_scheme: str = "triplet"


def segmenter_spec(config: SegmentConfig, post: dict | None = None):
    """Return the core ``SegmenterSpec`` (with the searched post-processing, when given)."""
    from pneumoviewer.core.inference.manifest import SegmenterSpec

    post = post or {}
    top = post.get("top_threshold")
    return SegmenterSpec(
        architecture=config.architecture,
        encoder=config.encoder,
        input_size=config.input_size,
        in_channels=3,
        mean=config.mean,
        std=config.std,
        postprocess_scheme=post.get("scheme", config.postprocess_scheme),
        mask_threshold=float(post.get("mask_threshold", 0.5)),
        top_threshold=0.75 if top is None else float(top),
        min_area=int(post.get("min_area_full", 0)),
        gate_enabled=bool(post.get("gate_enabled", True)),
        gate_threshold=post.get("gate_threshold"),
        decoder_channels=tuple(config.decoder_channels),
    )


def predict_maps(
    model: nn.Module, dataset: XrayDataset, indices, *, device, amp: bool, batch_size: int = 8
) -> np.ndarray:
    """Sigmoid probability maps, float32 (N, S, S), for ``indices`` (no augmentation)."""
    outs = []
    with torch.inference_mode(), autocast_context(device, enabled=amp):
        for i in range(0, len(indices), batch_size):
            x = torch.stack([dataset[int(j)][0] for j in indices[i : i + batch_size]])
            outs.append(torch.sigmoid(model(x.to(device)).float())[:, 0].cpu().numpy())
    if not outs:
        s = dataset.cache.size
        return np.zeros((0, s, s), dtype=np.float32)
    return np.concatenate(outs).astype(np.float32)


def dice_summary(maps: np.ndarray, cache: PreprocessedCache, indices, threshold=0.5) -> list:
    """Per-image outcomes (core.metrics.ImageOutcome) of the masks ``maps >= threshold``.

    The segmenter alone: the call is "mask not empty" (core.decision's rule without a
    classifier); Dice with empty/empty = 1.
    """
    from pneumoviewer.core.metrics import ImageOutcome, dice

    out = []
    for k, j in enumerate(indices):
        mask = maps[k] >= threshold
        truth = cache.masks[j].astype(bool)
        out.append(
            ImageOutcome(
                image_id=cache.records[j].image_id,
                truth_positive=bool(truth.any()),
                probability=None,
                positive=bool(mask.any()),
                dice=dice(mask, truth),
            )
        )
    return out


#: The folder-summary keys a segmenter run reports (core.metrics names).
SEGMENT_METRICS = ("dice_positive", "kaggle_mean_dice", "accuracy", "sensitivity", "specificity")


def segment_metrics(rows: list) -> dict:
    """Dice on positive images, Kaggle mean Dice and the mask-not-empty calls' accuracy.

    Through :func:`pneumoviewer.core.metrics.summarise` (nan, not None, when undefined).
    """
    from pneumoviewer.core.metrics import summarise

    s = summarise(rows)
    return {k: float(getattr(s, k)) for k in SEGMENT_METRICS}


def run_segment(
    data: DataConfig,
    run_dir: str | Path,
    *,
    config: SegmentConfig = SegmentConfig(),
    train: TrainConfig | None = None,
    info: DistInfo | None = None,
    class_probabilities: dict[str, float] | None = None,
) -> dict:
    """Train a segmenter, search post-processing on validation, test; write the run folder.

    Writes ``split.csv``, ``metrics.csv``, ``checkpoints/``, ``postprocess.json``,
    ``spec.json`` (core SegmenterSpec with the chosen post-processing),
    ``test_metrics.json`` and plots (rank 0).

    Parameters
    ----------
    class_probabilities : dict or None
        image_id -> classifier probability, to include the gate in the search.
    """
    from model_training.postsearch import search_postprocess
    from pneumoviewer.core.inference.models import build_segmenter

    if config.sampling not in ("positives", "schedule"):
        raise ValueError(f"sampling must be 'positives' or 'schedule', not {config.sampling!r}")
    train = train or TrainConfig()
    info = info or init_distributed(train.device)
    started = start_run(
        data,
        run_dir,
        is_main=info.is_main,
        seed=train.seed,
        input_size=config.input_size,
        clahe_params=config.clahe,
        progress=train.progress,
    )
    run_dir, caches = started.run_dir, started.caches
    spec_in = InputSpec(mean=config.mean, std=config.std, channels=3)
    labels = caches["train"].labels
    if config.sampling == "positives":
        indices = np.flatnonzero(labels)
        schedule = None
    else:
        indices = np.arange(len(labels))
        schedule = (config.schedule[0], config.schedule[1], train.epochs)
    if len(indices) == 0:
        raise ValueError(f"{data.root}: no positive training images for the segmenter")
    train_ds = XrayDataset(
        caches["train"], task="segment", input_spec=spec_in, augment=config.augment
    )
    sampler = EpochSampler(
        indices,
        shuffle=True,
        seed=train.seed,
        rank=info.rank,
        world_size=info.world_size,
        labels=labels,
        schedule=schedule,
    )
    loader = make_loader(
        train_ds,
        sampler,
        LoaderConfig(
            batch_size=train.batch_size,
            workers=train.workers,
            pin_memory=info.device.type == "cuda",
        ),
    )
    model = build_segmenter(segmenter_spec(config)).to(info.device)
    criterion = DiceFocalLoss(config.loss)
    val_ds = XrayDataset(caches["val"], task="segment", input_spec=spec_in)

    def loss_fn(bare, out, y):
        return criterion(out, y)

    def validate(bare: nn.Module) -> dict:
        idx = list(range(info.rank, len(val_ds), info.world_size))
        maps = predict_maps(bare, val_ds, idx, device=info.device, amp=train.amp)
        rows = gather_lists(dice_summary(maps, caches["val"], idx), info)
        if not rows:
            return {"score": 0.0}
        s = segment_metrics(rows)
        key = "dice_positive" if config.sampling == "positives" else "kaggle_mean_dice"
        score = s[key] if np.isfinite(s[key]) else s["kaggle_mean_dice"]
        return {**s, "score": score}

    result = fit(
        model,
        train_loader=loader,
        loss_fn=loss_fn,
        validate=validate,
        run_dir=run_dir,
        config=train,
        info=info,
        state_extra={"kind": "segmenter", "segment_config": _config_dict(config)},
    )
    out: dict = {"best_epoch": result.best_epoch, "history": result.history}
    if not info.is_main:
        return out
    load_weights(run_dir / "checkpoints" / "best.safetensors", model)
    model.eval()
    post: dict = {}
    if len(val_ds):
        vi = list(range(len(val_ds)))
        maps = predict_maps(model, val_ds, vi, device=info.device, amp=train.amp)
        truths = [caches["val"].masks[i].astype(bool) for i in vi]
        cp = None
        if class_probabilities is not None:
            cp = [class_probabilities[r.image_id] for r in caches["val"].records]
        shape = caches["val"].shapes[0] if caches["val"].shapes else (1024, 1024)
        res = search_postprocess(
            list(maps),
            truths,
            class_probabilities=cp,
            scheme=config.postprocess_scheme,
            full_shape=shape,
        )
        post = res.to_dict()
        write_json(run_dir / POSTPROCESS_JSON, post)
    test_ds = XrayDataset(caches["test"], task="segment", input_spec=spec_in)
    ti = list(range(len(test_ds)))
    test = {}
    if ti:
        maps = predict_maps(model, test_ds, ti, device=info.device, amp=train.amp)
        test = segment_metrics(dice_summary(maps, caches["test"], ti))
        test["images"] = len(ti)
        test["positives"] = int(caches["test"].labels.sum())
    spec = segmenter_spec(config, post)
    finish_run(
        run_dir,
        kind="segmenter",
        spec=spec,
        clahe_params=config.clahe,
        result=result,
        test=test,
        train=train,
        config_key="segment_config",
        config=_config_dict(config),
        caches=caches,
        extra={"postprocess": {k: v for k, v in post.items() if k != "table"}},
    )
    out.update({"spec": dataclasses.asdict(spec), "test": test, "postprocess": post})
    return out


def _config_dict(config: SegmentConfig) -> dict:
    d = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    d["clahe"] = None if config.clahe is None else config.clahe.to_dict()
    d["augment"] = dataclasses.asdict(config.augment)
    d["loss"] = dataclasses.asdict(config.loss)
    d["decoder_channels"] = list(config.decoder_channels)
    return d
