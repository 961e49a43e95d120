"""Helpers shared by the training commands: data + split preparation, run folders, JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from model_training.data import Corpus, PreprocessedCache, load_corpus
from model_training.records import Record
from model_training.splits import (
    SplitConfig,
    apply_split,
    make_split,
    read_split_csv,
    select_subset,
    write_split_csv,
)

SPLIT_CSV = "split.csv"
SPEC_JSON = "spec.json"
TEST_METRICS_JSON = "test_metrics.json"


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Where the data is and how it is split.

    Attributes
    ----------
    root : Path
        Data folder (SIIM DICOM tree + run-length CSV, or png_images/ + png_masks/).
    csv : Path or None
        The run-length CSV (SIIM layout); None searches for one.
    split_csv : Path or None
        An existing split file to reuse; None makes a new split.
    split : SplitConfig
        Fractions and seed of a new split.
    subset : int or None
        Use a balanced subset of this many images (before splitting).
    """

    root: Path
    csv: Path | None = None
    split_csv: Path | None = None
    split: SplitConfig = SplitConfig()
    subset: int | None = None
    evaluate_on_train: bool = False


@dataclass
class PreparedData:
    """A corpus and its split: image_id -> "train" / "val" / "test"."""

    corpus: Corpus
    assignment: dict[str, str]
    evaluate_on_train: bool = False

    def records(self, split: str) -> list[Record]:
        """Return the records of one split, sorted by image id.

        With ``evaluate_on_train`` (the demo model: 10 images, nothing to hold out),
        "val" and "test" are the training images themselves.
        """
        if self.evaluate_on_train and split in ("val", "test"):
            split = "train"
        return apply_split(self.corpus.records, self.assignment, split)


def prepare_data(config: DataConfig, run_dir: Path | None = None) -> PreparedData:
    """Load the corpus, take the subset, make or read the split, write ``split.csv``."""
    corpus = load_corpus(config.root, csv=config.csv)
    if config.subset:
        corpus.records = select_subset(corpus.records, config.subset, seed=config.split.seed)
    if config.split_csv is not None:
        assignment = read_split_csv(config.split_csv)
        known = {r.image_id for r in corpus.records}
        assignment = {k: v for k, v in assignment.items() if k in known}
    else:
        assignment = make_split(corpus.records, config.split)
    if run_dir is not None:
        write_split_csv(run_dir / SPLIT_CSV, corpus.records, assignment)
    return PreparedData(corpus, assignment, config.evaluate_on_train)


@dataclass
class RunStart:
    """What a training command has once its run folder, split and caches are ready."""

    run_dir: Path
    prepared: PreparedData
    caches: dict[str, PreprocessedCache]


def start_run(
    data: DataConfig,
    run_dir: str | Path,
    *,
    is_main: bool,
    seed: int,
    input_size: int,
    clahe_params,
    progress: bool,
) -> RunStart:
    """Make the run folder (rank 0), seed, split the data and build the per-split caches.

    Parameters
    ----------
    data : DataConfig
        Where the data is and how it is split.
    run_dir : str or Path
        The run folder; only the main process creates it and writes ``split.csv``.
    is_main : bool
        True on rank 0 (or without distributed training).
    seed : int
        Seed for Python, NumPy and torch.
    input_size : int
        Network input size the caches are resized to.
    clahe_params : ClaheParams or None
        CLAHE of the core, as in the manifest.
    progress : bool
        Show a progress bar while the caches are built.

    Returns
    -------
    RunStart
        The run folder, the prepared split and a cache for "train", "val" and "test".
    """
    from model_training.trainer import seed_everything

    run_dir = Path(run_dir)
    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(seed)
    prepared = prepare_data(data, run_dir if is_main else None)
    caches = {
        s: PreprocessedCache(
            prepared.corpus,
            prepared.records(s),
            size=input_size,
            clahe_params=clahe_params,
            progress=progress and is_main,
        )
        for s in ("train", "val", "test")
    }
    return RunStart(run_dir=run_dir, prepared=prepared, caches=caches)


def finish_run(
    run_dir: Path,
    *,
    kind: str,
    spec,
    clahe_params,
    result,
    test: dict,
    train,
    config_key: str,
    config: dict,
    caches: dict[str, PreprocessedCache],
    extra: dict | None = None,
) -> None:
    """Write ``test_metrics.json`` and ``spec.json`` (what ``export`` reads), then the plots.

    Parameters
    ----------
    run_dir : Path
        The run folder (main process only).
    kind : {"classifier", "segmenter"}
        Which network the run trained.
    spec : dataclass
        The core ``ClassifierSpec`` or ``SegmenterSpec`` of the best checkpoint.
    clahe_params : ClaheParams or None
        CLAHE the inputs were made with.
    result : FitResult
        Best epoch and score from :func:`model_training.trainer.fit`.
    test : dict
        Metrics on the test split.
    train : TrainConfig
        Training settings.
    config_key : str
        Key under which ``config`` is stored (``classify_config`` / ``segment_config``).
    config : dict
        The command's own settings, JSON-ready.
    caches : dict of str to PreprocessedCache
        The per-split caches (their sizes are recorded).
    extra : dict, optional
        More keys for ``spec.json`` (e.g. the post-processing search).
    """
    import dataclasses

    from model_training.plots import plot_run

    write_json(run_dir / TEST_METRICS_JSON, test)
    record = {
        "kind": kind,
        "spec": dataclasses.asdict(spec),
        "clahe": None if clahe_params is None else clahe_params.to_dict(),
        "best_epoch": result.best_epoch,
        "best_val_score": result.best_score,
        **(extra or {}),
        "test": test,
        "train_config": train.to_dict(),
        config_key: config,
        "images": {s: len(c) for s, c in caches.items()},
    }
    write_json(run_dir / SPEC_JSON, record)
    plot_run(run_dir)


def write_json(path: Path, data: dict) -> Path:
    """Write indented JSON atomically (floats as written by ``json``; NaN allowed)."""
    from pneumoviewer.core.io import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, default=str) + "\n"
    return atomic_write_text(path, text, overwrite=True)


def read_json(path: Path) -> dict:
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
