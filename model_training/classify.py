"""Classifier training (report §4): DenseNet-121 with the DLSVM or the softmax head.

The architecture is a torchvision registry name (``ClassifyConfig.architecture``), so
another network is a configuration change.
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
from model_training.data import PreprocessedCache
from model_training.distributed import DistInfo, gather_lists, init_distributed
from model_training.heads import make_loss, output_layer, probabilities, scores
from model_training.loaders import EpochSampler, InputSpec, LoaderConfig, XrayDataset, make_loader
from model_training.runs import SPEC_JSON, DataConfig, finish_run, prepare_data, start_run
from model_training.trainer import TrainConfig, fit
from pneumoviewer.core.inference.calibration import fit_platt
from pneumoviewer.core.inference.devices import autocast_context, resolve_device


@dataclass(frozen=True, kw_only=True)
class ClassifyConfig:
    """What to train: head, input, preprocessing, augmentation.

    Attributes
    ----------
    architecture : str
        A ``torchvision.models.get_model`` name (default ``densenet121``, the report's);
        written into the manifest, so the viewer builds the same network.
    head : {"svm", "softmax"}
        DLSVM (squared hinge, one margin) or softmax (cross-entropy, two logits).
    input_size : int
        Side of the square input (report: 224).
    svm_c : float
        ``C`` of the squared hinge term.
    pretrained : bool
        Start from torchvision's default ImageNet weights of ``architecture`` (needs internet).
    mean, std : float
        Input normalisation on the [0, 1] scale.
    clahe : ClaheParams or None
        CLAHE before resizing (None: off).
    augment : AugmentConfig
        Training augmentation.
    """

    architecture: str = "densenet121"
    head: str = "svm"
    input_size: int = 224
    svm_c: float = 1.0
    pretrained: bool = False
    mean: float = 0.5
    std: float = 0.25
    clahe: object | None = field(default_factory=lambda: _default_clahe())
    augment: AugmentConfig = AugmentConfig()


def _default_clahe():
    from pneumoviewer.core.preprocessing import ClaheParams

    return ClaheParams()


def classifier_spec(config: ClassifyConfig, platt: tuple[float, float] | None = None):
    """Return the core ``ClassifierSpec`` of this configuration."""
    from pneumoviewer.core.inference.manifest import ClassifierSpec

    return ClassifierSpec(
        architecture=config.architecture,
        head=config.head,
        input_size=config.input_size,
        in_channels=3,
        mean=config.mean,
        std=config.std,
        platt_a=None if platt is None else platt[0],
        platt_b=None if platt is None else platt[1],
    )


def load_imagenet_weights(model: nn.Module, architecture: str = "densenet121") -> None:
    """Copy torchvision's default ImageNet weights of ``architecture`` (all but the output layer).

    Every tensor whose name and shape match is copied; only the output layer (whose size
    is the head's) keeps its random initialisation.

    Raises
    ------
    RuntimeError
        With a clear message when the weights cannot be downloaded (no internet).
    """
    from torchvision.models import get_model

    try:
        ref = get_model(architecture, weights="DEFAULT")
    except Exception as exc:  # URLError, OSError, HTTPError, ...
        raise RuntimeError(
            f"--pretrained: could not download the ImageNet {architecture} weights "
            f"(no internet connection?): {exc}. Train from scratch without --pretrained, or "
            "run once on a machine with internet to fill the torch hub cache."
        ) from exc
    own = model.state_dict()
    state = {k: v for k, v in ref.state_dict().items() if k in own and own[k].shape == v.shape}
    missing, _ = model.load_state_dict(state, strict=False)
    last = output_layer(model)
    head = {f"{n}.{p}" for n, m in model.named_modules() if m is last for p in ("weight", "bias")}
    if set(missing) - head:
        raise RuntimeError(f"--pretrained: weights missing for {sorted(set(missing) - head)[:5]}")


def predict_outputs(
    model: nn.Module, dataset: XrayDataset, indices, *, device, amp: bool, batch_size: int = 16
) -> torch.Tensor:
    """Raw network outputs, float32 (N, 1 or 2), for ``indices`` of an un-augmented dataset."""
    outs = []
    with torch.inference_mode(), autocast_context(device, enabled=amp):
        for i in range(0, len(indices), batch_size):
            x = torch.stack([dataset[int(j)][0] for j in indices[i : i + batch_size]])
            outs.append(model(x.to(device)).float().cpu())
    if not outs:
        return torch.zeros((0, 1))
    return torch.cat(outs)


def run_classify(
    data: DataConfig,
    run_dir: str | Path,
    *,
    config: ClassifyConfig = ClassifyConfig(),
    train: TrainConfig | None = None,
    info: DistInfo | None = None,
) -> dict:
    """Train a classifier, fit Platt scaling on validation, test; write the run folder.

    Writes ``split.csv``, ``metrics.csv``, ``checkpoints/``, ``spec.json`` (the core
    ClassifierSpec with Platt parameters), ``test_metrics.json`` and plots (rank 0).

    Returns
    -------
    dict
        ``{"spec": ..., "val": ..., "test": ..., "best_epoch": ...}`` (rank 0; others get
        the validation history only).
    """
    from pneumoviewer.core.inference.models import build_classifier
    from pneumoviewer.core.metrics import classification_metrics

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
    if len(caches["train"]) == 0:
        raise ValueError(f"{data.root}: the training split is empty")
    train_ds = XrayDataset(
        caches["train"], task="classify", input_spec=spec_in, augment=config.augment
    )
    sampler = EpochSampler(
        range(len(train_ds)),
        shuffle=True,
        seed=train.seed,
        rank=info.rank,
        world_size=info.world_size,
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
    model = build_classifier(classifier_spec(config))
    if config.pretrained:
        load_imagenet_weights(model, config.architecture)
    model.to(info.device)
    loss = make_loss(config.head, svm_c=config.svm_c)
    val_ds = XrayDataset(caches["val"], task="classify", input_spec=spec_in)

    def validate(bare: nn.Module) -> dict:
        idx = list(range(info.rank, len(val_ds), info.world_size))
        out = predict_outputs(bare, val_ds, idx, device=info.device, amp=train.amp)
        y = torch.as_tensor(caches["val"].labels[idx], dtype=torch.float32)
        part_loss = float(loss(bare, out.to(info.device), y.to(info.device))) * len(idx)
        rows = list(zip(probabilities(config.head, out).tolist(), y.tolist(), strict=True))
        rows = gather_lists(rows, info)
        total_loss = sum(gather_lists([part_loss], info))
        if not rows:
            return {"score": 0.0}
        p = np.array([r[0] for r in rows])
        t = np.array([r[1] for r in rows]) > 0.5
        m = classification_metrics(t, p, 0.5)
        score = m.auc if np.isfinite(m.auc) else m.accuracy
        return {
            "val_loss": total_loss / len(rows),
            "accuracy": m.accuracy,
            "auc": m.auc,
            "sensitivity": m.sensitivity,
            "specificity": m.specificity,
            "score": score + 1e-3 * m.accuracy,
        }

    result = fit(
        model,
        train_loader=loader,
        loss_fn=loss,
        validate=validate,
        run_dir=run_dir,
        config=train,
        info=info,
        state_extra={"kind": "classifier", "classify_config": _config_dict(config)},
    )
    out = {"best_epoch": result.best_epoch, "history": result.history}
    if not info.is_main:
        return out
    load_weights(run_dir / "checkpoints" / "best.safetensors", model)
    model.eval()
    platt = None
    val_idx = list(range(len(val_ds)))
    if config.head == "svm" and len(val_idx) >= 2:
        margins = scores(
            "svm", predict_outputs(model, val_ds, val_idx, device=info.device, amp=train.amp)
        )
        platt = fit_platt(margins, caches["val"].labels)
    spec = classifier_spec(config, platt)
    test_ds = XrayDataset(caches["test"], task="classify", input_spec=spec_in)
    test_out = predict_outputs(
        model, test_ds, list(range(len(test_ds))), device=info.device, amp=train.amp
    )
    test = {}
    if len(test_ds):
        p = probabilities(config.head, test_out, platt=platt)
        test = classification_metrics(caches["test"].labels, p, spec.decision_threshold).to_dict()
        test["images"] = len(test_ds)
    finish_run(
        run_dir,
        kind="classifier",
        spec=spec,
        clahe_params=config.clahe,
        result=result,
        test=test,
        train=train,
        config_key="classify_config",
        config=_config_dict(config),
        caches=caches,
    )
    out.update({"spec": dataclasses.asdict(spec), "test": test, "platt": platt})
    return out


def _config_dict(config: ClassifyConfig) -> dict:
    d = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    d["clahe"] = None if config.clahe is None else config.clahe.to_dict()
    d["augment"] = dataclasses.asdict(config.augment)
    return d


def classifier_probabilities(
    run_dir: str | Path, data: DataConfig, *, split: str = "val", device: str = "auto"
) -> dict[str, float]:
    """image_id -> calibrated probability of a finished classifier run on one split."""
    from model_training.runs import read_json
    from pneumoviewer.core.inference.manifest import ClassifierSpec
    from pneumoviewer.core.inference.models import build_classifier
    from pneumoviewer.core.preprocessing import ClaheParams

    run_dir = Path(run_dir)
    d = read_json(run_dir / SPEC_JSON)
    spec = ClassifierSpec(**d["spec"])
    clahe = None if d.get("clahe") is None else ClaheParams.from_dict(d["clahe"])
    prepared = prepare_data(data)
    records = prepared.records(split)
    cache = PreprocessedCache(prepared.corpus, records, size=spec.input_size, clahe_params=clahe)
    ds = XrayDataset(
        cache,
        task="classify",
        input_spec=InputSpec(mean=spec.mean, std=spec.std, channels=spec.in_channels),
    )
    dev = resolve_device(device, fallback=False)
    model = load_weights(run_dir / "checkpoints" / "best.safetensors", build_classifier(spec))
    model.to(dev).eval()
    out = predict_outputs(model, ds, list(range(len(ds))), device=dev, amp=False)
    platt = None if spec.platt_a is None else (spec.platt_a, spec.platt_b)
    p = probabilities(spec.head, out, platt=platt)
    return {r.image_id: float(v) for r, v in zip(records, p, strict=True)}
