"""Small controllers that :class:`~pneumoviewer.ui.main_window.MainWindow` composes.

Each receives its dependencies explicitly (the view model, the widgets it drives, the
callables of other controllers it needs) -- none reaches into the window:

status     status bar: messages, notices, model / device / ground-truth labels, progress
data       folders, the scan (``thread_worker``), selection, image loading, problems
analysis   model loading, analysis requests (AI by itself), results, list columns, summary
render     view model + layers -> canvas overlay, legend, AI read-out
export     annotated PNG export (``thread_worker``) through the same layers
settings   QSettings <-> view model, window layout, recent folders, colours
"""
