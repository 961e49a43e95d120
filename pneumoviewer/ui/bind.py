"""Two-way bindings between widgets and the evented view model.

widget -> model: the widget's change signal assigns the model field.
model -> widget: the field's event sets the widget with its signals blocked
(``superqt.utils.signals_blocked``), so a change never echoes back.

Each ``bind_*`` sets the widget from the model once, then keeps both in step, and returns
a callable that undoes the binding (widgets usually live as long as the model).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from superqt.utils import signals_blocked


def bind(
    model: Any,
    name: str,
    *,
    widget: Any,
    changed: Any,
    set_widget: Callable[[Any], None],
    to_model: Callable[..., Any] = lambda v: v,
    after: Callable[[Any], None] | None = None,
) -> Callable[[], None]:
    """Bind ``model.<name>`` and a widget.

    Parameters
    ----------
    model : evented dataclass
        Owner of the field.
    name : str
        Field name.
    widget : QObject
        Blocked while the model sets it.
    changed : SignalInstance
        The widget's change signal (``valueChanged``, ``toggled`` ...).
    set_widget : callable
        ``value -> None``: show the model's value in the widget.
    to_model : callable
        Converts the signal's arguments to the field's value.
    after : callable or None
        Called with the model's value after every change either way (labels ...).

    Returns
    -------
    callable
        Disconnects both directions.

    """
    signal = getattr(model.events, name)

    def model_to_widget(value: Any, *_old: Any) -> None:
        with signals_blocked(widget):
            set_widget(value)
        if after is not None:
            after(value)

    def widget_to_model(*args: Any) -> None:
        setattr(model, name, to_model(*args))
        if after is not None:
            after(getattr(model, name))
        # A clamped value (e.g. threshold 0 -> 0.01) goes back to the widget.
        model_to_widget(getattr(model, name))

    model_to_widget(getattr(model, name))
    signal.connect(model_to_widget)
    changed.connect(widget_to_model)

    def unbind() -> None:
        signal.disconnect(model_to_widget)
        changed.disconnect(widget_to_model)

    return unbind


def bind_checkable(model: Any, name: str, action_or_button: Any) -> Callable[[], None]:
    """Bind a bool field and a checkable ``QAction`` or button (``toggled``)."""
    return bind(
        model,
        name,
        widget=action_or_button,
        changed=action_or_button.toggled,
        set_widget=lambda v: action_or_button.setChecked(bool(v)),
        to_model=bool,
    )


def bind_value(
    model: Any,
    name: str,
    widget: Any,
    *,
    to_model: Callable[[Any], Any] = lambda v: v,
    to_widget: Callable[[Any], Any] = lambda v: v,
    after: Callable[[Any], None] | None = None,
) -> Callable[[], None]:
    """Bind a field and a widget with ``value()`` / ``setValue()`` / ``valueChanged``."""
    return bind(
        model,
        name,
        widget=widget,
        changed=widget.valueChanged,
        set_widget=lambda v: widget.setValue(to_widget(v)),
        to_model=to_model,
        after=after,
    )
