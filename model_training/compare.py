"""Side-by-side experiments: softmax vs DLSVM head (report §4), ResNet-18 vs -34 (Fig. 5)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from model_training.evaluate import markdown_table, write_table
from model_training.runs import SPLIT_CSV, DataConfig
from model_training.trainer import TrainConfig

HEAD_COLUMNS = ("head", "accuracy", "auc", "sensitivity", "specificity", "images", "best_epoch")
ENCODER_COLUMNS = (
    "encoder",
    "dice_positive",
    "kaggle_mean_dice",
    "best_val_dice",
    "images",
    "best_epoch",
)


def _shared_split(data: DataConfig, out: Path) -> DataConfig:
    """Write the split once and make every run reuse it (same split, same seed)."""
    if data.split_csv is not None:
        return data
    from model_training.runs import prepare_data

    out.mkdir(parents=True, exist_ok=True)
    prepare_data(data, out)
    return replace(data, split_csv=out / SPLIT_CSV, subset=None)


def compare_heads(
    data: DataConfig,
    out: str | Path,
    *,
    make_config: Callable[[str], object],
    train: TrainConfig,
    heads: Sequence[str] = ("softmax", "svm"),
) -> list[dict]:
    """Train each head on the same split and seed; write ``heads_comparison.{csv,md,json}``.

    Returns
    -------
    list of dict
        One row per head with the test accuracy, AUC, sensitivity and specificity.
    """
    from model_training.classify import run_classify
    from model_training.distributed import init_distributed

    out = Path(out)
    info = init_distributed(train.device)
    data = _shared_split(data, out) if info.is_main else data
    from model_training.distributed import broadcast_object

    data = broadcast_object(data, info)
    rows = []
    for head in heads:
        res = run_classify(data, out / head, config=make_config(head), train=train, info=info)
        if info.is_main:
            rows.append({"head": head, "best_epoch": res["best_epoch"], **res.get("test", {})})
    if info.is_main:
        write_table(rows, out / "heads_comparison", columns=HEAD_COLUMNS)
        print(markdown_table(rows, HEAD_COLUMNS))
    return rows


def compare_encoders(
    data: DataConfig,
    out: str | Path,
    *,
    encoders: Sequence[str],
    make_config: Callable[[str], object],
    train: TrainConfig,
) -> list[dict]:
    """Train one U-Net per encoder on the same split; table and a Dice-per-epoch figure.

    Writes ``encoders_comparison.{csv,md,json}`` and ``encoders_dice.png`` (validation
    Dice per epoch of each encoder, like the report's Fig. 5).
    """
    from model_training.distributed import broadcast_object, init_distributed
    from model_training.plots import plot_comparison
    from model_training.segment import run_segment

    out = Path(out)
    info = init_distributed(train.device)
    data = broadcast_object(_shared_split(data, out) if info.is_main else data, info)
    rows, runs = [], {}
    for enc in encoders:
        res = run_segment(data, out / enc, config=make_config(enc), train=train, info=info)
        if info.is_main:
            best = max((r.get("score", 0.0) for r in res["history"]), default=float("nan"))
            rows.append(
                {
                    "encoder": enc,
                    "best_epoch": res["best_epoch"],
                    "best_val_dice": best,
                    **res.get("test", {}),
                }
            )
            runs[enc] = out / enc
    if info.is_main:
        write_table(rows, out / "encoders_comparison", columns=ENCODER_COLUMNS)
        positives = make_config(encoders[0]).sampling == "positives"
        key = "dice_positive" if positives else "kaggle_mean_dice"
        plot_comparison(
            runs, key, out / "encoders_dice.png", title=f"Validation {key} per epoch by encoder"
        )
        print(markdown_table(rows, ENCODER_COLUMNS))
    return rows
