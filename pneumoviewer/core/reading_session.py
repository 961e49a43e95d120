"""A reading in progress: the current image's verdict, note and editable mask, saved as it goes.

Qt-free; the viewer binds its keys, buttons and canvas tools to these calls and redraws
from :attr:`ReadingSession.mask`. Every finished edit (a stroke at mouse release, a
polygon, a clear, an undo, a redo) and every verdict or note is committed to the reading
file before the call returns.

The reader's mask starts as the AI's post-processed mask (or empty) and is saved only
once the reader edits it: an image the reader never touched has no reader mask in the
file, so its label follows the verdict (see :mod:`pneumoviewer.core.reading_export`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from pneumoviewer.core.mask_edit import (
    Box,
    MaskHistory,
    brush_stroke,
    fill_polygon,
    replace_mask,
)
from pneumoviewer.core.readings import AIContext, Reading, ReadingFile, Verdict

__all__ = ["ReadingSession"]


class ReadingSession:
    """The reader's work on one image at a time, over an open :class:`ReadingFile`.

    Parameters
    ----------
    reading_file : ReadingFile
        Where everything is saved (opened writable for the study).
    """

    def __init__(self, reading_file: ReadingFile) -> None:
        self.file = reading_file
        self.image_id: str | None = None
        self.mask: np.ndarray | None = None
        self.ai: AIContext | None = None
        self.source: str | os.PathLike[str] | None = None
        self.history = MaskHistory()
        self._stroke_open = False

    # -- image -----------------------------------------------------------------------------
    def open_image(
        self,
        image_id: str,
        *,
        shape: tuple[int, int],
        ai: AIContext | None = None,
        source: str | os.PathLike[str] | None = None,
    ) -> Reading | None:
        """Make ``image_id`` current; return its saved reading (None when never touched).

        The editable :attr:`mask` is the saved reader mask, else the AI's mask, else empty.
        Undo history starts afresh.
        """
        self.finish_stroke()
        saved = self.file.get(image_id)
        self.image_id, self.ai, self.source = str(image_id), ai, source
        start = None if saved is None else saved.mask()
        if start is None and ai is not None:
            start = ai.mask()
        if start is None or start.shape != tuple(shape):
            start = np.zeros(tuple(shape), bool)
        self.mask = np.ascontiguousarray(start, dtype=bool)
        self.history.clear()
        return saved

    @property
    def reading(self) -> Reading | None:
        """The current image's reading as saved (None when never touched)."""
        return None if self.image_id is None else self.file.get(self.image_id)

    def _current(self) -> tuple[str, np.ndarray]:
        if self.image_id is None or self.mask is None:
            raise RuntimeError("no image open (call open_image first)")
        return self.image_id, self.mask

    # -- verdict and note -------------------------------------------------------------------
    def set_verdict(self, verdict: Verdict | str | None) -> None:
        """Save the verdict with the AI context in force."""
        image_id, _ = self._current()
        self.file.set_verdict(image_id, verdict, ai=self.ai, source=self.source)

    def set_note(self, note: str) -> None:
        """Save the note."""
        image_id, _ = self._current()
        self.file.set_note(image_id, note, source=self.source)

    # -- mask edits -------------------------------------------------------------------------
    def _save_mask(self) -> None:
        image_id, mask = self._current()
        self.file.set_mask(image_id, mask, ai=self.ai, source=self.source)

    def begin_stroke(self) -> None:
        """Start a brush or eraser stroke (mouse press)."""
        _, mask = self._current()
        self.finish_stroke()
        self.history.begin(mask)
        self._stroke_open = True

    def stroke_to(
        self, points: Sequence[tuple[float, float]], radius: float, *, erase: bool = False
    ) -> Box:
        """Draw one step of the open stroke (mouse move); not saved until it finishes."""
        _, mask = self._current()
        if not self._stroke_open:
            self.begin_stroke()
        return brush_stroke(mask, points, radius, erase=erase)

    def finish_stroke(self) -> bool:
        """Finish the open stroke (mouse release): record it for undo and save the mask."""
        if not self._stroke_open or self.mask is None:
            return False
        self._stroke_open = False
        changed = self.history.commit(self.mask)
        if changed:
            self._save_mask()
        return changed

    def _edit(self, apply: Callable[[np.ndarray], object]) -> bool:
        _, mask = self._current()
        self.finish_stroke()
        self.history.begin(mask)
        apply(mask)
        changed = self.history.commit(mask)
        if changed:
            self._save_mask()
        return changed

    def polygon(self, points: Sequence[tuple[float, float]], *, erase: bool = False) -> bool:
        """Fill (or erase) a polygon; saved; return whether the mask changed."""
        return self._edit(lambda m: fill_polygon(m, points, erase=erase))

    def clear(self) -> bool:
        """Empty the mask ("no pneumothorax"); saved even when it was empty already."""
        image_id, mask = self._current()
        changed = self._edit(lambda m: replace_mask(m, None))
        if not changed:
            self.file.set_mask(image_id, mask, ai=self.ai, source=self.source)
        return changed

    def reset_to_ai(self) -> bool:
        """Go back to the AI's mask (an undoable edit); saved."""
        _, mask = self._current()
        ai_mask = None if self.ai is None else self.ai.mask()
        if ai_mask is not None and ai_mask.shape != mask.shape:
            ai_mask = None
        return self._edit(lambda m: replace_mask(m, ai_mask))

    def undo(self) -> Box | None:
        """Undo the last edit and save; return the changed box (None: nothing to undo)."""
        _, mask = self._current()
        self.finish_stroke()
        box = self.history.undo(mask)
        if box is not None:
            self._save_mask()
        return box

    def redo(self) -> Box | None:
        """Redo the last undone edit and save; return the changed box (None: nothing)."""
        _, mask = self._current()
        self.finish_stroke()
        box = self.history.redo(mask)
        if box is not None:
            self._save_mask()
        return box

    # -- agreement ----------------------------------------------------------------------------
    def dice_vs_ai(self) -> float | None:
        """Dice of the reader's mask against the AI's (None without an AI mask)."""
        from pneumoviewer.core.metrics import dice

        _, mask = self._current()
        ai_mask = None if self.ai is None else self.ai.mask()
        if ai_mask is None or ai_mask.shape != mask.shape:
            return None
        return float(dice(mask, ai_mask))

    def dice_vs_truth(self, truth: np.ndarray | None) -> float | None:
        """Dice of the reader's mask against a ground-truth mask (None without one)."""
        from pneumoviewer.core.metrics import dice

        _, mask = self._current()
        if truth is None or truth.shape != mask.shape:
            return None
        return float(dice(mask, truth))
