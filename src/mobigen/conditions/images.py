"""Reading user images safely, and bringing them to the 512x512 RGB that extractors take.

Policy for inputs (documented choice; the profiler relies on it):

* unreadable, corrupt or truncated file -> ``ImageError``;
* more than ``max_pixels`` pixels (decompression-bomb guard; checked from the header, before any
  pixel is decoded, and Pillow's own ``DecompressionBombWarning``/``Error`` is turned into
  ``ImageError`` as well) -> ``ImageError``;
* by default (``convert=False``) anything that is not plain 8-bit RGB is *refused* with a message
  naming the problem: 16-bit / 32-bit / float modes, an alpha channel (RGBA, LA, PA, or a palette
  with transparency), and other modes (L, P, CMYK, YCbCr, 1-bit, ...). The profiler uses this
  strict mode so the data set profile is built only from clean RGB photographs;
* with ``convert=True`` (interactive use, e.g. ``mobigen vce``) non-RGB 8-bit modes are converted to
  RGB, alpha is flattened onto white, 16-bit greyscale is scaled to 8 bits; float/32-bit integer
  modes are still refused (their range is unknown).

EXIF orientation is applied before anything else.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_MAX_PIXELS = 50_000_000
"""Largest accepted image (pixels, width x height): about 8K x 6K. Above it -> decompression bomb."""

SIZE = 512
"""Side of the square image that the extractors take (pixels)."""


class ImageError(ValueError):
    """A user image that cannot be used, with a message saying why."""


_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N", "I;16S"}
_WIDE = {"I", "F", "I;32", "I;32B", "I;32L"}
_ALPHA = {"RGBA", "LA", "PA", "RGBa", "La"}


def _describe(src: object) -> str:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return f"<{len(src)} bytes>"
    return str(src)


def load_image(
    src: str | os.PathLike[str] | bytes | bytearray | memoryview,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    convert: bool = False,
) -> np.ndarray:
    """Read ``src`` (a path or the file's bytes) as an HxWx3 uint8 RGB array.

    Raises ``ImageError`` (a ``ValueError``) with a message naming the problem; see the module
    docstring for the policy on bombs, 16-bit, alpha and non-RGB modes.
    """
    from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

    if max_pixels <= 0:
        raise ValueError(f"max_pixels: must be positive, got {max_pixels}")
    name = _describe(src)
    if isinstance(src, (bytes, bytearray, memoryview)):
        if len(src) == 0:
            raise ImageError(f"image {name}: empty data")
        fp: object = io.BytesIO(bytes(src))
    else:
        path = Path(src)
        if not path.is_file():
            raise ImageError(f"image '{name}': " + ("not a regular file" if path.exists() else "no such file"))
        if path.stat().st_size == 0:
            raise ImageError(f"image '{name}': empty file")
        fp = path
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone switched Pillow's guard off globally
        raise ImageError("Pillow's ImageFile.LOAD_TRUNCATED_IMAGES is set: refusing to read images that may be truncated")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp) as im:  # type: ignore[arg-type]
                w, h = im.size
                if w <= 0 or h <= 0:
                    raise ImageError(f"image {name}: zero-sized ({w}x{h})")
                if w * h > max_pixels:
                    raise ImageError(
                        f"image {name}: {w}x{h} = {w * h} pixels exceeds the limit of {max_pixels} "
                        "(decompression bomb guard)"
                    )
                deep = _sixteen_bit_source(im)
                if deep and not convert:
                    raise ImageError(f"image {name}: 16-bit image ({deep}) refused; save as 8-bit RGB")
                im.load()  # decodes everything: truncated/corrupt data fails here
                im = ImageOps.exif_transpose(im) or im
                return _to_rgb(im, name, convert)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"image {name}: decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise ImageError(f"image {name}: not a readable image (unknown or corrupt format)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"image {name}: corrupt or truncated ({exc})") from None


def _sixteen_bit_source(im: "Image.Image") -> str:
    """Non-empty description when the file stores 16 bits per sample. Pillow opens a 16-bit RGB
    PNG as 8-bit "RGB" (silently dropping the low byte), so the mode alone does not tell."""
    if im.mode in _SIXTEEN_BIT:
        return f"mode {im.mode}"
    for tile in getattr(im, "tile", None) or []:
        args = tile[3] if len(tile) > 3 else None
        raw = args[0] if isinstance(args, tuple) and args else args
        if isinstance(raw, str) and ";16" in raw:
            return f"{raw} samples"
    return ""


def _to_rgb(im: "Image.Image", name: str, convert: bool) -> np.ndarray:
    from PIL import Image

    mode = im.mode
    has_alpha = mode in _ALPHA or (mode == "P" and "transparency" in im.info) or (
        mode in {"RGB", "L"} and "transparency" in im.info
    )
    if mode in _WIDE:
        raise ImageError(f"image {name}: {mode} pixels (32-bit integer or float) are not supported; save as 8-bit RGB")
    if mode in _SIXTEEN_BIT:
        if not convert:
            raise ImageError(f"image {name}: 16-bit image (mode {mode}) refused; save as 8-bit RGB")
        arr = np.asarray(im, dtype=np.uint16 if mode != "I;16S" else np.int16).astype(np.float64)
        grey = np.clip(np.round(arr / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if has_alpha:
        if not convert:
            raise ImageError(f"image {name}: has an alpha channel (mode {mode}) refused; flatten it to RGB")
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8).copy()
    if mode != "RGB":
        if not convert:
            raise ImageError(f"image {name}: mode {mode} is not RGB; refused (convert it to 8-bit RGB)")
        try:
            im = im.convert("RGB")
        except (ValueError, OSError) as exc:
            raise ImageError(f"image {name}: cannot convert mode {mode} to RGB ({exc})") from None
    arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageError(f"image {name}: unexpected pixel layout {arr.shape}")
    return arr.copy()


def to_512(rgb: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Centre-crop ``rgb`` (HxWx3 uint8) to a square and resize it to ``size`` x ``size``.

    Cropping keeps the aspect ratio (no squashing); area interpolation when shrinking, cubic when
    enlarging. An image already ``size`` x ``size`` is returned unchanged (as a copy).
    """
    import cv2

    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"rgb: expected an HxWx3 uint8 array, got shape {arr.shape} dtype {arr.dtype}")
    if size <= 0:
        raise ValueError(f"size: must be positive, got {size}")
    h, w = arr.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    sq = arr[y0 : y0 + s, x0 : x0 + s]
    if s == size:
        return np.ascontiguousarray(sq).copy()
    interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(sq), (size, size), interpolation=interp)


def load_512(src: str | os.PathLike[str] | bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, convert: bool = False) -> np.ndarray:
    """``to_512(load_image(src, ...))``."""
    return to_512(load_image(src, max_pixels=max_pixels, convert=convert))
