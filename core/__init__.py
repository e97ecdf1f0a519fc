"""Wan Studio engine: Qt-free. Nothing here may import PySide6 or gui."""

__version__ = "0.1.0"
