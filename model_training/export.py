"""Export trained runs to the viewer's model directory (core ``save_model_dir``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from model_training.checkpoint import load_weights
from model_training.runs import SPEC_JSON, read_json


@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    """Name, description, demo flag and precision of the exported model."""

    name: str = "pneumoviewer model"
    description: str = ""
    demo: bool = False
    fp16: bool = False
    checkpoint: str = "best"
    #: Which images the model is for (a core ``IntendedUse``); None: not stated (#10).
    intended_use: object | None = None
    #: Threshold percentile of the validation OOD distances (#10).
    ood_percentile: float = 99.0


def _run_spec(run_dir: Path, kind: str) -> dict:
    path = run_dir / SPEC_JSON
    if not path.is_file():
        from pneumoviewer.core.errors import ModelLoadError

        raise ModelLoadError(path, f"not a finished {kind} run (no {SPEC_JSON})")
    d = read_json(path)
    if d.get("kind") != kind:
        from pneumoviewer.core.errors import ModelLoadError

        raise ModelLoadError(path, f"this is a {d.get('kind')} run, not a {kind} run")
    return d


def export_model(
    out_dir: str | Path,
    *,
    classifier_run: str | Path | None = None,
    segmenter_run: str | Path | None = None,
    config: ExportConfig = ExportConfig(),
    training: dict | None = None,
    ood_data=None,
):
    """Write a model directory (manifest + safetensors) from finished runs.

    Parameters
    ----------
    out_dir : path-like
        The model directory to write.
    classifier_run, segmenter_run : path-like or None
        Run folders of :func:`run_classify` / :func:`run_segment` (at least one).
    config : ExportConfig
        Name, description, demo flag, fp16.
    training : dict or None
        Extra provenance for the manifest's ``training`` field.
    ood_data : DataConfig or None
        The classifier's data and split (#10): fit the out-of-distribution statistics on
        its train split, threshold on its val split (:mod:`model_training.ood`). None:
        the model has none and the viewer skips the check.

    Returns
    -------
    ModelManifest
        As written (with sha256 of the weights).

    Raises
    ------
    ModelLoadError
        When a run is unfinished, of the wrong kind, or the runs used different CLAHE.
    """
    from pneumoviewer.core.errors import ModelLoadError
    from pneumoviewer.core.inference.manifest import (
        ClaheParams,
        ClassifierSpec,
        ModelManifest,
        SegmenterSpec,
    )
    from pneumoviewer.core.inference.models import (
        build_classifier,
        build_segmenter,
        save_model_dir,
    )

    if classifier_run is None and segmenter_run is None:
        raise ValueError("export needs a classifier run, a segmenter run, or both")
    nets: dict = {"classifier": None, "segmenter": None}
    specs: dict = {"classifier": None, "segmenter": None}
    clahes = []
    provenance = dict(training or {})
    for kind, run in (("classifier", classifier_run), ("segmenter", segmenter_run)):
        if run is None:
            continue
        run = Path(run)
        d = _run_spec(run, kind)
        if kind == "classifier":
            spec = ClassifierSpec(**d["spec"])
            net = build_classifier(spec)
        else:
            s = dict(d["spec"])
            s["decoder_channels"] = tuple(s["decoder_channels"])
            s.setdefault("postprocess_scheme", "components")  # a run from before the triplet
            spec = SegmenterSpec(**s)
            net = build_segmenter(spec)
        load_weights(run / "checkpoints" / f"{config.checkpoint}.safetensors", net)
        nets[kind], specs[kind] = net.eval(), spec
        clahes.append(d.get("clahe"))
        provenance[kind] = {
            "best_epoch": d.get("best_epoch"),
            "test": d.get("test"),
            "images": d.get("images"),
            "epochs": d.get("train_config", {}).get("epochs"),
            **({"postprocess": d["postprocess"]} if "postprocess" in d else {}),
        }
    if len(clahes) == 2 and clahes[0] != clahes[1]:
        raise ModelLoadError(
            Path(segmenter_run) / SPEC_JSON,
            f"the classifier used CLAHE {clahes[0]} and the segmenter {clahes[1]}; "
            "a model directory has one CLAHE setting",
        )
    clahe = None if clahes[0] is None else ClaheParams.from_dict(clahes[0])
    manifest = ModelManifest(
        name=config.name,
        description=config.description,
        demo=config.demo,
        clahe=clahe,
        classifier=specs["classifier"],
        segmenter=specs["segmenter"],
        training=provenance,
        intended_use=config.intended_use,
    )
    written = save_model_dir(
        out_dir,
        manifest,
        classifier=nets["classifier"],
        segmenter=nets["segmenter"],
        fp16=config.fp16,
    )
    if ood_data is not None and written.classifier is not None:  # #10
        from dataclasses import replace

        from model_training.ood import fit_ood_from_data

        spec = fit_ood_from_data(out_dir, ood_data, percentile=config.ood_percentile)
        written = replace(written, ood=spec)
    return written
