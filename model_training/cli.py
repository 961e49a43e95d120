"""``pneumoviewer-train``: split, classify, segment, compare, evaluate, export, demo.

Also the entry of ``python -m model_training`` (and so of ``torchrun ... -m model_training``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from model_training.augment import AugmentConfig
from model_training.losses import DiceFocalConfig
from model_training.runs import DataConfig
from model_training.splits import SplitConfig
from model_training.trainer import TrainConfig


def _data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        type=Path,
        required=True,
        help="SIIM folder (DICOM tree + *rle*.csv) or png_images/ + png_masks/ folder",
    )
    g.add_argument("--csv", type=Path, help="run-length CSV (default: search in/above --data)")
    g.add_argument("--split-csv", type=Path, help="reuse this split file")
    g.add_argument("--val", type=float, default=0.15, help="validation fraction")
    g.add_argument("--test", type=float, default=0.15, help="test fraction")
    g.add_argument("--subset", type=int, help="balanced subset of N images")
    g.add_argument("--seed", type=int, default=0)


def _train_args(p: argparse.ArgumentParser, *, epochs: int, batch: int, size: int) -> None:
    _data_args(p)
    g = p.add_argument_group("training")
    g.add_argument("--out", type=Path, required=True, help="run folder")
    g.add_argument("--epochs", type=int, default=epochs)
    g.add_argument("--batch-size", type=int, default=batch)
    g.add_argument("--lr", type=float, default=1e-3)
    g.add_argument("--weight-decay", type=float, default=1e-4)
    g.add_argument("--accumulate", type=int, default=1, help="gradient accumulation steps")
    g.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    g.add_argument("--no-amp", action="store_true", help="no autocast on CUDA")
    g.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    g.add_argument("--max-minutes", type=float, help="stop after the epoch exceeding this")
    g.add_argument("--threads", type=int, help="torch CPU threads")
    g.add_argument("--val-every", type=int, default=1, help="validate every N epochs")
    g.add_argument("--save-every", type=int, default=1, help="resumable checkpoint every N")
    g.add_argument("--no-progress", action="store_true")
    g.add_argument("--input-size", type=int, default=size)
    g.add_argument("--no-clahe", action="store_true")
    g.add_argument("--clahe-clip", type=float, default=2.0)
    g.add_argument("--clahe-grid", type=int, default=8)
    g.add_argument("--no-augment", action="store_true")
    g.add_argument("--hflip", type=float, default=0.5, help="flip probability")
    g.add_argument("--affine", type=float, default=0.5, help="affine probability")
    g.add_argument("--intensity", type=float, default=0.5, help="brightness/contrast probability")


def _classify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--svm-c", type=float, default=1.0, help="C of the squared hinge")
    p.add_argument(
        "--pretrained",
        action="store_true",
        help="ImageNet initialisation (downloads; needs internet)",
    )


def _segment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--architecture",
        default="unet",
        help="segmentation_models_pytorch architecture (unet, unetplusplus, fpn, ...)",
    )
    p.add_argument(
        "--encoder", default="resnet34", help="smp encoder (resnet18, resnet34, resnet50, ...)"
    )
    p.add_argument(
        "--sampling",
        choices=("positives", "schedule"),
        default="positives",
        help="positive images only (report) or decaying positive fraction",
    )
    p.add_argument("--schedule", type=float, nargs=2, default=(0.8, 0.4), metavar=("START", "END"))
    p.add_argument("--dice-weight", type=float, default=1.0)
    p.add_argument("--focal-weight", type=float, default=1.0)
    p.add_argument("--gamma", type=float, default=2.0)
    p.add_argument("--decoder-channels", type=int, nargs="+", default=[256, 128, 64, 32, 16])
    p.add_argument(
        "--classifier-run",
        type=Path,
        help="include the classification gate in the "
        "post-processing search, with this classifier run's probabilities",
    )
    p.add_argument(
        "--postprocess-scheme",
        choices=("triplet", "components"),
        default="triplet",
        help="post-processing searched on the validation split and written into the model: "
        "the SIIM triplet (top threshold, min area, bottom threshold; default) or "
        "threshold + removal of components below min area",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``pneumoviewer-train``."""
    ap = argparse.ArgumentParser(prog="pneumoviewer-train", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("split", help="write a deterministic stratified split CSV")
    _data_args(p)
    p.add_argument("--out", type=Path, required=True, help="split CSV to write")
    p = sub.add_parser("classify", help="train DenseNet-121 (svm or softmax head)")
    _train_args(p, epochs=20, batch=16, size=224)
    p.add_argument("--head", choices=("svm", "softmax"), default="svm")
    p.add_argument(
        "--architecture", default="densenet121", help="torchvision model (densenet121, ...)"
    )
    _classify_args(p)
    p = sub.add_parser("compare-heads", help="train both heads on one split; table")
    _train_args(p, epochs=20, batch=16, size=224)
    _classify_args(p)
    p = sub.add_parser("segment", help="train a U-Net segmenter")
    _train_args(p, epochs=30, batch=8, size=256)
    _segment_args(p)
    p = sub.add_parser("compare-encoders", help="train U-Nets with several encoders; figure")
    _train_args(p, epochs=30, batch=8, size=256)
    _segment_args(p)
    p.add_argument("--encoders", nargs="+", default=["resnet18", "resnet34"])
    p = sub.add_parser("evaluate", help="metrics of a model directory on the test split")
    _data_args(p)
    p.add_argument("--model", type=Path, required=True, help="exported model directory")
    p.add_argument("--split", default="test", choices=("train", "val", "test", "all"))
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--tta", action="store_true", help="horizontal-flip TTA")
    p.add_argument("--out", type=Path, help="write OUT.csv/.md/.json")
    p = sub.add_parser("export", help="write a model directory from finished runs")
    p.add_argument("--classifier", type=Path, help="classifier run folder")
    p.add_argument("--segmenter", type=Path, help="segmenter run folder")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--fp16", action="store_true", help="store weights as float16")
    p.add_argument("--name", default="pneumoviewer model")
    p.add_argument("--description", default="")
    p.add_argument("--demo", action="store_true", help="flag the model as a demo")
    p.add_argument(
        "--ood-data",
        type=Path,
        help="the classifier run's data folder: fit the out-of-distribution statistics on its "
        "train split and the threshold on its val split (the run's split.csv)",
    )
    p.add_argument("--ood-csv", type=Path, help="run-length CSV of --ood-data (default: found)")
    p.add_argument("--ood-percentile", type=float, default=99.0, help="threshold percentile")
    p.add_argument(
        "--intended-use",
        help='JSON, e.g. \'{"age_min": 18, "views": ["PA", "AP"], "modalities": ["CR", "DX"]}\'',
    )
    p = sub.add_parser(
        "ood",
        help="fit a model directory's out-of-distribution statistics (train split; threshold "
        "on the val split) -- e.g. for a model exported before they existed (#10)",
    )
    _data_args(p)
    p.add_argument("--model", type=Path, required=True, help="exported model directory")
    p.add_argument("--percentile", type=float, default=99.0, help="threshold percentile")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    p = sub.add_parser("demo", help="train and export the bundled demo model (CPU)")
    p.add_argument("--samples", type=Path, default=Path("resources/samples"))
    p.add_argument("--out", type=Path, default=Path("resources/models/demo"))
    p.add_argument("--work", type=Path, default=Path("runs/demo"), help="run folders")
    p.add_argument("--minutes", type=float, default=13.0, help="training time budget")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cls-epochs", type=int, default=60)
    p.add_argument("--seg-epochs", type=int, default=150)
    p.add_argument("--cls-size", type=int, default=224, help="classifier input size")
    p.add_argument("--seg-size", type=int, default=256, help="segmenter input size")
    return ap


def data_config(a: argparse.Namespace) -> DataConfig:
    """DataConfig from parsed arguments."""
    return DataConfig(
        root=a.data,
        csv=a.csv,
        split_csv=a.split_csv,
        subset=a.subset,
        split=SplitConfig(val_fraction=a.val, test_fraction=a.test, seed=a.seed),
    )


def train_config(a: argparse.Namespace) -> TrainConfig:
    """TrainConfig from parsed arguments."""
    return TrainConfig(
        epochs=a.epochs,
        batch_size=a.batch_size,
        lr=a.lr,
        weight_decay=a.weight_decay,
        accumulate=a.accumulate,
        workers=a.workers,
        device=a.device,
        amp=not a.no_amp,
        seed=a.seed,
        progress=not a.no_progress,
        resume=a.resume,
        max_minutes=a.max_minutes,
        val_every=a.val_every,
        save_last_every=a.save_every,
    )


def _common(a: argparse.Namespace) -> dict:
    from pneumoviewer.core.preprocessing import ClaheParams

    aug = (
        AugmentConfig.none()
        if a.no_augment
        else AugmentConfig(hflip=a.hflip, affine=a.affine, intensity=a.intensity)
    )
    clahe = None if a.no_clahe else ClaheParams(a.clahe_clip, (a.clahe_grid, a.clahe_grid))
    return {"input_size": a.input_size, "clahe": clahe, "augment": aug}


def classify_config(a: argparse.Namespace, head: str):
    """ClassifyConfig from parsed arguments."""
    from model_training.classify import ClassifyConfig

    return ClassifyConfig(
        architecture=getattr(a, "architecture", "densenet121"),
        head=head,
        svm_c=a.svm_c,
        pretrained=a.pretrained,
        **_common(a),
    )


def segment_config(a: argparse.Namespace, encoder: str):
    """SegmentConfig from parsed arguments."""
    from model_training.segment import SegmentConfig

    return SegmentConfig(
        architecture=a.architecture,
        encoder=encoder,
        sampling=a.sampling,
        schedule=tuple(a.schedule),
        decoder_channels=tuple(a.decoder_channels),
        postprocess_scheme=a.postprocess_scheme,
        loss=DiceFocalConfig(dice_weight=a.dice_weight, focal_weight=a.focal_weight, gamma=a.gamma),
        **_common(a),
    )


def run(a: argparse.Namespace) -> int:
    """Execute a parsed command; return the exit status."""
    import torch

    if getattr(a, "threads", None):
        torch.set_num_threads(a.threads)
    cmd = a.command
    if cmd == "split":
        from model_training.runs import prepare_data

        prepared = prepare_data(data_config(a))
        from model_training.splits import write_split_csv

        write_split_csv(a.out, prepared.corpus.records, prepared.assignment)
        counts = {s: len(prepared.records(s)) for s in ("train", "val", "test")}
        print(f"wrote {a.out}: {counts}")
    elif cmd == "classify":
        from model_training.classify import run_classify

        res = run_classify(
            data_config(a), a.out, config=classify_config(a, a.head), train=train_config(a)
        )
        _print_result(res)
    elif cmd == "segment":
        from model_training.segment import run_segment

        cp = _class_probs(a)
        res = run_segment(
            data_config(a),
            a.out,
            config=segment_config(a, a.encoder),
            train=train_config(a),
            class_probabilities=cp,
        )
        _print_result(res)
    elif cmd == "compare-heads":
        from model_training.compare import compare_heads

        compare_heads(
            data_config(a),
            a.out,
            make_config=lambda h: classify_config(a, h),
            train=train_config(a),
        )
    elif cmd == "compare-encoders":
        from model_training.compare import compare_encoders

        compare_encoders(
            data_config(a),
            a.out,
            encoders=a.encoders,
            make_config=lambda e: segment_config(a, e),
            train=train_config(a),
        )
    elif cmd == "evaluate":
        from model_training.evaluate import evaluate_model_dir, markdown_table, write_table

        res = evaluate_model_dir(a.model, data_config(a), split=a.split, device=a.device, tta=a.tta)
        cols = [
            c
            for c in (
                "split",
                "images",
                "positives",
                "dice_positive",
                "kaggle_mean_dice",
                "accuracy",
                "auc",
                "sensitivity",
                "specificity",
            )
            if c in res
        ]
        print(markdown_table([res], cols))
        print(json.dumps(res, indent=2, default=str))
        if a.out:
            write_table([res], a.out, columns=cols)
    elif cmd == "export":
        from model_training.export import ExportConfig, export_model
        from model_training.runs import SPLIT_CSV, DataConfig
        from pneumoviewer.core.quality import parse_intended_use

        ood_data = None
        if a.ood_data is not None:  # #10
            if a.classifier is None:
                raise ValueError("export: --ood-data needs --classifier (its split.csv)")
            split = a.classifier / SPLIT_CSV
            ood_data = DataConfig(root=a.ood_data, csv=a.ood_csv, split_csv=split)
        use = None
        if a.intended_use:
            use = parse_intended_use(json.loads(a.intended_use), "--intended-use")
        m = export_model(
            a.out,
            classifier_run=a.classifier,
            segmenter_run=a.segmenter,
            config=ExportConfig(
                name=a.name,
                description=a.description,
                demo=a.demo,
                fp16=a.fp16,
                intended_use=use,
                ood_percentile=a.ood_percentile,
            ),
            ood_data=ood_data,
        )
        print(f"wrote {a.out} ({', '.join(m.weight_files())})")
    elif cmd == "ood":  # #10
        from model_training.ood import fit_ood_from_data

        spec = fit_ood_from_data(a.model, data_config(a), percentile=a.percentile, device=a.device)
        print(
            f"wrote {a.model / spec.file}: threshold {spec.threshold:.2f} "
            f"({spec.percentile:g}th percentile, {spec.threshold_from}; "
            f"{spec.train_images} training images)"
        )
    elif cmd == "demo":
        from model_training.demo import DemoConfig, train_demo_model

        train_demo_model(
            DemoConfig(
                samples=a.samples,
                out=a.out,
                work=a.work,
                minutes=a.minutes,
                cls_epochs=a.cls_epochs,
                seg_epochs=a.seg_epochs,
                cls_size=a.cls_size,
                seg_size=a.seg_size,
            )
        )
    return 0


def _class_probs(a: argparse.Namespace) -> dict | None:
    if a.classifier_run is None:
        return None
    from model_training.classify import classifier_probabilities

    return classifier_probabilities(a.classifier_run, data_config(a), device=a.device)


def _print_result(res: dict) -> None:
    if "test" in res:
        print(
            json.dumps(
                {k: res[k] for k in ("best_epoch", "test", "spec") if k in res},
                indent=2,
                default=str,
            )
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; user errors print one line and exit with status 2."""
    from pneumoviewer.core.errors import PneumoviewerError

    args = build_parser().parse_args(argv)
    info = None
    try:
        if args.command in ("classify", "segment", "compare-heads", "compare-encoders"):
            from model_training.distributed import init_distributed

            info = init_distributed(args.device)
        return run(args)
    except (PneumoviewerError, RuntimeError, ValueError) as exc:
        if isinstance(exc, RuntimeError) and not str(exc).startswith("--"):
            raise
        print(f"pneumoviewer-train: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if info is not None:
            from model_training.distributed import cleanup

            cleanup(info)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
