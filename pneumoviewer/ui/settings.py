"""QSettings access in one place (organisation "pneumoviewer"); tests redirect the path."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

ORGANISATION = "pneumoviewer"
APPLICATION = "pneumoviewer"
MAX_RECENT = 8


def make_settings() -> QSettings:
    """Return the application's settings in INI format (user scope).

    Returns
    -------
    QSettings
        ``QSettings(IniFormat, UserScope, "pneumoviewer", "pneumoviewer")``; its file lives
        under the path set by ``QSettings.setPath`` (tests point it at a temporary folder).

    """
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION
    )


def read_value(settings: QSettings, key: str, default, kind: type):
    """Read ``key`` converted to ``kind``; fall back to ``default`` when absent or broken.

    Parameters
    ----------
    settings : QSettings
        The store.
    key : str
        Key name.
    default : object
        Returned when the key is missing or cannot be converted.
    kind : type
        ``bool``, ``int``, ``float`` or ``str``.

    Returns
    -------
    object
        The converted value.

    """
    value = settings.value(key, None)
    if value is None:
        return default
    try:
        if kind is bool:
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        return kind(value)
    except (TypeError, ValueError):
        return default


def recent_folders(settings: QSettings) -> list[Path]:
    """Return the recent folders, most recent first (missing ones included).

    Parameters
    ----------
    settings : QSettings
        The store.

    Returns
    -------
    list of Path
        At most :data:`MAX_RECENT` folders.

    """
    value = settings.value("recent_folders", [])
    if isinstance(value, str):
        value = [value] if value else []
    return [Path(v) for v in (value or [])][:MAX_RECENT]


def push_recent_folder(settings: QSettings, folder: Path) -> list[Path]:
    """Put ``folder`` at the top of the recent list and store ``last_folder``.

    Parameters
    ----------
    settings : QSettings
        The store.
    folder : Path
        The folder just opened.

    Returns
    -------
    list of Path
        The new recent list.

    """
    folder = Path(folder).resolve()
    items = [folder] + [p for p in recent_folders(settings) if p != folder]
    items = items[:MAX_RECENT]
    settings.setValue("recent_folders", [str(p) for p in items])
    settings.setValue("last_folder", str(folder))
    return items
