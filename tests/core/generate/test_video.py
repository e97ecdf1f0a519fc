"""MP4 writing, embedded metadata, sidecar fallback, names that never overwrite."""

from __future__ import annotations

import json
import os
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest

from core.generate.request import defaults_for
from core.generate.video import (
    VideoError,
    output_path,
    parse_ffmetadata,
    probe_video,
    read_record,
    read_request,
    record_payload,
    sidecar_path,
    write_sidecar,
    write_video,
)


def frames(count: int = 9, height: int = 64, width: int = 96) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (count, height, width, 3), dtype=np.uint8)


def tricky_request():
    request = defaults_for("t2v-a14b", demo=True)
    request.prompt = 'fox = ; # \\ "quoted"\nsecond line, 狐狸'
    return request


def test_written_file_is_h264_yuv420p_with_frames_and_fps(tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    write_video(frames(9), target, fps=24)
    info = probe_video(target)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.width, info.height, info.frames, info.fps) == (96, 64, 9, 24.0)
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # no temp file left
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not private like a temp file


def test_faststart_puts_the_index_before_the_media(tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    write_video(frames(5), target, fps=16)
    data = target.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


def test_metadata_round_trip_restores_the_request(tmp_path: Path) -> None:
    request = tricky_request()
    target = tmp_path / "clip.mp4"
    write_video(
        frames(5),
        target,
        16,
        record_payload(request, 4242, True, "t2v-a14b"),
        "demo model: random weights",
    )
    record = read_record(target)
    assert record.source == "metadata" and record.demo is True and record.seed == 4242
    assert record.request == request.replace(seed=4242)
    assert probe_video(target).tags["description"] == "demo model: random weights"


def test_sidecar_is_the_fallback_when_tags_are_gone(tmp_path: Path) -> None:
    request = tricky_request()
    target = tmp_path / "clip.mp4"
    write_video(frames(5), target, 16)  # no embedded record (like a re-encoded copy)
    write_sidecar(sidecar_path(target), record_payload(request, 9, False, "t2v-a14b"))
    record = read_record(target)
    assert record.source == "sidecar" and record.request == request.replace(seed=9)
    assert "no embedded" in record.warnings[0]


def test_a_video_without_any_record_gives_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "foreign.mp4"
    write_video(frames(5), target, 16)
    with pytest.raises(VideoError, match="carries no Wan Studio settings"):
        read_request(target)
    sidecar_path(target).write_text("{broken", "utf-8")
    with pytest.raises(VideoError, match="unreadable"):
        read_request(target)
    with pytest.raises(VideoError, match="does not exist"):
        read_request(tmp_path / "missing.mp4")


def test_restored_request_does_not_point_at_its_own_file(tmp_path: Path) -> None:
    request = tricky_request().replace(output=str(tmp_path / "mine.mp4"))
    target = tmp_path / "mine.mp4"
    write_video(frames(5), target, 16, record_payload(request, 1, False, "t2v-a14b"))
    assert read_request(target).output == str(tmp_path)


def test_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"precious")
    with pytest.raises(VideoError, match="already exists"):
        write_video(frames(5), target, 16)
    assert target.read_bytes() == b"precious"


def test_bad_frames_are_refused(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="uint8"):
        write_video(frames(5).astype(np.float32), tmp_path / "a.mp4", 16)
    with pytest.raises(VideoError, match="multiple of 16"):
        write_video(frames(5, 60, 64), tmp_path / "a.mp4", 16)


def test_frames_survive_encoding_closely(tmp_path: Path) -> None:
    # A smooth gradient: H.264 at quality 8 keeps it within a few levels.
    y, x = np.mgrid[0:64, 0:64]
    frame = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    target = tmp_path / "smooth.mp4"
    write_video(np.stack([frame] * 5), target, 16)
    decoded = imageio.mimread(target, format="FFMPEG")
    assert len(decoded) == 5
    assert np.abs(decoded[2].astype(int) - frame.astype(int)).mean() < 4


def test_output_names_from_template_never_collide(tmp_path: Path) -> None:
    request = defaults_for("t2v-a14b", demo=True)
    first = output_path(request, 77, tmp_path, now=0)
    assert first.parent == tmp_path and first.name.endswith("_demo-t2v-a14b_77.mp4")
    first.write_bytes(b"x")
    second = output_path(request, 77, tmp_path, now=0)
    assert second.name == first.stem + "-2.mp4"
    folder_request = request.replace(output=str(tmp_path / "sub"))
    assert output_path(folder_request, 1, tmp_path).parent == tmp_path / "sub"
    file_request = request.replace(output=str(tmp_path / "exact.mp4"))
    assert output_path(file_request, 1, tmp_path) == tmp_path / "exact.mp4"
    named = output_path(request.replace(model="/models/Wan2.2 T2V/"), 5, tmp_path, "{model}-{seed}")
    assert named.name == "Wan2.2-T2V-5.mp4"


def test_parse_ffmetadata_unescapes() -> None:
    text = ";FFMETADATA1\ntitle=a\\=b\\;c\\#d\\\\e\ncomment=line1\\\nline2\n# note\n[STREAM]\nx=y\n"
    assert parse_ffmetadata(text) == {"title": "a=b;c#d\\e", "comment": "line1\nline2"}


def test_sidecar_is_plain_json(tmp_path: Path) -> None:
    path = write_sidecar(tmp_path / "a.json", {"kind": "wan-studio.video", "x": "狐"})
    assert json.loads(path.read_text("utf-8"))["x"] == "狐"
