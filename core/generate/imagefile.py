"""The start image a user picked or dropped: checked by size and pixel count before decoding.

Why: Pillow decodes lazily, so ``Image.open`` reads only the header and tells the pixel size;
checking that first means a 20000x20000 PNG is refused in milliseconds with a message instead
of a 1.6 GB decode or Pillow's ``DecompressionBombError`` escaping as a traceback. A FIFO or
device is refused by the shared user-file check (core.userfiles) before anything is opened.
Used by request validation (CLI, runner, GUI form), by the runner's image loading and by the
GUI's picker/drop thumbnail.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

from core.userfiles import MAX_IMAGE_BYTES, UserFileError, check_user_file

# 8K on both sides, the largest request size (core.generate.limits): anything larger is scaled
# down to the output size anyway, and decoding it would take gigabytes.
MAX_IMAGE_SIDE = 8192
MAX_IMAGE_PIXELS = MAX_IMAGE_SIDE * MAX_IMAGE_SIDE


class ImageFileError(ValueError):
    """A start image that cannot be used; the message names it and the fix."""


def _open_header(source: Path) -> Any:
    """The lazily opened image (header read, pixels not decoded); ImageFileError otherwise."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))  # Pillow names the pixel count
        count = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "too many pixels"
        raise ImageFileError(
            f"image {source} has {count}; the limit is {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} "
            f"({MAX_IMAGE_PIXELS / 1e6:.0f} megapixels): scale it down (it is resized to the "
            "video size anyway)"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageFileError(
            f"image {source} cannot be decoded ({exc}); use a PNG, JPEG or WebP file"
        ) from None
    width, height = img.size
    if width < 1 or height < 1:
        img.close()
        raise ImageFileError(f"image {source} is empty")
    if width * height > MAX_IMAGE_PIXELS:
        img.close()
        raise ImageFileError(
            f"image {source} is {width}x{height} ({width * height / 1e6:.0f} megapixels); the "
            f"limit is {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} ({MAX_IMAGE_PIXELS / 1e6:.0f} "
            "megapixels): scale it down (it is resized to the video size anyway)"
        )
    return img


def check_image_header(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) of a usable image file, read from its header only (cheap enough for
    the GUI thread); ImageFileError otherwise."""
    try:
        source = check_user_file(path, "image", MAX_IMAGE_BYTES)
    except UserFileError as exc:
        raise ImageFileError(str(exc)) from None
    img = _open_header(source)
    img.close()
    return img.size


def open_image(path: str | os.PathLike[str]) -> Any:
    """The decoded PIL image after the header checks (ImageFileError for every problem)."""
    try:
        source = check_user_file(path, "image", MAX_IMAGE_BYTES)
    except UserFileError as exc:
        raise ImageFileError(str(exc)) from None
    img = _open_header(source)
    try:
        img.load()
    except (OSError, ValueError) as exc:
        img.close()
        raise ImageFileError(
            f"image {source} cannot be decoded ({exc}); use a PNG, JPEG or WebP file"
        ) from None
    return img


__all__ = [
    "MAX_IMAGE_PIXELS",
    "MAX_IMAGE_SIDE",
    "ImageFileError",
    "check_image_header",
    "open_image",
]
