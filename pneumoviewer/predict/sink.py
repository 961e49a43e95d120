"""Where the results of ``pneumoviewer predict`` go: :class:`OutputSink` (any engine).

The engine hands the sink each image's :class:`~pneumoviewer.predict.outputs.ImageResult`
in scan order; the sink writes its rows (``predictions.csv``, ``submission.csv``) and its
journal line, accumulates the folder summary, and at the end writes ``problems.csv`` and
``metrics.json``. The local and the Ray engine feed the same sink, so their tables agree
by construction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pneumoviewer.predict import stream
from pneumoviewer.predict.options import PredictOptions, UsageError
from pneumoviewer.predict.outputs import (
    PREDICTION_COLUMNS,
    ImageResult,
    metrics_dict,
    outcome_of,
    write_csv,
    write_json,
)

SUBMISSION_COLUMNS = ("ImageId", "EncodedPixels")

__all__ = ["SUBMISSION_COLUMNS", "OutputSink", "PredictSummary", "report"]


@dataclass
class PredictSummary:
    """What a run did: counts, problems, written files, metrics, warnings.

    Nothing per image is kept (rows are streamed to the output files).
    """

    n_ok: int = 0  # images with a prediction (a resumed run counts the earlier ones too)
    n_error: int = 0  # images that could not be analysed
    runtime: str = ""  # the runtime(s) the networks ran on
    n_refused: int = 0  # refused by the input-quality gate: "not assessed" (#10)
    problems: list[tuple[Path, str]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    metrics: dict | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0  # the whole run, model loading included
    loop_seconds: float = 0.0  # from the first image to the last output written


class OutputSink:
    """Streams one run's tables and summary; the engines only feed it results in order.

    Creating it checks ``--resume`` (refused with :class:`UsageError` before anything is
    written), replays the finished images of a killed run into ``summary`` (their ids are
    in :attr:`done`), and creates the output folders. :meth:`start` opens the files,
    :meth:`add` and :meth:`problem` record, :meth:`close` writes the final tables.

    Parameters
    ----------
    opts : PredictOptions
        The run's options (``out``, ``resume``, ``png``, ``progress``).
    summary : PredictSummary
        Filled as results come.
    settings : dict
        What shapes the outputs (``predict-run.json``).
    has_seg : bool
        The model has a segmenter (``submission.csv`` is written).
    cam : bool
        Heat-maps are written (``cam/`` is created).
    on_image : callable or None
        Called with the number of images written so far (this run) after each one.

    """

    def __init__(
        self,
        opts: PredictOptions,
        summary: PredictSummary,
        settings: dict,
        *,
        has_seg: bool,
        cam: bool,
        on_image=None,
    ) -> None:
        from pneumoviewer.core.metrics import SummaryAccumulator

        self.opts = opts
        self.summary = summary
        self.settings = settings
        self.has_seg = has_seg
        self.on_image = on_image
        self.acc = SummaryAccumulator()
        self.done: set[str] = set()
        self.written = 0
        self._writers: list = []
        self._bar = None
        if opts.resume:
            try:
                stream.check_resume(opts.out, settings)
            except ValueError as exc:
                raise UsageError(str(exc)) from exc
            self.done = _replay(opts.out, summary, self.acc)
        opts.out.mkdir(parents=True, exist_ok=True)
        if opts.png:
            (opts.out / "png").mkdir(exist_ok=True)
        if cam:
            (opts.out / "cam").mkdir(exist_ok=True)

    def start(self, total: int, todo: int, *, stderr: TextIO | None) -> None:
        """Write the unfinished run manifest, open the tables and the progress bar.

        ``total`` counts every image of the folder, ``todo`` those this run analyses (the
        others were done before a resume).
        """
        from tqdm import tqdm

        stream.write_run_manifest(self.opts.out, self.settings, complete=False)
        self._writers = _open_writers(
            self.opts.out, self.has_seg, resume=self.opts.resume, done=self.done
        )
        self._bar = tqdm(
            total=total,
            initial=total - todo,
            unit="img",
            file=stderr,
            disable=stderr is None or not self.opts.progress,
            desc="predict",
        )

    def problem(self, path, message: str) -> None:
        """Record a problem that is not an image's row (e.g. a PNG not written)."""
        self.summary.problems.append((path, message))
        self._writers[-1].problem(str(path), message)

    def add(self, result: ImageResult) -> None:
        """Record one finished image: its rows, its journal line and its summary numbers."""
        summary = self.summary
        outcome = outcome_of(result)
        self.acc.add(outcome)
        self._writers[0].write_row(result.row())
        if self.has_seg and result.status == "ok" and result.quality != "refused":
            self._writers[1].write_row((result.image_id, result.rle))
        summary.n_refused += result.quality == "refused"
        self._writers[-1].image(
            outcome,
            status=result.status,
            problem=(str(result.file), result.error) if result.error else None,
        )
        if result.error:
            summary.problems.append((result.file, result.error))
        if result.status == "ok":
            summary.n_ok += 1
        else:
            summary.n_error += 1
        self.written += 1
        self._bar.update(1)
        if self.on_image is not None:
            self.on_image(self.written)

    def close(self, *, engine, gt, decision: float, params) -> None:
        """Close the tables, write ``problems.csv``, ``metrics.json`` and the run manifest.

        ``engine`` gives the manifest and its warnings (put before the run's own).
        """
        if self._bar is not None:
            self._bar.close()
        for w in filter(None, self._writers):
            w.close()
        self.summary.warnings[:0] = engine.warnings
        _write_tables(self.opts, self.summary, engine, gt, decision, params, self.acc)
        stream.write_run_manifest(self.opts.out, self.settings, complete=True)


def _open_writers(out: Path, has_seg: bool, *, resume: bool, done: set[str]):
    """Open predictions.csv, submission.csv (None without a segmenter) and the journal."""
    pred = out / "predictions.csv"
    sub = out / "submission.csv"
    specs = [(pred, PREDICTION_COLUMNS), (sub, SUBMISSION_COLUMNS) if has_seg else None]
    writers: list = []
    for spec in specs:
        if spec is None:
            writers.append(None)
            continue
        path, header = spec
        append = resume and stream.truncate_csv(path, done) >= 0 and _has_header(path, header)
        writers.append(stream.RowWriter(path, header=header, append=append))
    journal = out / stream.JOURNAL_NAME
    if resume:  # keep the complete records only (a line cut by the kill is dropped)
        records = stream.read_journal(journal)
        from pneumoviewer.core.io import atomic_write_text

        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        atomic_write_text(journal, text, overwrite=True)
    writers.append(stream.Journal(journal, append=resume))
    return writers


def _has_header(path: Path, header) -> bool:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            first = f.readline()
    except OSError:
        return False
    return first.rstrip("\n") == ",".join(header)


def _replay(out: Path, summary: PredictSummary, acc) -> set[str]:
    """Re-add the finished images of a killed run (journal) to the summary; return their ids."""
    from pneumoviewer.core.metrics import ImageOutcome

    done: set[str] = set()
    for rec in stream.read_journal(out / stream.JOURNAL_NAME):
        if rec.get("t") == "problem":
            path, message = rec["problem"]
            summary.problems.append((Path(path), message))
            continue
        done.add(rec["id"])
        acc.add(
            ImageOutcome(
                image_id=rec["id"],
                truth_positive=rec["truth"],
                probability=rec["p"],
                positive=rec["pos"],
                dice=rec["dice"],
                refused=bool(rec.get("refused", False)),
            )
        )
        summary.n_refused += bool(rec.get("refused", False))
        if rec.get("problem"):
            path, message = rec["problem"]
            summary.problems.append((Path(path), message))
        if rec["status"] == "ok":
            summary.n_ok += 1
        else:
            summary.n_error += 1
    return done


def _write_tables(
    opts: PredictOptions, summary: PredictSummary, engine, gt, decision: float, params, acc
) -> None:
    w = True  # existing outputs were refused (or --overwrite/--resume) before the run
    out = opts.out
    summary.written.append(out / "predictions.csv")
    if engine.manifest.segmenter is not None:
        summary.written.append(out / "submission.csv")
    else:
        summary.warnings.append("no segmenter in the model: submission.csv not written")
    probs = [(str(p), m) for p, m in summary.problems]
    summary.written.append(write_csv(out / "problems.csv", ("file", "problem"), probs, overwrite=w))
    if gt is not None:
        has_seg = engine.manifest.segmenter is not None
        metrics = metrics_dict(
            acc.summary(),
            decision_threshold=decision,
            has_classifier=engine.manifest.classifier is not None,
            postprocess=params.to_dict(decision_threshold=decision) if has_seg else None,
        )
        if metrics["n_evaluated"] == 0:
            summary.warnings.append(
                f"the ground truth {gt.path} lists none of the predicted images: "
                "metrics.json not written"
            )
            return
        metrics["ground_truth"] = str(gt.path) if gt.path is not None else None
        metrics["model"] = engine.manifest.name
        metrics["problems"] = len(summary.problems)
        summary.metrics = metrics
        summary.written.append(write_json(out / "metrics.json", metrics, overwrite=w))


def _say(stream_: TextIO | None, text: str) -> None:
    if stream_ is not None:
        print(text, file=stream_, flush=True)


def report(stderr: TextIO | None, opts: PredictOptions, summary: PredictSummary) -> None:
    """Print the warnings, the first problems and the summary of a finished run."""
    for warning in summary.warnings:
        _say(stderr, f"warning: {warning}")
    for path, message in summary.problems[:20]:
        _say(stderr, f"problem: {message if str(path) in message else f'{path}: {message}'}")
    if len(summary.problems) > 20:
        _say(stderr, f"... {len(summary.problems) - 20} more problems in problems.csv")
    n = summary.n_ok
    per = summary.loop_seconds / n if n else float("nan")
    _say(
        stderr,
        f"{n} images predicted, {len(summary.problems)} problems in {summary.seconds:.1f} s "
        f"({per:.3f} s/image after {summary.seconds - summary.loop_seconds:.1f} s of scan and "
        f"model loading); outputs in {opts.out}",
    )
    if summary.n_refused:  # #10
        _say(
            stderr,
            f"{summary.n_refused} images refused by the input-quality gate: 'not assessed' in "
            "predictions.csv (quality_reason says why), left out of submission.csv and metrics",
        )
    m = summary.metrics
    if m is not None:

        def f(v):
            return "n/a" if v is None or v != v else f"{v:.3f}"

        _say(
            stderr,
            f"vs ground truth ({m['n_evaluated']} images): accuracy "
            f"{f(m['accuracy'])}, AUC {f(m['auc'])}, sensitivity {f(m['sensitivity'])}, "
            f"specificity {f(m['specificity'])}, Dice on positives {f(m['dice_positive'])}, "
            f"Kaggle mean Dice {f(m['kaggle_mean_dice'])}",
        )
