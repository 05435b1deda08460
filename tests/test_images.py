"""images.load_image / to_512: good images load; bad ones raise ImageError naming the problem."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mobigen.conditions.images import ImageError, load_image, to_512


def _rgb(h: int = 64, w: int = 80, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _save(im: Image.Image, path: Path, fmt: str = "PNG", **kw: object) -> Path:
    im.save(path, format=fmt, **kw)
    return path


def _png_bomb_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares width x height (valid CRC) followed by a tiny IDAT: the pixels are
    never there, only the header claims a huge image."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def test_loads_rgb_png_from_path_and_bytes(tmp_path: Path) -> None:
    arr = _rgb()
    p = _save(Image.fromarray(arr), tmp_path / "ok.png")
    out = load_image(p)
    assert out.dtype == np.uint8 and out.shape == (64, 80, 3)
    np.testing.assert_array_equal(out, arr)
    np.testing.assert_array_equal(load_image(p.read_bytes()), arr)


def test_corrupt_file_refused(tmp_path: Path) -> None:
    p = tmp_path / "bad.jpg"
    p.write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(p)


def test_truncated_jpeg_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(_rgb(256, 256)).save(buf, format="JPEG", quality=90)
    p = tmp_path / "trunc.jpg"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_image(p)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "empty.png")
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="not a regular file"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")


def test_sixteen_bit_refused_or_scaled(tmp_path: Path) -> None:
    a16 = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)
    p = _save(Image.fromarray(a16), tmp_path / "deep.png")
    with pytest.raises(ImageError, match="16-bit"):
        load_image(p)
    out = load_image(p, convert=True)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    # scaled by 1/257 and rounded; channels equal
    im = Image.open(p)
    expected = np.clip(np.round(np.asarray(im, dtype=np.float64) / 257.0), 0, 255)
    np.testing.assert_array_equal(out[..., 0], expected.astype(np.uint8))
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_sixteen_bit_rgb_png_refused(tmp_path: Path) -> None:
    import cv2

    p = tmp_path / "deep_rgb.png"
    cv2.imwrite(str(p), np.full((16, 16, 3), 40000, np.uint16))  # Pillow would open this as 8-bit "RGB"
    with pytest.raises(ImageError, match="16-bit"):
        load_image(p)
    assert load_image(p, convert=True).shape == (16, 16, 3)


def test_alpha_refused_or_flattened_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:16, :, 3] = 255  # top half opaque red-ish, bottom half fully transparent
    p = _save(Image.fromarray(rgba, mode="RGBA"), tmp_path / "alpha.png")
    with pytest.raises(ImageError, match="alpha"):
        load_image(p)
    out = load_image(p, convert=True)
    np.testing.assert_array_equal(out[0, 0], [200, 0, 0])
    np.testing.assert_array_equal(out[-1, -1], [255, 255, 255])


def test_palette_and_grey_modes_refused_or_converted(tmp_path: Path) -> None:
    arr = _rgb(32, 32)
    pal = Image.fromarray(arr).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    p = _save(pal, tmp_path / "pal.png")
    with pytest.raises(ImageError, match="mode P"):
        load_image(p)
    np.testing.assert_array_equal(load_image(p, convert=True), np.asarray(pal.convert("RGB")))
    g = _save(Image.fromarray(arr[..., 0]), tmp_path / "grey.png")
    with pytest.raises(ImageError, match="mode L"):
        load_image(g)
    assert load_image(g, convert=True).shape == (32, 32, 3)


def test_decompression_bomb_refused_from_header(tmp_path: Path) -> None:
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_bomb_header(100_000, 100_000))  # 10^10 pixels declared in ~60 bytes
    assert p.stat().st_size < 200
    with pytest.raises(ImageError, match="decompression bomb"):
        load_image(p)
    # our own limit applies to ordinary images too
    ok = _save(Image.fromarray(_rgb(64, 64)), tmp_path / "ok.png")
    with pytest.raises(ImageError, match="exceeds the limit of 1000"):
        load_image(ok, max_pixels=1000)


def test_to_512_crops_centre_and_resizes() -> None:
    arr = np.zeros((300, 600, 3), np.uint8)
    arr[:, 150:450] = 255  # the centre square is all white
    out = to_512(arr)
    assert out.shape == (512, 512, 3) and out.dtype == np.uint8
    assert out.min() == 255
    same = _rgb(512, 512)
    np.testing.assert_array_equal(to_512(same), same)
    with pytest.raises(ValueError, match="rgb"):
        to_512(np.zeros((10, 10), np.uint8))
