"""Condition compression on the device and decompression on the edge (Section IV-B, the "VCE"
knobs): resolution level α and quality level β, plus the codec (the paper uses JPEG only; PNG and
WebP are our addition, kept per configuration where they save bytes, see ``config_table``).

``encode(condition, alpha, beta, codec)``:

1. **Resolution α** (Sec. IV-B): the 512x512 condition is downscaled to ``round(512·α)`` pixels a
   side (all α in ``ALPHAS`` are multiples of 1/8, so 64..512) with ``cv2.INTER_AREA``; except a
   palette PNG of a few-colour map (seg), which uses nearest-neighbour so that no new colours
   (= meaningless classes) appear.
2. **Grey or colour.** A condition whose three channels are identical (canny, hed, depth) is encoded
   as ONE channel (a third of the samples; JPEG also skips chroma), and decoded back to 3 equal
   channels. Anything else (seg) is encoded in colour.
3. **Quality β** per codec (documented mapping):
   * ``jpeg``: quality ``q = clip(round(100·β), 1, 95)``, i.e. β = 0.2 → q 20 ... β = 0.9 → q 90,
     β = 1.0 → q 95. libjpeg's own advice: above 95 the bytes grow fast (≈ 2x at 100) for no visible
     gain, and q 100 is still lossy. 4:2:0 chroma subsampling (libjpeg default) for colour.
   * ``webp``: lossy WebP, quality ``round(100·β)`` on WebP's 0..100 scale (100 still lossy).
   * ``png`` (lossless container): for grey conditions β sets the bit depth,
     ``bits = max(1, round(8·β))`` (β = 0.2 → 2 bits = 4 grey levels ... β = 1.0 → 8 bits, exact);
     the quantised levels are stored as 8-bit grey (values k·255/(2^bits-1)) so the file is
     self-describing. For a colour map with at most 256 colours (seg) it is a palette PNG and exact
     at every β (β has no effect); a colour map with more colours is stored as 8-bit RGB with each
     channel quantised to ``bits`` as for grey.
   PNG uses zlib level 6 (the default).

``decode(data, size=512)`` reads the bytes (JPEG, PNG or WebP, told apart by their magic numbers),
refuses anything larger than ``size`` x ``size`` before decoding pixels, and upsamples back to
``size`` x ``size`` (bilinear; nearest for a palette PNG) as 3-channel RGB uint8.

Bytes are the real encoded file sizes (``len(encode(...))``).
"""

from __future__ import annotations

import io
import warnings

import numpy as np

from mobigen.scenario import ALPHAS, BETAS

CODECS: tuple[str, ...] = ("jpeg", "png", "webp")
"""Codecs ``encode`` accepts."""

SIZE = 512
"""Side of an uncompressed condition (pixels)."""

JPEG_MAX_QUALITY = 95
"""β = 1.0 maps to this JPEG quality (see module docstring)."""


def _check_level(name: str, value: float, allowed: tuple[float, ...]) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be one of {list(allowed)}, got {value!r}") from None
    for a in allowed:
        if abs(v - a) < 1e-9:
            return a
    raise ValueError(f"{name}: must be one of {list(allowed)}, got {value!r}")


def check_alpha(alpha: float) -> float:
    """Validate α against ``ALPHAS`` (ValueError naming ``alpha``); returns the canonical value."""
    return _check_level("alpha", alpha, ALPHAS)


def check_beta(beta: float) -> float:
    """Validate β against ``BETAS`` (ValueError naming ``beta``); returns the canonical value."""
    return _check_level("beta", beta, BETAS)


def check_codec(codec: str) -> str:
    """Validate the codec name (ValueError naming ``codec``)."""
    if codec not in CODECS:
        raise ValueError(f"codec: must be one of {list(CODECS)}, got {codec!r}")
    return codec


def jpeg_quality(beta: float) -> int:
    """JPEG quality for β: ``clip(round(100·β), 1, 95)``."""
    return int(min(JPEG_MAX_QUALITY, max(1, round(100 * check_beta(beta)))))


def webp_quality(beta: float) -> int:
    """WebP quality for β: ``round(100·β)`` (lossy)."""
    return int(min(100, max(1, round(100 * check_beta(beta)))))


def png_bits(beta: float) -> int:
    """PNG grey bit depth for β: ``max(1, round(8·β))``."""
    return int(max(1, min(8, round(8 * check_beta(beta)))))


def side(alpha: float, size: int = SIZE) -> int:
    """Side in pixels of the α-downscaled condition: ``round(size·α)``."""
    return int(max(1, round(size * check_alpha(alpha))))


def is_grey(condition: np.ndarray) -> bool:
    """True when the three channels are identical (encoded single-channel)."""
    c = np.asarray(condition)
    return bool(c.ndim == 2 or (np.array_equal(c[..., 0], c[..., 1]) and np.array_equal(c[..., 0], c[..., 2])))


def _check_condition(condition: np.ndarray) -> np.ndarray:
    c = np.asarray(condition)
    if c.dtype != np.uint8 or c.ndim != 3 or c.shape[2] != 3 or c.shape[0] < 1 or c.shape[1] < 1:
        raise ValueError(f"condition: expected an HxWx3 uint8 array, got shape {c.shape} dtype {c.dtype}")
    return c


def _quantise(arr: np.ndarray, bits: int) -> np.ndarray:
    if bits >= 8:
        return arr
    levels = (1 << bits) - 1
    q = np.round(arr.astype(np.float32) * (levels / 255.0))
    return np.round(q * (255.0 / levels)).astype(np.uint8)


def encode(condition: np.ndarray, alpha: float, beta: float, codec: str = "jpeg") -> bytes:
    """Compress a condition image (HxWx3 uint8, normally 512x512) at resolution level α and
    quality level β with ``codec``; returns the encoded file's bytes (see module docstring)."""
    import cv2

    c = _check_condition(condition)
    alpha = check_alpha(alpha)
    beta = check_beta(beta)
    codec = check_codec(codec)
    h, w = c.shape[:2]
    th, tw = max(1, round(h * alpha)), max(1, round(w * alpha))
    grey = is_grey(c)

    if codec == "png" and not grey:
        flat = c.reshape(-1, 3)
        packed = (flat[:, 0].astype(np.int32) << 16) | (flat[:, 1].astype(np.int32) << 8) | flat[:, 2]
        colours, index = np.unique(packed, return_inverse=True)
        if len(colours) <= 256:  # palette PNG, exact colours, nearest-neighbour downscale
            from PIL import Image

            idx = index.reshape(h, w).astype(np.uint8)
            if (th, tw) != (h, w):
                idx = cv2.resize(idx, (tw, th), interpolation=cv2.INTER_NEAREST)
            pal = np.stack([(colours >> 16) & 255, (colours >> 8) & 255, colours & 255], axis=1).astype(np.uint8)
            im = Image.fromarray(idx, mode="P")
            im.putpalette(pal.ravel().tolist())
            buf = io.BytesIO()
            im.save(buf, format="PNG", optimize=False, compress_level=6)
            return buf.getvalue()

    src = np.ascontiguousarray(c[..., 0]) if grey else cv2.cvtColor(c, cv2.COLOR_RGB2BGR)
    if (th, tw) != (h, w):
        src = cv2.resize(src, (tw, th), interpolation=cv2.INTER_AREA)
    if codec == "jpeg":
        ok, buf = cv2.imencode(".jpg", src, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality(beta)])
    elif codec == "webp":
        ok, buf = cv2.imencode(".webp", src, [cv2.IMWRITE_WEBP_QUALITY, webp_quality(beta)])
    else:
        ok, buf = cv2.imencode(".png", _quantise(src, png_bits(beta)), [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:  # pragma: no cover - OpenCV failure
        raise RuntimeError(f"OpenCV could not encode a {src.shape} condition as {codec}")
    return buf.tobytes()


def beta_matters(condition: np.ndarray, codec: str) -> bool:
    """False when β has no effect on ``encode`` (a palette PNG of a <= 256-colour map, e.g. seg):
    the profiler then encodes once per α and reuses the result for every β."""
    c = _check_condition(condition)
    if check_codec(codec) != "png" or is_grey(c):
        return True
    flat = c.reshape(-1, 3)
    packed = (flat[:, 0].astype(np.int32) << 16) | (flat[:, 1].astype(np.int32) << 8) | flat[:, 2]
    return len(np.unique(packed)) > 256


def sniff(data: bytes) -> str:
    """The codec of encoded bytes from their magic number; ValueError if none of ``CODECS``."""
    b = bytes(data[:16])
    if b.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if b.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if b[:4] == b"RIFF" and b[8:12] == b"WEBP":
        return "webp"
    raise ValueError("data: not a JPEG, PNG or WebP condition")


def _complete(data: bytes, codec: str) -> bool:
    """Structural end-of-file check: OpenCV decodes a truncated JPEG/PNG silently (grey tail)."""
    if codec == "jpeg":
        return data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if codec == "png":
        return data.endswith(b"IEND\xaeB`\x82")
    return len(data) >= 12 and int.from_bytes(data[4:8], "little") + 8 <= len(data)


def decode(data: bytes, size: int = SIZE) -> np.ndarray:
    """Decode condition bytes and upsample to ``size`` x ``size`` x 3 RGB uint8 (module docstring)."""
    import cv2
    from PIL import Image, UnidentifiedImageError

    if size <= 0:
        raise ValueError(f"size: must be positive, got {size}")
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
        raise ValueError("data: empty or not bytes")
    codec = sniff(data)
    if not _complete(bytes(data), codec):
        raise ValueError(f"data: truncated {codec} condition (no end-of-image marker)")
    try:
        with warnings.catch_warnings():  # Pillow's bomb warning refused as in conditions.images.load_image
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(bytes(data))) as probe:  # header only: dimensions and mode
                w, h = probe.size
                palette = probe.mode == "P"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(f"data: {codec} condition is a decompression bomb ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"data: corrupt {codec} condition ({exc})") from None
    if w > size or h > size or w < 1 or h < 1:
        raise ValueError(f"data: {codec} condition is {w}x{h}, larger than {size}x{size} (or empty)")
    arr = cv2.imdecode(np.frombuffer(bytes(data), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError(f"data: corrupt {codec} condition (OpenCV could not decode it)")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB)
    else:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    if arr.dtype != np.uint8:
        raise ValueError(f"data: {codec} condition has {arr.dtype} samples, expected 8-bit")
    if arr.shape[:2] != (size, size):
        interp = cv2.INTER_NEAREST if palette else cv2.INTER_LINEAR
        arr = cv2.resize(arr, (size, size), interpolation=interp)
    return np.ascontiguousarray(arr)


def roundtrip(condition: np.ndarray, alpha: float, beta: float, codec: str = "jpeg") -> tuple[bytes, np.ndarray]:
    """``(data, decode(data))`` for ``data = encode(condition, alpha, beta, codec)``."""
    data = encode(condition, alpha, beta, codec)
    return data, decode(data, size=int(np.asarray(condition).shape[0]))
