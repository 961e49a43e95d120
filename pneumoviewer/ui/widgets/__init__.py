"""Widgets: the canvas annotations and ruler (canvas_*), the measurements panel."""
