"""codec.encode/decode: real bytes, α/β/codec validation, grey single-channel, round-trips."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from mobigen.conditions import codec
from mobigen.conditions.ade20k_palette import ADE_PALETTE
from mobigen.scenario import ALPHAS, BETAS


def _edges(seed: int = 0) -> np.ndarray:
    """A Canny-like map: white 1-px lines on black, three equal channels."""
    rng = np.random.default_rng(seed)
    g = np.zeros((512, 512), np.uint8)
    for _ in range(40):
        x0, y0, x1, y1 = (int(v) for v in rng.integers(0, 512, 4))
        cv2.line(g, (x0, y0), (x1, y1), 255, 1)
    return np.repeat(g[:, :, None], 3, axis=2)


def _soft(seed: int = 1) -> np.ndarray:
    g = cv2.GaussianBlur(_edges(seed)[..., 0].astype(np.float32), (0, 0), 2.0) * 4
    g = np.clip(g, 0, 255).astype(np.uint8)
    return np.repeat(g[:, :, None], 3, axis=2)


def _seg(seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cls = np.zeros((512, 512), np.uint8)
    for _ in range(8):
        x, y, r = (int(v) for v in rng.integers(0, 512, 3))
        cv2.circle(cls, (x, y), r // 3 + 10, int(rng.integers(1, 150)), -1)
    return ADE_PALETTE[cls]


@pytest.mark.parametrize("name", codec.CODECS)
@pytest.mark.parametrize("alpha", [0.125, 0.5, 1.0])
def test_roundtrip_shape_and_real_bytes(name: str, alpha: float) -> None:
    for cond in (_edges(), _seg()):
        data = codec.encode(cond, alpha, 0.6, name)
        assert isinstance(data, bytes) and len(data) > 0
        assert codec.sniff(data) == name
        out = codec.decode(data)
        assert out.shape == (512, 512, 3) and out.dtype == np.uint8
        # the encoded picture really has the α side
        side = Image.open(io.BytesIO(data)).size
        assert side == (round(512 * alpha), round(512 * alpha))


def test_validation_names_the_field() -> None:
    c = _edges()
    with pytest.raises(ValueError, match="alpha"):
        codec.encode(c, 0.3, 0.5)
    with pytest.raises(ValueError, match="beta"):
        codec.encode(c, 0.5, 1.5)
    with pytest.raises(ValueError, match="beta"):
        codec.encode(c, 0.5, "high")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="codec"):
        codec.encode(c, 0.5, 0.5, "gif")
    with pytest.raises(ValueError, match="condition"):
        codec.encode(c[..., 0], 0.5, 0.5)
    with pytest.raises(ValueError, match="condition"):
        codec.encode(c.astype(np.float32), 0.5, 0.5)
    for a in ALPHAS:
        assert codec.check_alpha(a) == a
    for b in BETAS:
        assert codec.check_beta(b) == b


def test_quality_mappings() -> None:
    assert [codec.jpeg_quality(b) for b in (0.2, 0.5, 0.9, 1.0)] == [20, 50, 90, 95]
    assert [codec.webp_quality(b) for b in (0.2, 1.0)] == [20, 100]
    assert [codec.png_bits(b) for b in (0.2, 0.5, 1.0)] == [2, 4, 8]
    assert [codec.side(a) for a in (0.125, 0.375, 1.0)] == [64, 192, 512]


def test_grey_conditions_are_single_channel_and_smaller() -> None:
    c = _soft()
    data = codec.encode(c, 1.0, 0.8, "jpeg")
    raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert raw.ndim == 2
    tinted = c.copy()
    tinted[0, 0, 1] ^= 1  # no longer grey -> colour path
    colour = codec.encode(tinted, 1.0, 0.8, "jpeg")
    assert cv2.imdecode(np.frombuffer(colour, np.uint8), cv2.IMREAD_UNCHANGED).ndim == 3
    assert len(data) < len(colour)
    out = codec.decode(data)
    np.testing.assert_array_equal(out[..., 0], out[..., 1])


def test_bytes_grow_with_alpha_and_beta() -> None:
    c = _soft()
    by_alpha = [len(codec.encode(c, a, 0.6, "jpeg")) for a in ALPHAS]
    by_beta = [len(codec.encode(c, 0.5, b, "jpeg")) for b in BETAS]
    assert by_alpha == sorted(by_alpha) and by_alpha[0] < by_alpha[-1] / 4
    assert by_beta == sorted(by_beta) and by_beta[0] < by_beta[-1]


def test_png_lossless_cases() -> None:
    e = _soft()
    np.testing.assert_array_equal(codec.decode(codec.encode(e, 1.0, 1.0, "png")), e)  # 8 bits: exact
    coarse = codec.decode(codec.encode(e, 1.0, 0.2, "png"))  # 2 bits: 4 grey levels
    assert len(np.unique(coarse)) <= 4
    s = _seg()
    assert not codec.beta_matters(s, "png") and codec.beta_matters(s, "jpeg") and codec.beta_matters(e, "png")
    d1, d2 = codec.encode(s, 1.0, 0.2, "png"), codec.encode(s, 1.0, 1.0, "png")
    assert d1 == d2
    np.testing.assert_array_equal(codec.decode(d1), s)  # palette PNG: exact colours
    half = codec.decode(codec.encode(s, 0.5, 0.2, "png"))
    assert set(map(tuple, half.reshape(-1, 3))) <= set(map(tuple, s.reshape(-1, 3)))  # nearest: no new colours


def test_deterministic_bytes() -> None:
    c = _edges(3)
    for name in codec.CODECS:
        assert codec.encode(c, 0.375, 0.7, name) == codec.encode(c, 0.375, 0.7, name)


def test_decode_rejects_garbage_and_oversize() -> None:
    with pytest.raises(ValueError, match="data"):
        codec.decode(b"garbage bytes, not an image")
    with pytest.raises(ValueError, match="data"):
        codec.decode(b"")
    big = cv2.imencode(".png", np.zeros((1024, 1024), np.uint8))[1].tobytes()
    with pytest.raises(ValueError, match="larger than 512x512"):
        codec.decode(big)
    for name in codec.CODECS:
        good = codec.encode(_edges(), 0.5, 0.5, name)
        for cut in (40, len(good) // 2, len(good) - 3):
            with pytest.raises(ValueError, match="data"):
                codec.decode(good[:cut])


# --- fidelity of decoded conditions (fidelity.py) -----------------------------------------------------


def test_fidelity_identity_and_extremes() -> None:
    from mobigen.conditions.fidelity import fidelity

    e, s, soft = _edges(), _seg(), _soft()
    for cond, ref in (("canny", e), ("hed", soft), ("depth", soft), ("seg", s)):
        assert fidelity(cond, ref, ref) == pytest.approx(1.0)
    black = np.zeros_like(e)
    assert fidelity("canny", e, black) == 0.0 and fidelity("canny", black, black) == 1.0
    shifted = np.roll(e, 2, axis=1)  # within the 2-px tolerance
    far = np.roll(e, 40, axis=1)
    assert fidelity("canny", e, shifted) > 0.9 > fidelity("canny", e, far)
    other = np.roll(s, 100, axis=0)
    assert fidelity("seg", s, other) < 0.9
    with pytest.raises(ValueError, match="condition"):
        fidelity("sketch", e, e)
    with pytest.raises(ValueError, match="decoded"):
        fidelity("canny", e, e[:256])


@pytest.mark.parametrize("cond,make", [("canny", _edges), ("hed", _soft), ("depth", _soft), ("seg", _seg)])
def test_fidelity_falls_with_compression(cond: str, make) -> None:  # type: ignore[no-untyped-def]
    from mobigen.conditions.fidelity import fidelity

    ref = make()
    hi = fidelity(cond, ref, codec.decode(codec.encode(ref, 1.0, 1.0, "jpeg")))
    lo = fidelity(cond, ref, codec.decode(codec.encode(ref, 0.125, 0.2, "jpeg")))
    assert 0.0 <= lo < hi <= 1.0
