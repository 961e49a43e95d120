"""A reading file over the bundled samples, covering every label rule (shared by tests)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pneumoviewer.core.ground_truth import read_rle_csv
from pneumoviewer.core.readings import AIContext, ReadingFile, Verdict

MODEL = {
    "model_name": "tiny-test",
    "model_version": "0.0.1",
    "weights_sha256": {"segmenter.safetensors": "ef" * 32},
    "postprocess": {"scheme": "components", "bottom_threshold": 0.3, "min_area": 0},
    "decision_threshold": 0.5,
}


def make_sample_reading(path: Path, samples_dir: Path, sample_csv: Path) -> dict:
    """Write a reading of the 10 samples; return image id -> expected label mask (or None).

    Positives (AI = ground truth, p 0.9): reader enlarges the mask and disagrees; agrees;
    agrees and erases a bite; unsure (left out); disagrees without a mask (-> empty).
    Negatives (AI empty, p 0.1): agree x3 (-> empty); disagree and draws a blob; a note only
    (left out).
    """
    truth = read_rle_csv(sample_csv)
    positives = [i for i in truth.ids() if truth.is_positive(i)]
    negatives = [i for i in truth.ids() if not truth.is_positive(i)]
    expected: dict[str, np.ndarray | None] = {}
    with ReadingFile(path, study=str(samples_dir), reader="dr test") as rf:
        for k, image_id in enumerate(positives):
            gt = truth.mask(image_id)
            ai = AIContext.build(probability=0.9, decision_state="positive", mask=gt, **MODEL)
            src = samples_dir / f"{image_id}.dcm"
            if k == 0:
                bigger = cv2.dilate(gt.astype(np.uint8), np.ones((31, 31), np.uint8)) > 0
                rf.set_verdict(image_id, Verdict.DISAGREE, ai=ai, source=src)
                rf.set_mask(image_id, bigger)
                expected[image_id] = bigger
            elif k == 1:
                rf.set_verdict(image_id, Verdict.AGREE, ai=ai, source=src)
                expected[image_id] = gt
            elif k == 2:
                edited = gt.copy()
                rows, cols = np.nonzero(gt)
                edited[rows.min() : (rows.min() + rows.max()) // 2, :] = False
                rf.set_verdict(image_id, Verdict.AGREE, ai=ai, source=src)
                rf.set_mask(image_id, edited)
                rf.set_note(image_id, "upper half is a skin fold")
                expected[image_id] = edited
            elif k == 3:
                rf.set_verdict(image_id, Verdict.UNSURE, ai=ai, source=src)
                expected[image_id] = None
            else:
                rf.set_verdict(image_id, Verdict.DISAGREE, ai=ai, source=src)
                expected[image_id] = np.zeros_like(gt)
        for k, image_id in enumerate(negatives):
            empty = np.zeros((1024, 1024), bool)
            ai = AIContext.build(probability=0.1, decision_state="negative", mask=empty, **MODEL)
            src = samples_dir / f"{image_id}.dcm"
            if k < 3:
                rf.set_verdict(image_id, Verdict.AGREE, ai=ai, source=src)
                expected[image_id] = empty
            elif k == 3:
                blob = empty.copy()
                cv2.circle(blob.view(np.uint8), (800, 200), 60, 1, -1)
                rf.set_verdict(image_id, Verdict.DISAGREE, ai=ai, source=src)
                rf.set_mask(image_id, blob)
                expected[image_id] = blob
            else:
                rf.set_note(image_id, "old film, compare", source=src)
                expected[image_id] = None
    return expected
