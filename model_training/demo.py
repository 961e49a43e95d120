"""The bundled demo model: both networks trained on the 10 sample images, on the CPU.

Its predictions on those images show the viewer working; they say nothing about
diagnostic accuracy (there is no held-out data: validation and test are the training set).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from model_training.augment import AugmentConfig
from model_training.runs import DataConfig
from model_training.splits import SplitConfig
from model_training.trainer import TrainConfig

MODEL_CARD = "MODEL_CARD.md"


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    """Where the samples are, where the model goes, and the time budget (minutes)."""

    samples: Path = Path("resources/samples")
    out: Path = Path("resources/models/demo")
    work: Path = Path("runs/demo")
    minutes: float = 13.0
    cls_epochs: int = 60
    seg_epochs: int = 150
    cls_size: int = 224
    seg_size: int = 256
    seed: int = 0


def train_demo_model(config: DemoConfig = DemoConfig()) -> dict:
    """Train classifier (svm head, 224 px) and segmenter (U-Net ResNet-34, 256); export fp16.

    Training is epoch-based; the time budget is a safety cap: the classifier stops after
    the epoch that exceeds 30 % of it, the segmenter after the epoch exceeding the rest.
    Writes the model directory with ``demo=true`` and a ``MODEL_CARD.md``.

    Returns
    -------
    dict
        Timings and the training-set metrics recorded in the manifest.
    """
    import torch

    from model_training.classify import ClassifyConfig, classifier_probabilities, run_classify
    from model_training.export import ExportConfig, export_model
    from model_training.segment import SegmentConfig, run_segment
    from pneumoviewer.core.quality import IntendedUse

    data = DataConfig(
        root=config.samples,
        split=SplitConfig(val_fraction=0.0, test_fraction=0.0, seed=config.seed),
        evaluate_on_train=True,
    )
    aug = AugmentConfig(
        hflip=0.0, affine=0.3, rotate_deg=5.0, scale=0.05, shift=0.03, intensity=0.3
    )
    base = TrainConfig(
        workers=0,
        device="cpu",
        amp=False,
        seed=config.seed,
        progress=False,
        val_every=5,
        save_last_every=25,
    )
    t0 = time.perf_counter()
    cls_dir, seg_dir = config.work / "classifier", config.work / "segmenter"
    cls = run_classify(
        data,
        cls_dir,
        config=ClassifyConfig(head="svm", input_size=config.cls_size, augment=aug),
        train=replace(
            base, epochs=config.cls_epochs, batch_size=5, lr=1e-3, max_minutes=config.minutes * 0.3
        ),
    )
    t_cls = time.perf_counter() - t0
    probs = classifier_probabilities(cls_dir, data, split="val", device="cpu")
    seg = run_segment(
        data,
        seg_dir,
        config=SegmentConfig(
            encoder="resnet34", input_size=config.seg_size, sampling="positives", augment=aug
        ),
        train=replace(
            base,
            epochs=config.seg_epochs,
            batch_size=2,
            lr=1e-3,
            max_minutes=max(config.minutes - t_cls / 60.0, 1.0),
        ),
        class_probabilities=probs,
    )
    t_total = time.perf_counter() - t0
    training = {
        "data": "the 10 bundled SIIM-ACR sample images (5 with pneumothorax); no held-out data",
        "images": 10,
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "minutes": round(t_total / 60.0, 2),
        "classifier_epochs": len(cls["history"]),
        "segmenter_epochs": len(seg["history"]),
        "classifier_train_accuracy": cls["test"].get("accuracy"),
        "segmenter_train_dice_positive": seg["test"].get("dice_positive"),
    }
    manifest = export_model(
        config.out,
        classifier_run=cls_dir,
        segmenter_run=seg_dir,
        config=ExportConfig(
            name="pneumoviewer demo model",
            description="Demo only: trained on the 10 bundled sample images. Its output on "
            "them shows the viewer working, not diagnostic accuracy.",
            demo=True,
            fp16=True,
            intended_use=IntendedUse(stated=True),  # #10: adult PA/AP chest CR/DX
        ),
        training=training,
        ood_data=data,  # #10: no held-out data -> leave-one-out threshold
    )
    dice = segmenter_dice_on_samples(config.out, config.samples)
    write_model_card(config.out / MODEL_CARD, manifest, dice)
    print(f"demo model written to {config.out} in {t_total / 60.0:.1f} min", flush=True)
    return training


def segmenter_dice_on_samples(model_dir: str | Path, samples: str | Path) -> dict:
    """Dice on the positive sample images, as the viewer computes it, trained vs untrained.

    Each positive image goes through the core ``InferenceEngine`` (full-resolution map) and
    ``postprocess`` with the manifest's defaults (gate included). The untrained reference
    is the same manifest with a randomly initialised segmenter (seed 0).

    Returns
    -------
    dict
        ``{"trained": float, "untrained": float}``: mean Dice over the positive images.
    """
    import tempfile

    import torch

    from model_training.data import load_corpus
    from pneumoviewer.core.inference.engine import InferenceEngine
    from pneumoviewer.core.inference.manifest import read_manifest
    from pneumoviewer.core.inference.models import build_segmenter, save_model_dir
    from pneumoviewer.core.metrics import dice
    from pneumoviewer.core.postprocessing import postprocess

    corpus = load_corpus(samples)
    positives = [r for r in corpus.records if r.positive]
    manifest = read_manifest(model_dir)

    def mean_dice(directory: Path) -> float:
        engine = InferenceEngine(directory, device="cpu")
        params = engine.postprocess_params()
        scores = []
        for rec in positives:
            pixels = corpus.image(rec)
            pred = engine.predict(pixels, image_id=rec.image_id)
            mask = postprocess(
                pred.probability_map, params, class_probability=pred.class_probability
            )
            scores.append(dice(mask, corpus.mask(rec, pixels.shape)))
        return float(sum(scores) / len(scores))

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        from dataclasses import replace

        seg_only = replace(manifest, classifier=None, segmenter=manifest.segmenter)
        save_model_dir(tmp, seg_only, segmenter=build_segmenter(manifest.segmenter))
        # the trained one without the classifier too, so only the segmenter differs
        trained_dir = Path(tmp) / "trained"
        from pneumoviewer.core.inference.models import load_model_dir

        loaded = load_model_dir(model_dir)
        save_model_dir(trained_dir, seg_only, segmenter=loaded.segmenter)
        return {"trained": mean_dice(trained_dir), "untrained": mean_dice(Path(tmp))}


def write_model_card(path: Path, manifest, dice: dict | None = None) -> Path:
    """Write the demo model's card: what it is, how it was trained, what not to use it for."""
    c, s, t = manifest.classifier, manifest.segmenter, manifest.training
    gate = "off" if s.gate_threshold is None else f"{s.gate_threshold:g}"
    rows = [
        (
            "classifier",
            f"DenseNet-121, svm head, {c.input_size} px, "
            f"Platt a={c.platt_a:.4g}, b={c.platt_b:.4g}",
        ),
        (
            "segmenter",
            f"U-Net {s.encoder}, {s.input_size} px, mask threshold "
            f"{s.mask_threshold:g}, min area {s.min_area} px, gate {gate}",
        ),
        (
            "preprocessing",
            f"CLAHE clip {manifest.clahe.clip_limit:g}, tiles "
            f"{manifest.clahe.tile_grid}, mean {s.mean}, std {s.std}",
        ),
        ("weights", "float16 safetensors (sha256 in manifest.json)"),
        (
            "training time",
            f"{t.get('minutes')} min on {t.get('threads', '?')} CPU thread(s), shared machine",
        ),
        (
            "epochs",
            f"classifier {t.get('classifier_epochs')}, segmenter {t.get('segmenter_epochs')}",
        ),
        ("training-set accuracy (classifier)", f"{t.get('classifier_train_accuracy')}"),
        (
            f"training-set Dice, positive images ({s.input_size} px, threshold 0.5)",
            f"{t.get('segmenter_train_dice_positive')}",
        ),
    ]
    if dice:
        rows.append(
            (
                "Dice on the 5 positive samples as the viewer shows them "
                "(full resolution, manifest post-processing)",
                f"{dice['trained']:.3f} (untrained network: {dice['untrained']:.3f})",
            )
        )
    rows.append(("intended use", manifest.effective_intended_use.describe()))  # #10
    ood = manifest.ood
    rows.append(("out-of-distribution check", "none" if ood is None else ood.describe()))
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    text = f"""# pneumoviewer demo model

**What it is:** a DenseNet-121 classifier (DLSVM head, Platt-scaled) and a U-Net
(ResNet-34 encoder) segmenter, trained from scratch on the CPU on **the 10 sample images
bundled in `resources/samples`** (5 with pneumothorax, 5 without) by
`make demo-model` (`pneumoviewer-train demo`).

**What it is for:** showing the viewer working. Its predictions on the bundled images
look plausible because it has seen exactly those images (validation, Platt scaling and
the post-processing search also used them; there is no held-out data).

**What it is not:** a diagnostic model. It has no measured accuracy on any unseen image
and must not be used on patients. To train a real model, see `docs/training.md`.

| | |
|---|---|
{table}

Images: SIIM-ACR Pneumothorax Segmentation (2019) sample images, from the NIH
ChestX-ray14 collection; see `resources/samples/NOTICE`.
"""
    from pneumoviewer.core.io import atomic_write_text

    return atomic_write_text(path, text, overwrite=True)
