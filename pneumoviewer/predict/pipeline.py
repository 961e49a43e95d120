"""The per-image work of ``pneumoviewer predict``, shared by the local and the Ray engine.

:func:`process_image` runs the models and the one decision rule on a decoded image;
:func:`png_job` and :func:`write_cam` build its artefacts; :func:`configure` turns the
command line and the loaded engine into the :class:`RunConfig` every image uses. Both
engines call these functions, so their outputs agree by construction.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pneumoviewer.core.errors import PneumoviewerError
from pneumoviewer.predict.options import PredictOptions
from pneumoviewer.predict.outputs import ImageResult, png_name, write_png

__all__ = [
    "Prepared",
    "RunConfig",
    "annotation_for",
    "configure",
    "contrast_text",
    "decode_image",
    "error_result",
    "png_job",
    "postprocess_params",
    "prepare_image",
    "process_image",
    "run_settings",
    "write_cam",
]


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """What every image of a run uses besides the engine (built once by :func:`configure`).

    Attributes
    ----------
    params : PostprocessParams
        The manifest's post-processing with the command line's overrides.
    decision : float
        The decision threshold (:func:`pneumoviewer.core.decision.decision_threshold_of`).
    cam : bool
        Write Grad-CAM heat-maps (``--cam`` and the model has a classifier).
    dicom_kinds : tuple of str
        DICOM objects to write per image (``--dicom`` minus SEG without a segmenter).
    has_seg : bool
        The model has a segmenter (``submission.csv`` is written).
    settings : dict
        What shapes the outputs (``predict-run.json``; :func:`run_settings`).

    """

    params: object
    decision: float
    cam: bool
    dicom_kinds: tuple[str, ...]
    has_seg: bool
    settings: dict


def configure(opts: PredictOptions, engine, gt, warnings: list[str]) -> RunConfig:
    """Return the run's :class:`RunConfig`; append the warnings to say once to ``warnings``."""
    from pneumoviewer.core.decision import decision_threshold_of

    params = postprocess_params(engine, opts, warnings)
    if engine.ood is None and engine.manifest.classifier is not None:  # #10: said once
        from pneumoviewer.core.inference.ood import SKIPPED_MESSAGE

        warnings.append(SKIPPED_MESSAGE)
    cam = opts.cam and engine.manifest.classifier is not None
    if opts.cam and not cam:
        warnings.append("--cam ignored: the model has no classifier to explain")
    decision = decision_threshold_of(engine.manifest)
    settings = run_settings(opts, engine, gt, params, decision)
    has_seg = engine.manifest.segmenter is not None
    kinds = tuple(k for k in opts.dicom if has_seg or k != "seg")
    if len(kinds) < len(opts.dicom):
        warnings.append("--dicom seg ignored: the model has no segmenter")
    return RunConfig(
        params=params,
        decision=decision,
        cam=cam,
        dicom_kinds=kinds,
        has_seg=has_seg,
        settings=settings,
    )


def contrast_text(manifest) -> str:
    """How the PNG's grey levels were made (the model's CLAHE is not applied to the picture)."""
    return "DICOM display (Modality LUT + VOI/window); the model saw " + (
        "CLAHE clip {clip_limit:g}, tiles {tile_grid[0]}x{tile_grid[1]}".format(
            **manifest.clahe.to_dict()
        )
        if manifest.clahe is not None
        else "no CLAHE"
    )


def error_result(entry, exc: BaseException) -> ImageResult:
    """Return the ``status == "error"`` row of an image that could not be analysed."""
    message = str(exc) if isinstance(exc, PneumoviewerError) else f"{entry.path}: {exc}"
    return ImageResult(image_id=entry.image_id, file=entry.path, status="error", error=message)


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a decode thread computes for one image ahead of the models (#11 §1, speed).

    Attributes
    ----------
    inputs : tuple
        ``engine.prepare(pixels, padding)``: both networks' inputs (CLAHE, resize).
    pixel_quality : QualityResult
        ``check_pixels(pixels, padding=padding)``: the quality gate's pixel rules.

    """

    inputs: tuple
    pixel_quality: object


def decode_image(entry, engine):
    """Decode one image and do the work that needs no model; return (XrayImage, Prepared).

    Thread-safe (numpy / OpenCV / pydicom only): the local engine runs it in its decode
    threads, so CLAHE, the resizes and the pixel rules overlap the previous image's forward
    passes instead of following them. :func:`process_image` gives the same result with or
    without it.
    """
    from pneumoviewer.core.studies import load_entry

    image = load_entry(entry)
    return image, prepare_image(image, engine)


def prepare_image(image, engine) -> Prepared:
    """Return the :class:`Prepared` work of a decoded image (thread-safe, no model run)."""
    from pneumoviewer.core.quality import check_pixels

    return Prepared(
        inputs=engine.prepare(image.pixels, image.padding),
        pixel_quality=check_pixels(image.pixels, padding=image.padding),
    )


def process_image(
    entry, image, engine, params, gt, decision_threshold: float, prepared: Prepared | None = None
):
    """Run the models on one decoded image; return (ImageResult, mask, gt_mask, Decision, quality).

    The call, the mask and the state come from :func:`pneumoviewer.core.decision.decide`
    (the one decision rule the viewer uses too). ``prepared`` (:func:`decode_image`) saves
    recomputing the model inputs and the pixel rules; the outputs are the same.
    """
    from pneumoviewer.core.decision import decide
    from pneumoviewer.core.metrics import dice
    from pneumoviewer.core.quality import assess, withhold
    from pneumoviewer.core.rle import encode

    pred = engine.predict(
        image.pixels,
        image_id=entry.image_id,
        padding=image.padding,
        inputs=None if prepared is None else prepared.inputs,
    )
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
        pixel_quality=None if prepared is None else prepared.pixel_quality,
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


def annotation_for(
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
        contrast=contrast_text(m),
        paints=paints,
        shape=image.pixels.shape,
        orientation=getattr(md, "patient_orientation", None),
        pixel_spacing=getattr(md, "pixel_spacing", None),
        extra={"Device": engine.device, "TTA": str(opts.tta)},
        quality=quality,
    )


def png_job(
    opts: PredictOptions, engine, params, style, entry, image, result, mask, gt_mask, dec, quality
) -> Callable[[], str | None]:
    """Return the call that writes ``png/<ImageId>.png`` (None, or the error message).

    The layers and the annotation are built here (in the caller's thread); the returned
    call only encodes and writes, so it can run on a writer thread.
    """
    from pneumoviewer.core.overlay import style_paints

    paints = style_paints(image.pixels.shape, ground_truth=gt_mask, prediction=mask, style=style)
    return functools.partial(
        write_png,
        opts.out / "png" / png_name(entry.image_id),
        image.pixels,
        paints=paints,
        annotation=annotation_for(
            engine, params, opts, entry, image, dec, paints, result.dice, quality
        ),
        overwrite=opts.overwrite or opts.resume,
    )


def postprocess_params(engine, opts: PredictOptions, warnings: list[str]):
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


def run_settings(opts: PredictOptions, engine, gt, params, decision: float) -> dict:
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


def write_cam(opts: PredictOptions, engine, entry, image, problem) -> None:
    """Write ``cam/<ImageId>.png``: the Grad-CAM heat-map over the image (#10).

    A failure is passed to ``problem(path, message)``; the run goes on.
    """
    from pneumoviewer.core.heatmap import write_heatmap_png

    path = opts.out / "cam" / png_name(entry.image_id)
    try:
        heat = engine.heatmap(image.pixels, padding=image.padding)
        write_heatmap_png(path, image.pixels, heat, overwrite=opts.overwrite or opts.resume)
    except (OSError, ValueError, RuntimeError) as exc:
        problem(path, f"{path}: heat-map not written: {exc}")
