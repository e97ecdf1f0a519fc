"""The start image of an image-to-video run: decide the output size, then resize and crop.

Rule (documented in request.py): with ``image_fit="area"`` (default, as the official Wan2.2
I2V-A14B and TI2V-5B code) the request's width x height is a maximum area and the output keeps
the image's aspect ratio, snapped down to the family's pixel multiple; with ``"crop"`` the
output is exactly width x height. Either way the image is scaled to cover the output size
(Lanczos) and centre-cropped, so it is never distorted. The input file is only read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.generate.request import GenerationRequest, fit_size_to_image


def load_image(path: str | Path) -> Any:
    """The image as an RGB PIL image (alpha composited on white); ImageFileError for a file
    that is not a usable image (checked before decoding)."""
    from PIL import Image

    from core.generate.imagefile import open_image

    with open_image(Path(path).expanduser()) as img:
        if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(canvas, rgba).convert("RGB")
        return img.convert("RGB")


def output_size(
    request: GenerationRequest, image_size: tuple[int, int], multiple: int
) -> tuple[int, int]:
    if request.image_fit == "crop":
        return request.width, request.height
    return fit_size_to_image(image_size, (request.width, request.height), multiple)


def cover_and_crop(image: Any, width: int, height: int) -> Any:
    """Scale ``image`` to cover width x height, then centre-crop to exactly that size."""
    from PIL import Image

    scale = max(width / image.width, height / image.height)
    new_w = max(width, round(image.width * scale))
    new_h = max(height, round(image.height * scale))
    resized = image.resize((new_w, new_h), Image.Resampling.LANCZOS)
    left = (new_w - width) // 2
    top = (new_h - height) // 2
    return resized.crop((left, top, left + width, top + height))
