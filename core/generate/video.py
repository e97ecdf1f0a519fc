"""Video files that remember how they were made.

- MP4: H.264, yuv420p (plays everywhere; yuv444 does not), +faststart (plays while loading),
  written through imageio + imageio-ffmpeg at the request's fps.
- The generation record (request, effective seed, demo flag) is embedded as compact ASCII JSON
  in the MP4 ``comment`` tag, and a fuller sidecar JSON (plus timings and the load report) is
  written next to it, with a poster PNG. ``read_request(video)`` restores the request from the
  embedded tag, falling back to the sidecar (a re-encoded or trimmed copy loses its tags).
- Files appear atomically and never overwrite anything: each is written under a hidden temp
  name in the target folder, then hard-linked to its final name (fails if the name is taken)
  or, where links are unsupported, renamed.

Torch-free (numpy, Pillow, imageio): the GUI's History and "restore settings" use it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import __version__
from core.atomicio import atomic_write_bytes, atomic_write_json
from core.generate.request import GenerationRequest

RECORD_KIND = "wan-studio.video"
RECORD_SCHEMA = 1
DEFAULT_TEMPLATE = "{date}_{time}_{model}_{seed}"
VIDEO_QUALITY = 8  # imageio/libx264 quality 0-10; the official Wan2.2 save_video uses 8
_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")


class VideoError(Exception):
    """A video or its record cannot be written or read; the message says which file and why."""


@dataclass
class VideoRecord:
    """What a video file says about itself (from its metadata or its sidecar)."""

    request: GenerationRequest
    seed: int | None
    demo: bool
    source: str  # "metadata" | "sidecar"
    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


# ---- names ----------------------------------------------------------------------------------
def model_label(model: str) -> str:
    """Short file-name-safe label of a request's model ("demo-t2v-a14b", folder name...)."""
    from core.generate.request import demo_family_or_none

    fam = demo_family_or_none(model)
    if fam is not None:
        return f"demo-{fam}"
    name = Path(model.rstrip("/\\")).name or "model"
    return _SAFE.sub("-", name).strip("-.") or "model"


def output_path(
    request: GenerationRequest,
    seed: int,
    default_folder: Path,
    template: str = DEFAULT_TEMPLATE,
    now: float | None = None,
) -> Path:
    """Where this run's video goes: ``request.output`` when it names an .mp4 file, else the
    template inside ``request.output`` (a folder) or ``default_folder``. Template fields:
    {date} YYYYMMDD, {time} HHMMSS, {model}, {seed}, {width}, {height}, {frames}. A taken
    name gets "-2", "-3"... (an explicit .mp4 path is used as given)."""
    if request.output:
        target = Path(request.output).expanduser()
        if target.suffix.lower() == ".mp4":
            return target
        folder = target
    else:
        folder = default_folder
    stamp = time.localtime(now if now is not None else time.time())
    name = template.format(
        date=time.strftime("%Y%m%d", stamp),
        time=time.strftime("%H%M%S", stamp),
        model=model_label(request.model),
        seed=seed,
        width=request.width,
        height=request.height,
        frames=request.frames,
    )
    name = _SAFE.sub("-", name).strip("-.") or "video"
    candidate = folder / f"{name}.mp4"
    n = 2
    while _taken(candidate):
        candidate = folder / f"{name}-{n}.mp4"
        n += 1
    return candidate


def _taken(video: Path) -> bool:
    return any(p.exists() for p in (video, video.with_suffix(".json"), video.with_suffix(".png")))


def run_video_path(
    request: GenerationRequest, seed: int, folder: Path | None, template: str = DEFAULT_TEMPLATE
) -> Path:
    """The video path a run writes: ``request.output`` (file or folder), else ``folder`` (the
    runner's override), else the default videos folder, created only when it is used."""
    from core import paths

    default = folder or (Path(".") if request.output else paths.output_dir())
    return output_path(request, seed, default, template)


def sidecar_path(video: str | os.PathLike[str]) -> Path:
    return Path(video).with_suffix(".json")


def poster_path(video: str | os.PathLike[str]) -> Path:
    return Path(video).with_suffix(".png")


# ---- writing --------------------------------------------------------------------------------
def record_payload(
    request: GenerationRequest, seed: int, demo: bool, family: str, **extra: Any
) -> dict[str, Any]:
    """The generation record: embedded in the MP4 and (with ``extra``) written as the sidecar."""
    payload: dict[str, Any] = {
        "kind": RECORD_KIND,
        "schema": RECORD_SCHEMA,
        "app": f"wan-studio {__version__}",
        "request": request.to_dict(),
        "seed": seed,
        "family": family,
        "demo": demo,
    }
    if demo:
        from core.models.demo import DEMO_NOTE

        payload["note"] = DEMO_NOTE
    payload.update(extra)
    return payload


def write_video(
    frames: Any,
    path: str | os.PathLike[str],
    fps: int,
    metadata: dict[str, Any] | None = None,
    description: str | None = None,
) -> Path:
    """Write uint8 RGB frames [F, H, W, 3] as an H.264 yuv420p faststart MP4, atomically.

    ``metadata`` is embedded as compact ASCII JSON in the ``comment`` tag; ``description``
    (e.g. the demo note) goes to the ``description`` tag that players show. Never overwrites:
    raises VideoError when ``path`` exists. Width and height must be multiples of 16 (every
    Wan size is) so no rescaling happens.
    """
    import imageio
    import numpy as np

    target = Path(path)
    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise VideoError(f"frames must be uint8 [F, H, W, 3], got {array.dtype} {array.shape}")
    if array.shape[1] % 16 or array.shape[2] % 16:
        raise VideoError(f"frame size {array.shape[2]}x{array.shape[1]} is not a multiple of 16")
    if target.exists():
        raise VideoError(f"{target} already exists; nothing was overwritten")
    target.parent.mkdir(parents=True, exist_ok=True)
    params = ["-movflags", "+faststart"]
    if metadata is not None:
        params += [
            "-metadata",
            "comment=" + json.dumps(metadata, ensure_ascii=True, separators=(",", ":")),
        ]
    if description:
        params += ["-metadata", f"description={description}"]
    # Not mkstemp: ffmpeg creates the file itself, with the user's normal permissions (umask),
    # where mkstemp would leave the published video private (0600).
    tmp = target.parent / f".{target.stem}.{secrets.token_hex(6)}.part.mp4"
    try:
        writer = imageio.get_writer(
            tmp,
            format="FFMPEG",
            mode="I",
            fps=fps,
            codec="libx264",
            pixelformat="yuv420p",
            quality=VIDEO_QUALITY,
            macro_block_size=16,
            ffmpeg_log_level="error",
            ffmpeg_params=params,
        )
        try:
            for frame in array:
                writer.append_data(frame)
        finally:
            writer.close()
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        _publish(tmp, target)
    except VideoError:
        raise
    except Exception as exc:
        raise VideoError(f"could not write {target}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return target


def _publish(tmp: Path, target: Path) -> None:
    """Give ``tmp`` its final name without ever replacing an existing file."""
    try:
        os.link(tmp, target)  # atomic and exclusive: fails if target exists
    except FileExistsError:
        raise VideoError(f"{target} already exists; nothing was overwritten") from None
    except OSError:  # filesystem without hard links
        if target.exists():
            raise VideoError(f"{target} already exists; nothing was overwritten") from None
        os.replace(tmp, target)


def write_poster(frame: Any, path: str | os.PathLike[str]) -> Path:
    """Write one uint8 RGB frame as a PNG, atomically."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def write_sidecar(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    atomic_write_json(path, payload)
    return Path(path)


# ---- reading --------------------------------------------------------------------------------
def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def read_tags(video: str | os.PathLike[str]) -> dict[str, str]:
    """The container's global metadata tags, exactly (ffmpeg's ffmetadata output, unescaped)."""
    result = subprocess.run(
        [_ffmpeg(), "-v", "error", "-i", os.fspath(video), "-f", "ffmetadata", "-"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=60,
    )
    if result.returncode != 0:
        raise VideoError(f"{video} cannot be read as a video: {result.stderr.strip()[:300]}")
    return parse_ffmetadata(result.stdout)


def parse_ffmetadata(text: str) -> dict[str, str]:
    """Parse the global section of ffmpeg's ffmetadata format: ``key=value`` lines, where a
    backslash escapes ``=``, ``;``, ``#``, ``\\`` and newline; lines starting with ``;`` or ``#``
    are comments; a ``[SECTION]`` line ends the global part."""
    tags: dict[str, str] = {}
    key: list[str] = []
    value: list[str] = []
    in_value = False
    at_line_start = True
    skipping_comment = False
    chars = iter(text)
    for ch in chars:
        if skipping_comment:
            if ch == "\n":
                skipping_comment, at_line_start = False, True
            continue
        if at_line_start:
            at_line_start = False
            if ch in ";#":
                skipping_comment = True
                continue
            if ch == "[":
                break
        if ch == "\\":
            (value if in_value else key).append(next(chars, ""))
        elif ch == "=" and not in_value:
            in_value = True
        elif ch == "\n":
            if in_value:
                tags["".join(key)] = "".join(value)
            key, value, in_value, at_line_start = [], [], False, True
        else:
            (value if in_value else key).append(ch)
    if in_value:
        tags["".join(key)] = "".join(value)
    return tags


def read_record(video: str | os.PathLike[str]) -> VideoRecord:
    """The generation record of a video made by Wan Studio: from its embedded metadata, else
    from its sidecar JSON. Raises VideoError saying why neither works."""
    path = Path(video).expanduser()
    if not path.is_file():
        raise VideoError(f"{path} does not exist")
    problems: list[str] = []
    try:
        comment = read_tags(path).get("comment")
        if comment:
            return _record_from(json.loads(comment), "metadata")
        problems.append("it has no embedded Wan Studio settings")
    except (VideoError, ValueError, subprocess.SubprocessError, OSError) as exc:
        problems.append(f"its metadata could not be read ({exc})")
    sidecar = sidecar_path(path)
    try:
        data = json.loads(sidecar.read_text("utf-8"))
        record = _record_from(data, "sidecar")
        record.warnings.insert(0, f"settings read from {sidecar.name}: " + "; ".join(problems))
        return record
    except FileNotFoundError:
        problems.append(f"there is no sidecar {sidecar.name}")
    except (ValueError, OSError) as exc:
        problems.append(f"the sidecar {sidecar.name} is unreadable ({exc})")
    raise VideoError(f"{path.name} carries no Wan Studio settings: " + "; ".join(problems))


def read_request(video: str | os.PathLike[str]) -> GenerationRequest:
    """The request that made ``video``, ready to run again: its ``seed`` is the effective seed
    (so a random-seed run is reproduced) and an ``output`` that named a file is cleared (so it
    never collides with the video it came from)."""
    return read_record(video).request


def _record_from(data: Any, source: str) -> VideoRecord:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    warnings: list[str] = []
    if data.get("kind") == RECORD_KIND:
        raw = data.get("request")
        if not isinstance(raw, dict):
            raise ValueError("the record has no request")
    elif data.get("kind") in (None, "wan-studio.request") and "prompt" in data:
        raw = data  # a bare request
    else:
        raise ValueError(f"not a Wan Studio record (kind {data.get('kind')!r})")
    request = GenerationRequest.from_dict(raw, warnings)
    seed = data.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0:
        request.seed = seed
    else:
        seed = None
    if request.output and Path(request.output).suffix.lower() == ".mp4":
        request.output = str(Path(request.output).parent)
    return VideoRecord(
        request=request,
        seed=seed,
        demo=bool(data.get("demo", False)),
        source=source,
        data=data,
        warnings=warnings,
    )


# ---- inspection -----------------------------------------------------------------------------
@dataclass
class VideoInfo:
    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: float
    frames: int
    tags: dict[str, str]


def probe_video(video: str | os.PathLike[str]) -> VideoInfo:
    """Codec, pixel format, size, fps and the exact frame count (counted by remuxing the video
    stream to the null muxer) using the ffmpeg that imageio-ffmpeg ships (there is no ffprobe)."""
    result = subprocess.run(
        [
            _ffmpeg(),
            "-hide_banner",
            "-i",
            os.fspath(video),
            "-map",
            "0:v:0",
            "-c",
            "copy",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=120,
    )
    if result.returncode != 0:
        raise VideoError(f"{video} cannot be read as a video: {result.stderr.strip()[-300:]}")
    err = result.stderr
    stream = re.search(r"Stream #0:0.*?: Video: (\w+).*?, (\w+)(?:\([^)]*\))?, (\d+)x(\d+)", err)
    fps = re.search(r"(\d+(?:\.\d+)?) fps", err)
    counted = re.findall(r"frame=\s*(\d+)", err)
    if not stream or not fps or not counted:
        raise VideoError(f"{video}: no readable video stream")
    return VideoInfo(
        codec=stream.group(1),
        pix_fmt=stream.group(2),
        width=int(stream.group(3)),
        height=int(stream.group(4)),
        fps=float(fps.group(1)),
        frames=int(counted[-1]),
        tags=read_tags(video),
    )
