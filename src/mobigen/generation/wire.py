"""Downlink wire format of the split: the intermediate latent z(⌊o_k T_k⌋) or, when o_k = 1, the image.

The size of this message is D(z^k(⌊o_k T_k⌋)) in eq. (6) and D(x_0^k) in eq. (7).

Layout (all integers little-endian)::

    offset 0   4 bytes  magic  b"MGWL"
    offset 4   uint16   format version (currently 1)
    offset 6   uint32   header length H in bytes
    offset 10  uint32   CRC-32 of everything after the prefix (header and payload)
    offset 14  H bytes  header: compact UTF-8 JSON object with kind, mode, shape, dtype,
                        steps_done, total_steps, seed, condition_type, scheduler_config,
                        payload_nbytes, and optionally guidance_scale, controlnet_scale,
                        request_digest
    offset 14+H         payload, exactly payload_nbytes bytes

Payload modes
- ``fp32``   latent as raw float32 (4x64x64 -> 65,536 bytes).
- ``fp16``   latent as raw float16, the default (4x64x64 -> 32,768 bytes; the paper reports ≈ 33 KB;
  SD3.5's 16 channels at 1024x1024 pixels: 16x128x128 -> 524,288 bytes). Up to 16 channels.
- ``q8zstd`` beyond the paper: per-channel affine 8-bit quantisation (min and step per channel,
  float32) followed by zstd; the reconstruction error is at most half a quantisation step per
  channel, i.e. (max_c - min_c) / 510.
- ``png`` / ``jpeg`` / ``webp``: the final image (o_k = 1, eq. 7), uint8 H x W x 3.

Step indices: 0 <= steps_done <= total_steps <= num_train_timesteps. A latent with steps_done equal to
total_steps is accepted (the device only decodes it); an image must have steps_done == total_steps.

Request binding: ``request_digest`` (optional header field, 64 lowercase hex digits) is
:func:`request_digest` of the request the message was computed for: SHA-256 over a canonical JSON
encoding of the prompt, the negative prompt, the SHA-256 of the uploaded condition bytes, the seed,
the scheduler name, T_k and ⌊o_k T_k⌋. Both sides compute it from what they hold; the device refuses
a message whose digest differs from its own request's (:func:`check_request_digest`).

Guidance bounds: ``guidance_scale`` lies in [0, MAX_GUIDANCE_SCALE] and ``controlnet_scale`` in
[0, MAX_CONTROLNET_SCALE]; larger values only saturate the image (1e30 gives an all-black one).

Every refusal raises :class:`WireFormatError` (a ``ValueError``) whose message names the problem:
wrong magic or version, an unparsable or incomplete header, an unknown kind/mode, a dtype that does
not fit the mode, a shape out of bounds or inconsistent with the bytes, truncated or trailing
bytes, a checksum mismatch, NaN/Inf values, and step indices out of range.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mobigen.generation.components import CONDITION_TYPES

MAGIC = b"MGWL"
VERSION = 1
_PREFIX = struct.Struct("<4sHII")
#: Bytes before the JSON header (magic, version, header length, CRC-32).
PREFIX_BYTES = _PREFIX.size
#: Largest header accepted (a scheduler config is well under 1 KB).
MAX_HEADER_BYTES = 16_384
LATENT_MODES: tuple[str, ...] = ("fp32", "fp16", "q8zstd")
IMAGE_FORMATS: tuple[str, ...] = ("png", "jpeg", "webp")
_MODE_DTYPE = {"fp32": "float32", "fp16": "float16", "q8zstd": "uint8", "png": "uint8", "jpeg": "uint8", "webp": "uint8"}
_FP16_MAX = 65504.0
_MAX_LATENT_SIDE = 512  # a 4096-pixel image
_MAX_IMAGE_SIDE = 8192
_ZSTD_LEVEL = 19
#: Largest classifier-free guidance scale accepted (diffusers' SD pipelines use 1-20; 7.5 by default).
MAX_GUIDANCE_SCALE = 50.0
#: Largest ControlNet conditioning scale accepted (1.0 by default; 0-2 in practice).
MAX_CONTROLNET_SCALE = 10.0
_SCALE_MAX = {"guidance_scale": MAX_GUIDANCE_SCALE, "controlnet_scale": MAX_CONTROLNET_SCALE}
_DIGEST_HEX = 64


class WireFormatError(ValueError):
    """A payload that cannot be encoded or must not be accepted; the message says why."""


@dataclass(frozen=True)
class Payload:
    """One decoded downlink message."""

    version: int
    """Wire format version the message was written with."""
    kind: str
    """``latent`` (o_k < 1: the device continues denoising) or ``image`` (o_k = 1: final x_0)."""
    mode: str
    """Payload encoding: fp32, fp16, q8zstd (latents) or png, jpeg, webp (images)."""
    shape: tuple[int, ...]
    """Latent shape (1, C, h, w) in latent cells, or image shape (H, W, 3) in pixels."""
    dtype: str
    """dtype of the payload as stored on the wire (float32, float16 or uint8)."""
    steps_done: int
    """Denoising steps already run, ⌊o_k T_k⌋ (eq. 4); the device starts at this index."""
    total_steps: int
    """T_k, the length of the schedule both sides use."""
    seed: int
    """Seed of z_T, for reproduction and logging."""
    condition_type: str
    """The ControlNet condition type (canny, hed, depth, seg) the steps used."""
    scheduler_config: Mapping[str, Any]
    """The scheduler configuration the edge used; the device must build the same schedule."""
    nbytes: int
    """Size of the whole message in bytes (header included): D(·) of eqs. (6)-(7)."""
    latents: torch.Tensor | None = None
    """Decoded latents, float32 (1, C, h, w), for kind ``latent``."""
    image: np.ndarray | None = None
    """Decoded image, uint8 (H, W, 3), for kind ``image``."""
    guidance_scale: float | None = None
    """Classifier-free guidance scale the edge used (optional field); the device must use the same."""
    controlnet_scale: float | None = None
    """ControlNet conditioning scale the edge used (optional field); the device must use the same."""
    request_digest: str | None = None
    """``request_digest`` of the request the message was computed for (optional field; 64 hex digits)."""


# --------------------------------------------------------------------------------------------
# shared checks
# --------------------------------------------------------------------------------------------


def _check_int(name: str, v: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise WireFormatError(f"{name} must be an integer, got {v!r}")
    v = int(v)
    if v < lo or (hi is not None and v > hi):
        raise WireFormatError(f"{name}={v} out of range [{lo}, {hi if hi is not None else '∞'}]")
    return v


def _check_common(h: Mapping[str, Any], kind: str) -> tuple[int, int, int, str, dict[str, Any]]:
    scheduler_config = h["scheduler_config"]
    if not isinstance(scheduler_config, Mapping):
        raise WireFormatError("scheduler_config must be a JSON object")
    n_train = scheduler_config.get("num_train_timesteps", 1000)
    total = _check_int("total_steps", h["total_steps"], 1, _check_int("num_train_timesteps", n_train, 1))
    done = _check_int("steps_done", h["steps_done"], 0, total)
    if kind == "image" and done != total:
        raise WireFormatError(f"an image payload must have steps_done == total_steps, got {done} of {total}")
    seed = _check_int("seed", h["seed"], 0, 2**63 - 1)
    cond = h["condition_type"]
    if cond not in CONDITION_TYPES:
        raise WireFormatError(f"condition_type must be one of {CONDITION_TYPES}, got {cond!r}")
    return done, total, seed, cond, dict(scheduler_config)


def _check_latent_shape(shape: Any) -> tuple[int, int, int, int]:
    if not isinstance(shape, (list, tuple)) or len(shape) != 4:
        raise WireFormatError(f"latent shape must be (1, C, h, w), got {shape!r}")
    b = _check_int("shape[0] (batch)", shape[0], 1, 1)
    c = _check_int("shape[1] (channels)", shape[1], 1, 16)
    h = _check_int("shape[2] (height)", shape[2], 1, _MAX_LATENT_SIDE)
    w = _check_int("shape[3] (width)", shape[3], 1, _MAX_LATENT_SIDE)
    return b, c, h, w


def _pack(header: dict[str, Any], payload: bytes) -> bytes:
    header = dict(header, payload_nbytes=len(payload))
    raw = json.dumps(header, separators=(",", ":"), sort_keys=True, allow_nan=False).encode("utf-8")
    if len(raw) > MAX_HEADER_BYTES:
        raise WireFormatError(f"header is {len(raw)} bytes, over the {MAX_HEADER_BYTES}-byte limit")
    return _PREFIX.pack(MAGIC, VERSION, len(raw), zlib.crc32(raw + payload)) + raw + payload


def _check_scale(name: str, v: Any) -> float | None:
    if v is None:
        return None
    hi = _SCALE_MAX[name]
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not math.isfinite(v) or not 0 <= v <= hi:
        raise WireFormatError(f"{name} must be a finite number in [0, {hi:g}], got {v!r}")
    return float(v)


def _check_digest(v: Any) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) or len(v) != _DIGEST_HEX or any(c not in "0123456789abcdef" for c in v):
        raise WireFormatError(f"request_digest must be {_DIGEST_HEX} lowercase hex digits, got {str(v)[:80]!r}")
    return v


def request_digest(*, prompt: str, negative_prompt: str, condition: bytes, seed: int, scheduler: str,
                   total_steps: int, steps_done: int) -> str:
    """SHA-256 (hex) binding a downlink message to its request: prompt, negative prompt, the uploaded
    condition bytes I_k(ν_k), seed, scheduler name, T_k and ⌊o_k T_k⌋ (eq. 4), canonically encoded."""
    if not isinstance(prompt, str) or not isinstance(negative_prompt, str) or not isinstance(scheduler, str):
        raise WireFormatError("prompt, negative_prompt and scheduler must be strings")
    if not isinstance(condition, (bytes, bytearray, memoryview)):
        raise WireFormatError(f"condition must be bytes, got {type(condition).__name__}")
    canon = {
        "v": 1,
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "condition_sha256": hashlib.sha256(bytes(condition)).hexdigest(),
        "seed": _check_int("seed", seed, 0, 2**63 - 1),
        "scheduler": scheduler,
        "total_steps": _check_int("total_steps", total_steps, 1),
        "steps_done": _check_int("steps_done", steps_done, 0),
    }
    raw = json.dumps(canon, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return hashlib.sha256(raw).hexdigest()


def check_request_digest(payload: "Payload", expected: str) -> None:
    """Refuse ``payload`` unless it carries ``expected`` (this side's ``request_digest`` of its request)."""
    if payload.request_digest is None:
        raise WireFormatError("the message carries no request_digest; cannot tell that it belongs to this request")
    if payload.request_digest != expected:
        raise WireFormatError(
            "request_digest mismatch: the message was computed for a different request (prompt, negative prompt, "
            "condition bytes, seed, scheduler or steps differ); refusing to continue")


def _base_header(kind: str, mode: str, shape: tuple[int, ...], steps_done: int, total_steps: int,
                 seed: int, condition_type: str, scheduler_config: Mapping[str, Any],
                 guidance_scale: float | None = None, controlnet_scale: float | None = None,
                 request_digest: str | None = None) -> dict[str, Any]:
    h = {
        "kind": kind,
        "mode": mode,
        "shape": list(shape),
        "dtype": _MODE_DTYPE[mode],
        "steps_done": steps_done,
        "total_steps": total_steps,
        "seed": seed,
        "condition_type": condition_type,
        "scheduler_config": dict(scheduler_config),
    }
    for name, v in (("guidance_scale", guidance_scale), ("controlnet_scale", controlnet_scale)):
        if v is not None:
            h[name] = _check_scale(name, v)
    if request_digest is not None:
        h["request_digest"] = _check_digest(request_digest)
    _check_common(h, kind)
    try:
        json.dumps(h["scheduler_config"], allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise WireFormatError(f"scheduler_config is not JSON-serialisable: {exc}") from None
    return h


# --------------------------------------------------------------------------------------------
# encoding
# --------------------------------------------------------------------------------------------


def _quantize_q8(x: np.ndarray) -> bytes:
    """Per-channel affine uint8 quantisation: mins (C float32), steps (C float32), codes (uint8)."""
    c = x.shape[1]
    flat = x.reshape(c, -1).astype(np.float32)
    lo = flat.min(axis=1)
    hi = flat.max(axis=1)
    step = ((hi - lo) / 255.0).astype(np.float32)
    safe = np.where(step > 0, step, 1.0).astype(np.float32)
    codes = np.clip(np.rint((flat - lo[:, None]) / safe[:, None]), 0, 255).astype(np.uint8)
    return lo.astype("<f4").tobytes() + step.astype("<f4").tobytes() + codes.tobytes()


def encode_latent(
    latents: torch.Tensor,
    *,
    steps_done: int,
    total_steps: int,
    seed: int,
    condition_type: str,
    scheduler_config: Mapping[str, Any],
    mode: str = "fp16",
    guidance_scale: float | None = None,
    controlnet_scale: float | None = None,
    request_digest: str | None = None,
) -> bytes:
    """Serialise the intermediate latent z(⌊o_k T_k⌋) that the edge hands to the device (eq. 6)."""
    if mode not in LATENT_MODES:
        raise WireFormatError(f"mode must be one of {LATENT_MODES}, got {mode!r}")
    if not isinstance(latents, torch.Tensor):
        raise WireFormatError(f"latents must be a torch.Tensor, got {type(latents).__name__}")
    shape = _check_latent_shape(tuple(latents.shape))
    x = latents.detach().to("cpu", torch.float32).numpy()
    if not np.isfinite(x).all():
        raise WireFormatError("latents contain NaN or Inf; refusing to send them")
    h = _base_header("latent", mode, shape, steps_done, total_steps, seed, condition_type, scheduler_config,
                     guidance_scale, controlnet_scale, request_digest)
    if mode == "fp32":
        payload = x.astype("<f4").tobytes()
    elif mode == "fp16":
        peak = float(np.abs(x).max())
        if peak > _FP16_MAX:
            raise WireFormatError(f"latent magnitude {peak:g} overflows float16 (max {_FP16_MAX}); use mode='fp32'")
        payload = x.astype("<f2").tobytes()
    else:
        import zstandard

        payload = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(_quantize_q8(x))
    return _pack(h, payload)


def encode_image(
    image_uint8: np.ndarray,
    *,
    total_steps: int,
    seed: int,
    condition_type: str,
    scheduler_config: Mapping[str, Any],
    fmt: str = "png",
    quality: int = 90,
    steps_done: int | None = None,
    guidance_scale: float | None = None,
    controlnet_scale: float | None = None,
    request_digest: str | None = None,
) -> bytes:
    """Serialise the final image x_0 for the o_k = 1 path (eq. 7); ``quality`` applies to jpeg/webp."""
    if fmt not in IMAGE_FORMATS:
        raise WireFormatError(f"fmt must be one of {IMAGE_FORMATS}, got {fmt!r}")
    arr = np.asarray(image_uint8)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise WireFormatError(f"image must be uint8 (H, W, 3), got {arr.dtype} {arr.shape}")
    _check_int("image height", arr.shape[0], 1, _MAX_IMAGE_SIDE)
    _check_int("image width", arr.shape[1], 1, _MAX_IMAGE_SIDE)
    _check_int("quality", quality, 1, 100)
    done = total_steps if steps_done is None else steps_done
    h = _base_header("image", fmt, tuple(arr.shape), done, total_steps, seed, condition_type, scheduler_config,
                     guidance_scale, controlnet_scale, request_digest)
    from PIL import Image

    buf = io.BytesIO()
    im = Image.fromarray(arr)
    if fmt == "png":
        im.save(buf, format="PNG", optimize=False, compress_level=6)
    elif fmt == "jpeg":
        im.save(buf, format="JPEG", quality=quality)
    else:
        im.save(buf, format="WEBP", quality=quality)
    return _pack(h, buf.getvalue())


# --------------------------------------------------------------------------------------------
# decoding
# --------------------------------------------------------------------------------------------

_REQUIRED = ("kind", "mode", "shape", "dtype", "steps_done", "total_steps", "seed", "condition_type",
             "scheduler_config", "payload_nbytes")


def decode_header(data: bytes) -> tuple[int, dict[str, Any], int]:
    """Parse the prefix and JSON header, check lengths and the CRC; return (version, header, payload offset)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise WireFormatError(f"payload must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < PREFIX_BYTES:
        raise WireFormatError(f"truncated: {len(data)} bytes, shorter than the {PREFIX_BYTES}-byte prefix")
    magic, version, hlen, crc = _PREFIX.unpack_from(data, 0)
    if magic != MAGIC:
        raise WireFormatError(f"not a mobigen payload: magic {magic!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise WireFormatError(f"unsupported wire format version {version}; this build reads version {VERSION}")
    if hlen > MAX_HEADER_BYTES:
        raise WireFormatError(f"header length {hlen} exceeds the {MAX_HEADER_BYTES}-byte limit")
    if len(data) < PREFIX_BYTES + hlen:
        raise WireFormatError(f"truncated: header needs {hlen} bytes, only {len(data) - PREFIX_BYTES} present")
    crc_ok = zlib.crc32(data[PREFIX_BYTES:]) == crc
    try:
        header = json.loads(data[PREFIX_BYTES : PREFIX_BYTES + hlen].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        why = "" if crc_ok else " (and the CRC-32 does not match: corrupted in transit)"
        raise WireFormatError(f"header is not valid UTF-8 JSON{why}: {exc}") from None
    if not isinstance(header, dict):
        raise WireFormatError("header must be a JSON object")
    if "payload_nbytes" in header:  # length problems first: they explain a CRC mismatch
        nbytes = _check_int("payload_nbytes", header["payload_nbytes"], 0)
        body_len = len(data) - PREFIX_BYTES - hlen
        if body_len < nbytes:
            raise WireFormatError(f"truncated: payload declares {nbytes} bytes, only {body_len} present")
        if body_len > nbytes:
            raise WireFormatError(f"{body_len - nbytes} unexpected trailing bytes after the payload")
    if not crc_ok:
        raise WireFormatError("checksum (CRC-32) mismatch: the bytes were corrupted in transit")
    missing = [k for k in _REQUIRED if k not in header]
    if missing:
        raise WireFormatError(f"header lacks field(s) {missing}")
    return version, header, PREFIX_BYTES + hlen


def decode_payload(data: bytes) -> Payload:
    """Parse, check and decode one downlink message; refuse anything malformed with WireFormatError."""
    version, h, offset = decode_header(data)
    data = bytes(data)
    kind, mode = h["kind"], h["mode"]
    if kind not in ("latent", "image"):
        raise WireFormatError(f"kind must be 'latent' or 'image', got {kind!r}")
    modes = LATENT_MODES if kind == "latent" else IMAGE_FORMATS
    if mode not in modes:
        raise WireFormatError(f"mode {mode!r} is not valid for kind {kind!r}; expected one of {modes}")
    if h["dtype"] != _MODE_DTYPE[mode]:
        raise WireFormatError(f"dtype {h['dtype']!r} does not match mode {mode!r} (expected {_MODE_DTYPE[mode]!r})")
    done, total, seed, cond, sched = _check_common(h, kind)
    body = data[offset:]

    common = dict(version=version, kind=kind, mode=mode, dtype=h["dtype"], steps_done=done, total_steps=total,
                  seed=seed, condition_type=cond, scheduler_config=sched, nbytes=len(data),
                  guidance_scale=_check_scale("guidance_scale", h.get("guidance_scale")),
                  controlnet_scale=_check_scale("controlnet_scale", h.get("controlnet_scale")),
                  request_digest=_check_digest(h.get("request_digest")))
    if kind == "latent":
        shape = _check_latent_shape(h["shape"])
        numel = math.prod(shape)
        x = _decode_latent_body(mode, body, shape, numel)
        if not np.isfinite(x).all():
            raise WireFormatError("latent payload contains NaN or Inf")
        return Payload(shape=shape, latents=torch.from_numpy(x.reshape(shape).copy()), **common)

    shape_any = h["shape"]
    if not isinstance(shape_any, (list, tuple)) or len(shape_any) != 3 or shape_any[2] != 3:
        raise WireFormatError(f"image shape must be (H, W, 3), got {shape_any!r}")
    ih = _check_int("image height", shape_any[0], 1, _MAX_IMAGE_SIDE)
    iw = _check_int("image width", shape_any[1], 1, _MAX_IMAGE_SIDE)
    img = _decode_image_body(mode, body)
    if img.shape != (ih, iw, 3):
        raise WireFormatError(f"decoded image shape {img.shape} does not match header shape {(ih, iw, 3)}")
    return Payload(shape=(ih, iw, 3), image=img, **common)


def _decode_latent_body(mode: str, body: bytes, shape: tuple[int, int, int, int], numel: int) -> np.ndarray:
    if mode in ("fp32", "fp16"):
        item = 4 if mode == "fp32" else 2
        if len(body) != numel * item:
            raise WireFormatError(
                f"payload has {len(body)} bytes but shape {shape} in {_MODE_DTYPE[mode]} needs {numel * item}"
            )
        return np.frombuffer(body, dtype="<f4" if mode == "fp32" else "<f2").astype(np.float32)
    import zstandard

    c = shape[1]
    expected = 8 * c + numel
    try:
        raw = zstandard.ZstdDecompressor().decompress(body, max_output_size=expected)
    except zstandard.ZstdError as exc:
        raise WireFormatError(f"q8zstd payload does not decompress: {exc}") from None
    if len(raw) != expected:
        raise WireFormatError(f"q8zstd payload decompresses to {len(raw)} bytes, shape {shape} needs {expected}")
    lo = np.frombuffer(raw[: 4 * c], dtype="<f4")
    step = np.frombuffer(raw[4 * c : 8 * c], dtype="<f4")
    if not (np.isfinite(lo).all() and np.isfinite(step).all()) or (step < 0).any():
        raise WireFormatError("q8zstd payload has non-finite or negative quantisation parameters (NaN/Inf)")
    codes = np.frombuffer(raw[8 * c :], dtype=np.uint8).reshape(c, -1).astype(np.float32)
    return (lo[:, None] + codes * step[:, None]).astype(np.float32).reshape(-1)


def _decode_image_body(mode: str, body: bytes) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    want = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[mode]
    try:
        with Image.open(io.BytesIO(body)) as im:
            if im.format != want:
                raise WireFormatError(f"image bytes are {im.format}, header says {mode}")
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise WireFormatError(f"image payload does not decode as {mode}: {exc}") from None


def dequantization_bound(latents: torch.Tensor) -> float:
    """Largest absolute error q8zstd may introduce on ``latents``: max over channels of (max-min)/510."""
    x = latents.detach().to("cpu", torch.float32).reshape(latents.shape[1], -1)
    return float(((x.max(dim=1).values - x.min(dim=1).values) / 510.0).max())
