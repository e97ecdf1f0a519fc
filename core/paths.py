"""Where Wan Studio keeps user data: platformdirs, overridable for tests and portable installs.

Set ``WAN_STUDIO_HOME`` to put every folder under one directory (tests use this so they never
touch the real user profile).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "WanStudio"
APP_AUTHOR = "WanStudio"


def _home_override() -> Path | None:
    value = os.environ.get("WAN_STUDIO_HOME")
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    """Models created by the app (demo), library.json, presets, history."""
    home = _home_override()
    path = home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    home = _home_override()
    path = home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def output_dir() -> Path:
    """Default folder for generated videos (the user's Videos folder, then a subfolder)."""
    home = _home_override()
    base = home / "videos" if home else Path(platformdirs.user_videos_dir()) / APP_NAME
    base.mkdir(parents=True, exist_ok=True)
    return base


def models_dir() -> Path:
    path = data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def presets_dir() -> Path:
    path = data_dir() / "presets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def library_file() -> Path:
    return data_dir() / "library.json"


def demo_model_dir(family: str) -> Path:
    """Default location of the built-in demo model of one family."""
    return models_dir() / f"demo-{family}"
