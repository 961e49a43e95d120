"""Tiny randomly initialised model directories for tests (CPU, a few MB, built in ~1 s)."""

from __future__ import annotations

from pathlib import Path

TINY_DECODER_CHANNELS = (16, 16, 16, 16, 16)


def tiny_manifest(
    *,
    classifier: bool = True,
    segmenter: bool = True,
    head: str = "svm",
    input_size: int = 64,
    platt: tuple[float, float] | None = None,
    gate_threshold: float | None = None,
    clahe: bool = True,
):
    """Return the manifest of a tiny model (DenseNet-121 + U-Net resnet18, ``input_size``)."""
    from pneumoviewer.core.inference.manifest import (
        ClaheParams,
        ClassifierSpec,
        ModelManifest,
        SegmenterSpec,
    )

    cls_spec = None
    if classifier:
        cls_spec = ClassifierSpec(
            head=head,
            input_size=input_size,
            mean=0.5,
            std=0.25,
            decision_threshold=0.5,
            platt_a=None if platt is None else platt[0],
            platt_b=None if platt is None else platt[1],
        )
    seg_spec = None
    if segmenter:
        seg_spec = SegmenterSpec(
            encoder="resnet18",
            input_size=input_size,
            mean=0.5,
            std=0.25,
            mask_threshold=0.5,
            min_area=0,
            gate_threshold=gate_threshold,
            decoder_channels=TINY_DECODER_CHANNELS,
        )
    return ModelManifest(
        name="tiny-test",
        description="Randomly initialised tiny model for tests (meaningless outputs).",
        demo=True,
        clahe=ClaheParams() if clahe else None,
        classifier=cls_spec,
        segmenter=seg_spec,
        training={"data": "none (random initialisation)", "images": 0},
    )


def make_tiny_model_dir(
    path: str | Path,
    *,
    classifier: bool = True,
    segmenter: bool = True,
    head: str = "svm",
    input_size: int = 64,
    seed: int = 0,
    platt: tuple[float, float] | None = None,
    gate_threshold: float | None = None,
    fp16: bool = False,
    clahe: bool = True,
) -> Path:
    """Build and save a tiny random model directory at ``path``; return ``path``.

    The classifier is a full DenseNet-121 (weights=None) used at ``input_size``; the
    segmenter an smp U-Net with a resnet18 encoder and decoder channels (16,)*5.
    """
    import torch

    from pneumoviewer.core.inference.models import (
        build_classifier,
        build_segmenter,
        save_model_dir,
    )

    manifest = tiny_manifest(
        classifier=classifier,
        segmenter=segmenter,
        head=head,
        input_size=input_size,
        platt=platt,
        gate_threshold=gate_threshold,
        clahe=clahe,
    )
    torch.manual_seed(seed)
    cls_net = build_classifier(manifest.classifier) if classifier else None
    seg_net = build_segmenter(manifest.segmenter) if segmenter else None
    path = Path(path)
    save_model_dir(path, manifest, classifier=cls_net, segmenter=seg_net, fp16=fp16)
    return path
