"""The viewer's state, Qt-free and evented: the single source the widgets bind to.

Each section is a ``psygnal.evented`` dataclass: assigning a field emits
``section.events.<field>(new, old)`` (only when the value changed), so a widget binds to it
both ways -- widget -> model by assignment, model -> widget in a handler that sets the
widget with its signals blocked (:mod:`pneumoviewer.ui.bind`). Nothing here imports Qt;
``tests/ui/test_view_model.py`` drives it with no widget at all.

Sections
--------
image     the image on screen (id, the decoded image, its ground truth)
display   contrast, window/level (stored units), invert, lock, zoom/pan, canvas annotations
overlay   layer visibility, fill/outline, opacity, colours
decision  post-processing parameters (the triplet), the mask threshold clamp
analysis  model state, AI by itself, batch progress, the current image's read-out

Who writes what: controllers (``pneumoviewer.ui.controllers``) set ``image`` and
``analysis``; widgets set ``display``, ``overlay`` and ``decision`` through their
bindings; the canvas (``ImageCanvas.bind(view_model)``, helper H2's hook) reads and writes
``display``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from psygnal import evented

Color = tuple[int, int, int]

#: Lowest mask (bottom) threshold: 0 would put every pixel of the image in the mask.
MIN_THRESHOLD = 0.01
DEFAULT_TRUTH_COLOR: Color = (168, 60, 220)
DEFAULT_PRED_COLOR: Color = (255, 215, 0)


def clamp_threshold(value: float) -> float:
    """Clamp a probability threshold to ``[MIN_THRESHOLD, 1]``, rounded to 4 decimals."""
    if not math.isfinite(value):
        return MIN_THRESHOLD
    return round(min(1.0, max(MIN_THRESHOLD, float(value))), 4)


@evented
@dataclass
class ImageState:
    """The image on screen.

    Attributes
    ----------
    image_id : str or None
        Selected image (set at selection, before its pixels arrive).
    loaded : object or None
        ``LoadedImage`` once decoded (None while loading or after a failure).
    error : str
        Why the image cannot be shown ("" when fine).

    """

    image_id: str | None = None
    loaded: Any = None
    error: str = ""


@evented
@dataclass
class DisplayState:
    """How the image is displayed.

    Window/level is in the image's *stored units* (Modality LUT applied); ``None`` means
    the image's default (its own window, else the full range). ``lock`` keeps window/level
    and zoom across images; without it they reset on every new image.

    Attributes
    ----------
    clahe : bool
        CLAHE contrast instead of the raw display image.
    window_center, window_width : float or None
        Window/level in stored units (None: the image's default).
    invert : bool
        Display inverted (I).
    lock : bool
        Keep window/level and zoom when the image changes.
    zoom : float or None
        Screen pixels per image pixel (None: fit to the canvas).
    pan : tuple of float or None
        Image coordinates (x, y) at the canvas centre (None: centred).
    show_orientation, show_patient, show_zoom, show_pixel_value : bool
        Canvas annotations (orientation labels, age/sex/view/date, zoom %, value under the
        cursor).
    ruler : bool
        Distance ruler tool active.

    """

    clahe: bool = False
    window_center: float | None = None
    window_width: float | None = None
    invert: bool = False
    lock: bool = False
    zoom: float | None = None
    pan: tuple[float, float] | None = None
    show_orientation: bool = True
    show_patient: bool = True
    show_zoom: bool = True
    show_pixel_value: bool = True
    ruler: bool = False

    def reset_for_new_image(self) -> None:
        """Back to the image's default window and to fit, unless ``lock`` is on."""
        if self.lock:
            return
        self.window_center = None
        self.window_width = None
        self.zoom = None
        self.pan = None


@evented
@dataclass
class OverlayState:
    """Which layers are drawn and how.

    Attributes
    ----------
    show_truth, show_prediction : bool
        Layer visibility (G, P).
    difference : bool
        TP / FP / FN view instead of the two layers (D).
    outline : bool
        Outline instead of fill.
    opacity : float
        Layer opacity, 0..1.
    truth_color, pred_color : tuple of int
        RGB of the ground-truth and prediction layers.

    """

    show_truth: bool = True
    show_prediction: bool = True
    difference: bool = False
    outline: bool = False
    opacity: float = 0.45
    truth_color: Color = DEFAULT_TRUTH_COLOR
    pred_color: Color = DEFAULT_PRED_COLOR

    def style(self):
        """Return the core ``OverlayStyle`` of these settings."""
        from pneumoviewer.core.overlay import LayerStyle, OverlayStyle

        return OverlayStyle(
            ground_truth=LayerStyle(
                tuple(self.truth_color), self.opacity, self.outline, self.show_truth
            ),
            prediction=LayerStyle(
                tuple(self.pred_color), self.opacity, self.outline, self.show_prediction
            ),
            difference=self.difference,
        )


@evented
@dataclass
class DecisionParams:
    """Post-processing parameters (the SIIM triplet by default) and the gate.

    Attributes
    ----------
    scheme : str
        "triplet" or "components".
    bottom_threshold : float
        Pixel threshold of the final mask (the slider), ``>= MIN_THRESHOLD``.
    top_threshold : float
        Triplet: a mask needs ``min_area`` pixels at or above this.
    min_area : int
        Pixels (triplet) or smallest component (components).
    gate_enabled : bool
        Empty the mask when the classifier says negative.
    gate_threshold : float or None
        Gate threshold (None: the decision threshold).

    """

    scheme: str = "triplet"
    bottom_threshold: float = 0.5
    top_threshold: float = 0.75
    min_area: int = 0
    gate_enabled: bool = True
    gate_threshold: float | None = None

    def set_bottom(self, value: float) -> float:
        """Set the bottom threshold, clamped; return the value set."""
        self.bottom_threshold = clamp_threshold(value)
        return self.bottom_threshold

    def nudge(self, delta: float) -> float:
        """Move the bottom threshold by ``delta`` (the +/- keys); return the new value."""
        return self.set_bottom(self.bottom_threshold + delta)

    def values(self) -> dict[str, Any]:
        """Return the fields as a dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def update(self, **values: Any) -> None:
        """Set several fields (unknown names ignored; thresholds clamped)."""
        for name, value in values.items():
            if name in ("bottom_threshold", "top_threshold") and value is not None:
                value = clamp_threshold(value)
            if name in {f.name for f in fields(self)}:
                setattr(self, name, value)

    def params(self):
        """Return the core ``PostprocessParams`` for these values."""
        return make_postprocess_params(self.values())


def make_postprocess_params(values: dict[str, Any]):
    """Build ``core.postprocessing.PostprocessParams`` from :class:`DecisionParams` values.

    Accepts both the triplet form of the class (``bottom_threshold`` ...) and the older
    one (``mask_threshold``); fields the class does not have are left out.
    """
    from dataclasses import fields as dc_fields

    from pneumoviewer.core.postprocessing import PostprocessParams

    names = {f.name for f in dc_fields(PostprocessParams)}
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        if name in names:
            kwargs[name] = value
    if "mask_threshold" in names:
        kwargs["mask_threshold"] = values["bottom_threshold"]
    if "gate_threshold" in kwargs and kwargs["gate_threshold"] is None:
        if "mask_threshold" in names:  # the old class wants a number
            kwargs["gate_threshold"] = 0.5
    return PostprocessParams(**kwargs)


def params_to_values(params: Any) -> dict[str, Any]:
    """:class:`DecisionParams` values of a core ``PostprocessParams`` (either form)."""
    get = lambda name, default=None: getattr(params, name, default)  # noqa: E731
    bottom = get("bottom_threshold", get("mask_threshold", 0.5))
    return {
        "scheme": get("scheme", "components" if hasattr(params, "mask_threshold") else "triplet"),
        "bottom_threshold": clamp_threshold(bottom),
        "top_threshold": clamp_threshold(get("top_threshold", bottom) or bottom),
        "min_area": int(get("min_area", 0)),
        "gate_enabled": bool(get("gate_enabled", True)),
        "gate_threshold": get("gate_threshold", None),
    }


@dataclass(frozen=True, slots=True)
class Readout:
    """What the AI panel, the canvas and the list say about the image on screen.

    Attributes
    ----------
    state : str
        The decision state's text ("not analysed", "negative", "positive", "positive,
        not localised", ...).
    probability : float or None
        Classifier probability.
    decision_threshold : float or None
        Threshold the probability is compared with.
    area : int or None
        Post-processed mask area in pixels.
    dice : float or None
        Dice against the ground truth.
    run : str
        Device and time of the run.

    """

    state: str = "not analysed"
    probability: float | None = None
    decision_threshold: float | None = None
    area: int | None = None
    dice: float | None = None
    run: str = ""


@evented
@dataclass
class AnalysisState:
    """The model and the analysis of the image on screen.

    Attributes
    ----------
    auto : bool
        AI by itself: analyse the image on screen without a key press (on by default).
    model : str
        "none", "loading", "ready" or "failed".
    model_name, device : str
        Loaded model and where it runs.
    pending : str or None
        Image whose analysis was asked for while the model loads (queued, not dropped).
    batch_done, batch_total : int
        Progress of Analyse all (0/0 when none runs).
    readout : Readout
        The image on screen.

    """

    auto: bool = True
    model: str = "none"
    model_name: str = ""
    device: str = ""
    pending: str | None = None
    batch_done: int = 0
    batch_total: int = 0
    readout: Readout = field(default_factory=Readout)

    @property
    def model_ready(self) -> bool:
        """Whether a model is loaded."""
        return self.model == "ready"

    @property
    def can_queue(self) -> bool:
        """Whether an analysis request can be served now or after the model loads."""
        return self.model in ("ready", "loading")

    @property
    def batch_running(self) -> bool:
        """Whether Analyse all is running."""
        return self.batch_total > 0 and self.batch_done < self.batch_total


class ViewModel:
    """The five evented sections (see the module docstring)."""

    def __init__(self) -> None:
        self.image = ImageState()
        self.display = DisplayState()
        self.overlay = OverlayState()
        self.decision = DecisionParams()
        self.analysis = AnalysisState()

    def sections(self) -> dict[str, Any]:
        """Return the sections by name."""
        return {
            "image": self.image,
            "display": self.display,
            "overlay": self.overlay,
            "decision": self.decision,
            "analysis": self.analysis,
        }

    def show(self, image_id: str | None) -> None:
        """Select ``image_id``: remember it and reset the view (unless locked)."""
        if image_id != self.image.image_id:
            self.display.reset_for_new_image()
        self.image.error = ""
        self.image.loaded = None
        self.image.image_id = image_id

    def snapshot(self) -> ViewModel:
        """Return an independent copy of the drawing state (for a background export).

        ``display``, ``overlay`` and ``decision`` are copied field by field; ``image`` and
        ``analysis`` start empty. Nothing is connected to the copy.
        """
        copy = ViewModel()
        for name in ("display", "overlay", "decision"):
            src, dst = getattr(self, name), getattr(copy, name)
            with dst.events.blocked():
                for f in fields(src):
                    setattr(dst, f.name, getattr(src, f.name))
        return copy

    def auto_analyse_wanted(self, *, analysed: bool) -> bool:
        """Whether the image on screen should be analysed by itself now."""
        # Automatic requests wait for the model to be ready (results restored from disk
        # at load time must be able to answer first); an explicit request (A) is queued
        # behind a load instead (``can_queue``).
        return (
            self.analysis.auto
            and self.image.image_id is not None
            and self.analysis.model_ready
            and not analysed
        )
