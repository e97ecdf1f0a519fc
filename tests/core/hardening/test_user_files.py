"""Items 3 and 6: every file a user hands the app is a regular file under a size cap (presets,
LoRA, images, descriptions), and a start image is checked by pixel count before decoding."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from core.userfiles import UserFileError, read_user_file
from tests.core.hardening.conftest import files_under, run_cli


def png_header(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims ``width`` x ``height`` (no real pixel data needed:
    the checks must refuse it from the header alone)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.json"
    os.mkfifo(path)
    return path


def test_presets_import_of_a_fifo_returns_at_once(fifo: Path, app_home: Path) -> None:
    # A child process with a timeout: a regression must fail the test, not hang the suite.
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "presets", "import", str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "WAN_STUDIO_HOME": str(app_home)},
    )
    assert done.returncode == 2
    assert f"preset file {fifo} is not a regular file (a FIFO)" in done.stderr
    assert files_under(app_home / "data" / "presets") == []


def test_presets_import_of_dev_zero_and_a_huge_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, app_home: Path
) -> None:
    code, _, err = run_cli(capsys, "presets", "import", "/dev/zero")
    assert code == 2 and "preset file /dev/zero is not a regular file (a device)" in err
    big = tmp_path / "big.json"
    with open(big, "wb") as handle:
        handle.truncate(5 << 20)  # sparse: 5 MB claimed, nothing written
    code, _, err = run_cli(capsys, "presets", "import", str(big))
    assert code == 2 and "is 5.0 MB; a preset file is at most 1.0 MB" in err
    assert files_under(app_home / "data" / "presets") == []


def test_a_link_to_dev_zero_is_refused_too(tmp_path: Path) -> None:
    link = tmp_path / "zero.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(UserFileError, match="is not a regular file"):
        read_user_file(link, "preset file", 1 << 20)


def test_generate_image_fifo_device_and_pixel_bomb(
    capsys: pytest.CaptureFixture[str], demo_i2v: Path, tmp_path: Path, fifo: Path
) -> None:
    out = tmp_path / "out"
    bomb = png_header(tmp_path / "bomb.png", 20000, 20000)
    big = png_header(tmp_path / "big.png", 9000, 9000)
    cases = [
        (fifo, "is not a regular file (a FIFO)"),
        ("/dev/zero", "is not a regular file (a device)"),
        (bomb, "has 400 megapixels; the limit is 8192x8192"),
        (big, "is 9000x9000 (81 megapixels); the limit is 8192x8192"),
    ]
    for image, expected in cases:
        code, _, err = run_cli(
            capsys, "generate", "--model", str(demo_i2v), "--prompt", "a cat",
            "--image", str(image), "--out", str(out),
        )  # fmt: skip
        assert code == 2, image
        assert f"--image: image {image} {expected}" in err
        assert "Traceback" not in err
    assert files_under(out) == []


def test_gui_picker_shows_the_problem_without_decoding(qtbot, tmp_path: Path) -> None:
    from gui.widgets.image_input import ImageInput

    widget = ImageInput()
    qtbot.addWidget(widget)
    widget.set_path(str(png_header(tmp_path / "bomb.png", 20000, 20000)))
    assert widget.thumb.text() == "!"
    assert "400 megapixels" in widget.name_label.text()


def test_description_fifo_is_refused(fifo: Path) -> None:
    from core.quant.description import DescriptionError, load_description

    with pytest.raises(DescriptionError, match="is not a regular file \\(a FIFO\\)"):
        load_description(fifo)


def test_lora_device_is_refused(tmp_path: Path) -> None:
    from core.lora import LoraError
    from core.lora.reader import read_lora_header

    link = tmp_path / "zero.safetensors"
    link.symlink_to("/dev/zero")
    with pytest.raises(LoraError, match="is not a regular file \\(a device\\)"):
        read_lora_header(link)


def test_gui_preset_import_peek_never_blocks_on_a_fifo(fifo: Path) -> None:
    from gui.workspaces.presets import _peek

    assert _peek(str(fifo)) == (None, [])  # the import itself then says why
