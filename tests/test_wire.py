"""Wire format of the split handoff: round trips, sizes, and every refusal case."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mobigen.generation.components import SD15_SCHEDULER_CONFIG
from mobigen.generation.wire import (
    IMAGE_FORMATS,
    MAGIC,
    PREFIX_BYTES,
    WireFormatError,
    decode_header,
    decode_payload,
    dequantization_bound,
    encode_image,
    encode_latent,
)

META = dict(steps_done=7, total_steps=20, seed=42, condition_type="depth", scheduler_config=SD15_SCHEDULER_CONFIG)


def _latent(seed: int = 0, shape=(1, 4, 64, 64), scale: float = 1.0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * scale


def _pack(header: dict, body: bytes, version: int = 1, magic: bytes = MAGIC) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<4sHII", magic, version, len(raw), zlib.crc32(raw + body)) + raw + body


def _repack(data: bytes, payload: bytes | None = None, version: int = 1, **changes) -> bytes:
    """Rewrite a valid message with header changes (and optionally a new payload), CRC recomputed."""
    _, header, offset = decode_header(data)
    body = data[offset:] if payload is None else payload
    header.update(changes)
    if payload is not None:
        header["payload_nbytes"] = len(body)
    return _pack(header, body, version=version)


# ------------------------------------------------------------------ round trips and sizes


def test_fp32_round_trip_is_exact_and_header_fields_survive():
    z = _latent()
    p = decode_payload(encode_latent(z, mode="fp32", **META))
    assert torch.equal(p.latents, z)
    assert (p.kind, p.mode, p.dtype, p.shape) == ("latent", "fp32", "float32", (1, 4, 64, 64))
    assert (p.steps_done, p.total_steps, p.seed, p.condition_type) == (7, 20, 42, "depth")
    assert dict(p.scheduler_config) == SD15_SCHEDULER_CONFIG
    assert p.version == 1


def test_fp16_size_matches_paper_order_and_error_is_half_precision():
    z = _latent()
    data = encode_latent(z, mode="fp16", **META)
    p = decode_payload(data)
    # 4x64x64 float16 = 32,768 payload bytes; the header (with the full scheduler config) is small.
    assert p.nbytes == len(data)
    assert 32_768 < len(data) < 32_768 + 1_024  # paper: ≈ 33 KB
    assert torch.equal(p.latents, z.half().float())
    assert float((p.latents - z).abs().max()) <= float(z.abs().max()) * 2**-11 + 1e-7


def test_q8zstd_is_smaller_and_error_within_half_step():
    z = _latent(1, scale=2.0)
    data = encode_latent(z, mode="q8zstd", **META)
    p = decode_payload(data)
    err = float((p.latents - z).abs().max())
    assert err <= dequantization_bound(z) * (1 + 1e-5) + 1e-6
    assert err > 0  # lossy for real: the bound is not vacuous
    assert len(data) < len(encode_latent(z, mode="fp16", **META))


def test_q8zstd_constant_channel_is_exact():
    z = torch.full((1, 4, 8, 8), 0.25)
    p = decode_payload(encode_latent(z, mode="q8zstd", **META))
    assert torch.equal(p.latents, z)


@pytest.mark.parametrize("fmt", IMAGE_FORMATS)
def test_image_round_trip(fmt):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:96]
    img = np.stack([(xx * 2) % 256, (yy * 3) % 256, (xx + yy) % 256], axis=2).astype(np.uint8)
    img[::7] = rng.integers(0, 255, size=(img[::7].shape), dtype=np.uint8)
    meta = {k: v for k, v in META.items() if k != "steps_done"}
    p = decode_payload(encode_image(img, fmt=fmt, **meta))
    assert p.kind == "image" and p.image.shape == (64, 96, 3) and p.image.dtype == np.uint8
    assert p.steps_done == p.total_steps == 20
    if fmt == "png":
        assert np.array_equal(p.image, img)


@settings(max_examples=25, deadline=None)
@given(c=st.integers(1, 16), h=st.integers(1, 24), w=st.integers(1, 24), seed=st.integers(0, 10**6),
       done=st.integers(0, 50), extra=st.integers(0, 50))
def test_fp32_round_trip_any_shape(c, h, w, seed, done, extra):
    z = _latent(seed, (1, c, h, w))
    meta = dict(META, steps_done=done, total_steps=done + max(extra, 1) if done == 0 else done + extra)
    p = decode_payload(encode_latent(z, mode="fp32", **meta))
    assert torch.equal(p.latents, z) and p.steps_done == done


# ------------------------------------------------------------------ refusals


@pytest.fixture(scope="module")
def good() -> bytes:
    return encode_latent(_latent(), mode="fp16", **META)


def test_refuses_wrong_magic(good):
    with pytest.raises(WireFormatError, match="magic"):
        decode_payload(b"XXXX" + good[4:])


def test_refuses_wrong_version(good):
    with pytest.raises(WireFormatError, match="version 2"):
        decode_payload(_repack(good, version=2))


@pytest.mark.parametrize("cut", [0, 3, PREFIX_BYTES, PREFIX_BYTES + 10, -1, -1000])
def test_refuses_truncated(good, cut):
    with pytest.raises(WireFormatError, match="truncated"):
        decode_payload(good[:cut])


def test_refuses_trailing_bytes(good):
    with pytest.raises(WireFormatError, match="trailing"):
        decode_payload(good + b"\x00")


@pytest.mark.parametrize("where", [-5, PREFIX_BYTES + 30])  # in the payload; in the header's JSON
def test_refuses_corrupted_bytes(good, where):
    bad = bytearray(good)
    bad[where] ^= 0x01
    with pytest.raises(WireFormatError, match="CRC-32"):
        decode_payload(bytes(bad))


def test_refuses_bad_json_and_missing_fields(good):
    raw = b"{not json"
    with pytest.raises(WireFormatError, match="JSON"):
        decode_payload(struct.pack("<4sHII", MAGIC, 1, len(raw), zlib.crc32(raw)) + raw)
    _, header, offset = decode_header(good)
    del header["seed"]
    with pytest.raises(WireFormatError, match="seed"):
        decode_payload(_pack(header, good[offset:]))
    with pytest.raises(WireFormatError, match="JSON object"):
        decode_payload(_pack([1, 2], b""))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"dtype": "float32"}, "dtype"),
        ({"dtype": "bfloat16"}, "dtype"),
        ({"mode": "fp8"}, "mode"),
        ({"kind": "video"}, "kind"),
        ({"shape": [1, 4, 64, 32]}, "needs"),
        ({"shape": [2, 4, 64, 32]}, "batch"),
        ({"shape": [1, 4, 64]}, "shape"),
        ({"shape": [1, 4, 0, 64]}, "height"),
        ({"shape": [1, 4, 100000, 64]}, "height"),
        ({"steps_done": 21}, "steps_done"),
        ({"steps_done": -1}, "steps_done"),
        ({"total_steps": 0}, "total_steps"),
        ({"total_steps": 1001}, "total_steps"),
        ({"steps_done": 2.5}, "steps_done"),
        ({"seed": -3}, "seed"),
        ({"condition_type": "sketch"}, "condition_type"),
        ({"scheduler_config": [1, 2]}, "scheduler_config"),
    ],
)
def test_refuses_bad_header_fields(good, changes, match):
    with pytest.raises(WireFormatError, match=match):
        decode_payload(_repack(good, **changes))


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_refuses_nan_inf_payload(bad_value):
    z = _latent(shape=(1, 4, 8, 8))
    ok = encode_latent(z, mode="fp32", **META)
    arr = z.numpy().astype("<f4").copy()
    arr[0, 1, 2, 3] = bad_value
    with pytest.raises(WireFormatError, match="NaN or Inf"):
        decode_payload(_repack(ok, payload=arr.tobytes()))
    ok16 = encode_latent(z, mode="fp16", **META)
    with pytest.raises(WireFormatError, match="NaN or Inf"):
        decode_payload(_repack(ok16, payload=arr.astype("<f2").tobytes()))


def test_refuses_q8_with_nan_params_or_garbage():
    import zstandard

    z = _latent(shape=(1, 4, 8, 8))
    ok = encode_latent(z, mode="q8zstd", **META)
    raw = np.full(4, np.nan, "<f4").tobytes() + np.ones(4, "<f4").tobytes() + bytes(256)
    with pytest.raises(WireFormatError, match="NaN/Inf"):
        decode_payload(_repack(ok, payload=zstandard.ZstdCompressor().compress(raw)))
    with pytest.raises(WireFormatError, match="decompress"):
        decode_payload(_repack(ok, payload=b"garbage-not-zstd"))
    short = zstandard.ZstdCompressor().compress(raw[:100])
    with pytest.raises(WireFormatError, match="decompresses to"):
        decode_payload(_repack(ok, payload=short))


def test_refuses_image_with_inconsistent_header():
    img = np.zeros((32, 32, 3), np.uint8)
    meta = {k: v for k, v in META.items() if k != "steps_done"}
    ok = encode_image(img, fmt="png", **meta)
    with pytest.raises(WireFormatError, match="steps_done == total_steps"):
        decode_payload(_repack(ok, steps_done=3))
    with pytest.raises(WireFormatError, match="does not match header shape"):
        decode_payload(_repack(ok, shape=[32, 16, 3]))
    with pytest.raises(WireFormatError, match="header says jpeg"):
        decode_payload(_repack(ok, mode="jpeg"))
    with pytest.raises(WireFormatError, match="does not decode"):
        decode_payload(_repack(ok, payload=b"\x89PNG broken"))


def test_encode_refuses_bad_input():
    with pytest.raises(WireFormatError, match="NaN or Inf"):
        encode_latent(torch.tensor([[[[float("nan")]]]]), mode="fp16", **META)
    with pytest.raises(WireFormatError, match="overflows float16"):
        encode_latent(torch.full((1, 4, 2, 2), 1e6), mode="fp16", **META)
    with pytest.raises(WireFormatError, match="mode"):
        encode_latent(_latent(), mode="bf16", **META)
    with pytest.raises(WireFormatError, match="steps_done"):
        encode_latent(_latent(), mode="fp16", **dict(META, steps_done=21))
    with pytest.raises(WireFormatError, match="shape"):
        encode_latent(torch.zeros(4, 64, 64), mode="fp16", **META)
    with pytest.raises(WireFormatError, match="uint8"):
        encode_image(np.zeros((8, 8, 3), np.float32), total_steps=3, seed=0, condition_type="canny",
                     scheduler_config=SD15_SCHEDULER_CONFIG)
    assert issubclass(WireFormatError, ValueError)


@settings(max_examples=60, deadline=None)
@given(pos=st.integers(0, 10_000), flip=st.integers(1, 255))
def test_any_single_byte_corruption_is_refused_cleanly(pos, flip):
    data = bytearray(encode_latent(_latent(shape=(1, 4, 8, 8)), mode="q8zstd", **META))
    data[pos % len(data)] ^= flip
    with pytest.raises(WireFormatError):
        decode_payload(bytes(data))


# ------------------------------------------------------------------ request digest and scale bounds

REQ = dict(prompt="a dog", negative_prompt="", condition=b"\xff\xd8 condition bytes", seed=3, scheduler="ddim",
           total_steps=20, steps_done=7)


def test_request_digest_is_canonical_and_binds_every_field():
    from mobigen.generation.wire import request_digest

    d = request_digest(**REQ)
    assert len(d) == 64 and all(c in "0123456789abcdef" for c in d)
    assert request_digest(**dict(reversed(list(REQ.items())))) == d  # keyword order does not matter
    changed = {"prompt": "a cat", "negative_prompt": "blurry", "condition": REQ["condition"] + b"\x00", "seed": 4,
               "scheduler": "euler", "total_steps": 21, "steps_done": 8}
    digests = {k: request_digest(**dict(REQ, **{k: v})) for k, v in changed.items()}
    assert d not in digests.values() and len(set(digests.values())) == len(changed)
    with pytest.raises(WireFormatError, match="seed"):
        request_digest(**dict(REQ, seed=-1))


def test_request_digest_travels_in_the_header_and_bad_ones_are_refused():
    from mobigen.generation.wire import check_request_digest, request_digest

    d = request_digest(**REQ)
    p = decode_payload(encode_latent(_latent(shape=(1, 4, 8, 8)), mode="fp16", request_digest=d, **META))
    assert p.request_digest == d
    check_request_digest(p, d)
    with pytest.raises(WireFormatError, match="request_digest mismatch"):
        check_request_digest(p, request_digest(**dict(REQ, prompt="a cat")))
    bare = decode_payload(encode_latent(_latent(shape=(1, 4, 8, 8)), mode="fp16", **META))
    assert bare.request_digest is None
    with pytest.raises(WireFormatError, match="no request_digest"):
        check_request_digest(bare, d)
    ok = encode_latent(_latent(shape=(1, 4, 8, 8)), mode="fp16", request_digest=d, **META)
    for bad in ("XYZ", d.upper(), d[:-1], 12):
        with pytest.raises(WireFormatError, match="request_digest must be"):
            decode_payload(_repack(ok, request_digest=bad))
    with pytest.raises(WireFormatError, match="request_digest must be"):
        encode_latent(_latent(shape=(1, 4, 8, 8)), mode="fp16", request_digest="nope", **META)


@pytest.mark.parametrize("name,bad", [("guidance_scale", 1e30), ("guidance_scale", 51.0), ("controlnet_scale", 1e30),
                                      ("controlnet_scale", -0.5), ("guidance_scale", float("inf"))])
def test_absurd_guidance_scales_are_refused_both_ways(name, bad):
    from mobigen.generation.wire import MAX_CONTROLNET_SCALE, MAX_GUIDANCE_SCALE

    ok = encode_latent(_latent(shape=(1, 4, 8, 8)), mode="fp16", guidance_scale=MAX_GUIDANCE_SCALE,
                       controlnet_scale=MAX_CONTROLNET_SCALE, **META)
    assert decode_payload(ok).guidance_scale == MAX_GUIDANCE_SCALE  # the bounds themselves are accepted
    with pytest.raises(WireFormatError, match=name):
        decode_payload(_repack(ok, **{name: bad}))  # json.dumps writes inf as Infinity, which json.loads reads
    with pytest.raises(WireFormatError, match=name):
        encode_latent(_latent(shape=(1, 4, 8, 8)), mode="fp16", **{name: bad}, **META)
