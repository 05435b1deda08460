"""Extractors on real images (skipped with a reason without ../shared), PiDiNet strict load and
pixel-difference maths, Canny agreement, the weight-free fallback, registry caching."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mobigen.conditions import extractors
from mobigen.conditions.ade20k_palette import ADE_PALETTE
from mobigen.conditions.pidinet import PiDiNet, PixelDifferenceConv2d
from mobigen.settings import dataset_dir, weights_dir

PIDINET = weights_dir() / "pidinet" / "table5_pidinet.pth"
DATA = dataset_dir()

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"DreamBooth data set not found at {DATA} (set MOBIGEN_DATASET)")
needs_pidinet = pytest.mark.skipif(not PIDINET.is_file(), reason=f"PiDiNet checkpoint not found at {PIDINET} (set MOBIGEN_WEIGHTS)")


def _image(rel: str = "dog/00.jpg") -> np.ndarray:
    from mobigen.conditions.images import load_512

    return load_512(DATA / rel)


def _sample(n: int) -> list[Path]:
    from mobigen.conditions.profiler import list_images

    files = list_images(DATA)
    step = max(1, len(files) // n)
    return files[::step][:n]


# --- pixel difference convolutions: the kernel trick equals the paper's definitions ----------------

_RING_CW = (0, 1, 2, 5, 8, 7, 6, 3)


def _reference_pdc(op: str, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Direct evaluation of Sec. 3.1's formulas with explicit pixel differences (groups = 1)."""
    n, c, h, wd = x.shape
    o = w.shape[0]
    w9 = w.reshape(o, c, 9)
    if op == "rd":
        p = F.unfold(x, 5, padding=2).reshape(n, c, 25, h * wd)
        outer, inner = (0, 2, 4, 10, 14, 20, 22, 24), (6, 7, 8, 11, 13, 16, 17, 18)
        diff = p[:, :, list(outer)] - p[:, :, list(inner)]  # x_outer - x_inner per direction
        y = torch.einsum("ocj,ncjl->nol", w9[:, :, 1:], diff)
        return y.reshape(n, o, h, wd)
    p = F.unfold(x, 3, padding=1).reshape(n, c, 9, h * wd)
    if op == "cd":
        diff = p - p[:, :, 4:5]  # x_i - x_c
        y = torch.einsum("oci,ncil->nol", w9, diff)
    else:  # "ad": x_i - x_clockwise-next(i), centre excluded
        idx = list(_RING_CW)
        nxt = [_RING_CW[(k + 1) % 8] for k in range(8)]
        diff = p[:, :, idx] - p[:, :, nxt]
        y = torch.einsum("ocj,ncjl->nol", w9[:, :, idx], diff)
    return y.reshape(n, o, h, wd)


@pytest.mark.parametrize("op", ["cd", "ad", "rd"])
def test_pixel_difference_conv_matches_paper_definition(op: str) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 11, 13, generator=g)
    conv = PixelDifferenceConv2d(op, 3, 5)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(5, 3, 3, 3, generator=g))
        torch.testing.assert_close(conv(x), _reference_pdc(op, x, conv.weight), rtol=1e-4, atol=1e-4)


def test_cpdc_ignores_constant_offsets() -> None:
    """A difference conv is blind to a constant image (the point of pixel differences)."""
    conv = PixelDifferenceConv2d("cd", 1, 2)
    x = torch.full((1, 1, 8, 8), 3.0)
    assert conv(x)[:, :, 1:-1, 1:-1].abs().max() < 1e-5


# --- PiDiNet checkpoint ------------------------------------------------------------------------------


@needs_pidinet
def test_pidinet_loads_every_tensor_strictly() -> None:
    ckpt = torch.load(PIDINET, map_location="cpu", weights_only=True)
    state = {k.removeprefix("module."): v for k, v in ckpt["state_dict"].items()}
    net = PiDiNet()
    result = net.load_state_dict(state, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    own = net.state_dict()
    assert set(own) == set(state)
    assert all(own[k].shape == v.shape for k, v in state.items())
    assert sum(v.numel() for v in state.values()) == sum(p.numel() for p in net.parameters()) == 710_149


@needs_pidinet
@needs_data
def test_pidinet_agrees_with_canny_on_strong_edges() -> None:
    """Strong edges = Canny at 3x ControlNet's thresholds (300/600). Recall = share of them within
    2 px of a PiDiNet edge (output >= 64/255). Calibration on 8 data set images (every 20th):
    mean recall 0.83 (min 0.70), while PiDiNet maps of *another* image give 0.20 (chance, since
    PiDiNet marks ~15 % of pixels). We require mean >= 0.65 and >= chance + 0.3 on 3 images."""
    hed = extractors.get_extractor("hed")
    assert hed.backend == "pidinet"
    imgs = [_image(p.relative_to(DATA).as_posix()) for p in _sample(3)]
    edges = [cv2.dilate((hed(x)[..., 0] >= 64).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0 for x in imgs]
    recall, chance = [], []
    for i, x in enumerate(imgs):
        strong = cv2.Canny(x, 300, 600) > 0
        assert strong.sum() > 100
        recall.append(edges[i][strong].mean())
        chance.append(edges[(i + 1) % len(imgs)][strong].mean())
    assert np.mean(recall) >= 0.65, recall
    assert np.mean(recall) >= np.mean(chance) + 0.3, (recall, chance)


def test_hed_fallback_without_weights(tmp_path: Path) -> None:
    ext = extractors.get_extractor("hed", weights_dir=tmp_path)
    assert ext.backend == "pidinet-fallback-sobel"
    img = np.zeros((512, 512, 3), np.uint8)
    img[:, 256:] = 255
    out, backend = extractors.extract_labelled("hed", img, weights_dir=tmp_path)
    assert backend == "pidinet-fallback-sobel"
    assert out.shape == (512, 512, 3) and out[..., 0].max() == 255
    assert out[:, 252:260].mean() > 100 and out[:, 20:200].max() == 0  # edge at the step only


# --- the four extractors on a real image --------------------------------------------------------------


@needs_data
def test_canny_real_image() -> None:
    out = extractors.extract("canny", _image())
    assert extractors.get_extractor("canny").backend == "opencv"
    assert out.shape == (512, 512, 3) and out.dtype == np.uint8
    assert set(np.unique(out)) == {0, 255}
    assert np.array_equal(out[..., 0], out[..., 2])
    assert 0.005 < (out[..., 0] > 0).mean() < 0.3  # some edges, mostly black


@needs_data
@pytest.mark.skipif(not (weights_dir() / "mobilepydnet").is_dir(), reason="PyDNet weights not found (set MOBIGEN_WEIGHTS)")
def test_depth_real_image() -> None:
    ext = extractors.get_extractor("depth")
    assert ext.backend == "pydnet-tflite"
    out = ext(_image())
    assert out.shape == (512, 512, 3) and out.dtype == np.uint8
    assert np.array_equal(out[..., 0], out[..., 1])
    assert out.min() == 0 and out.max() == 255  # robust min-max spans the range
    assert len(np.unique(out)) > 50  # a graded map, not a mask


@needs_data
@pytest.mark.skipif(not (weights_dir() / "deeplabv3_mnv2_ade20k").is_dir(), reason="DeepLab weights not found (set MOBIGEN_WEIGHTS)")
def test_seg_real_image_uses_controlnet_palette() -> None:
    ext = extractors.get_extractor("seg")
    assert ext.backend == "deeplabv3-tflite"
    out = ext(_image("backpack/00.jpg"))
    assert out.shape == (512, 512, 3) and out.dtype == np.uint8
    colours = {tuple(c) for c in np.unique(out.reshape(-1, 3), axis=0)}
    palette = {tuple(c) for c in ADE_PALETTE}
    assert colours <= palette and len(colours) >= 2
    # 'person' (ADE class 13 -> palette index 12, colour (150, 5, 61)) covers part of this photo
    assert (out == np.array([150, 5, 61], np.uint8)).all(axis=2).mean() > 0.05


def test_missing_tflite_weights_raise_clear_error(tmp_path: Path) -> None:
    for name in ("depth", "seg"):
        with pytest.raises(extractors.WeightsMissingError, match="MOBIGEN_WEIGHTS"):
            extractors.get_extractor(name, weights_dir=tmp_path)


def test_registry_caches_and_validates() -> None:
    assert extractors.get_extractor("canny") is extractors.get_extractor("canny")
    with pytest.raises(ValueError, match="condition"):
        extractors.get_extractor("sketch")
    with pytest.raises(ValueError, match="rgb"):
        extractors.extract("canny", np.zeros((256, 256, 3), np.uint8))
    with pytest.raises(ValueError, match="rgb"):
        extractors.extract("canny", np.zeros((512, 512, 3), np.float32))


@needs_data
def test_extraction_is_deterministic() -> None:
    img = _image("cat/00.jpg")
    for name in ("canny", "depth", "seg"):  # (PiDiNet: plain CPU torch inference, not re-run here for time)
        np.testing.assert_array_equal(extractors.extract(name, img), extractors.extract(name, img))


def test_bench_extract_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mobigen.cli import main

    for args, word in ((["--threads", "0"], "threads"), (["--images", "0"], "images"),
                       (["--json", str(tmp_path)], "--json"), (["--dataset", str(tmp_path)], "dataset")):
        assert main(["bench", "extract", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert word in err and "\n" not in err and "Traceback" not in err


def test_corrupt_weights_raise_clear_error(tmp_path: Path) -> None:
    from mobigen.conditions import depth, hed, seg

    for rel in (hed.CHECKPOINT, depth.MODEL, seg.MODEL):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"not a model" * 100)
    for name, rel in (("hed", hed.CHECKPOINT), ("depth", depth.MODEL), ("seg", seg.MODEL)):
        with pytest.raises(ValueError, match=f"{name}: .*{re.escape(rel.name)}.*could not be loaded"):
            extractors.get_extractor(name, weights_dir=tmp_path)
