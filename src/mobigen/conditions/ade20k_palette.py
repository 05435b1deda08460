"""The ADE20K colour palette that ControlNet v1.1's segmentation model was trained on.

ControlNet's seg annotator (``annotator/uniformer``, an mmsegmentation UperNet on ADE20K) colours
class ``i`` (0..149, ``wall`` .. ``flag``) with ``ADE_PALETTE[i]``; this is mmsegmentation's
``ADE20KDataset.PALETTE`` / ``ade_palette()``. The DeepLab TFLite model we run instead has 151
outputs: 0 = "background / other" and 1..150 = the same 150 ADE20K classes in the same order
(``labels.txt``), so model class ``c >= 1`` is coloured ``ADE_PALETTE[c - 1]``.

Note: the palette has duplicate colours (e.g. [140, 140, 140] for classes 6 and 48 of the
0-based table); colour -> class maps to the first index, consistently for reference and decoded maps.
"""

from __future__ import annotations

import numpy as np

_PALETTE = [
    [120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50],
    [4, 200, 3], [120, 120, 80], [140, 140, 140], [204, 5, 255],
    [230, 230, 230], [4, 250, 7], [224, 5, 255], [235, 255, 7],
    [150, 5, 61], [120, 120, 70], [8, 255, 51], [255, 6, 82],
    [143, 255, 140], [204, 255, 4], [255, 51, 7], [204, 70, 3],
    [0, 102, 200], [61, 230, 250], [255, 6, 51], [11, 102, 255],
    [255, 7, 71], [255, 9, 224], [9, 7, 230], [220, 220, 220],
    [255, 9, 92], [112, 9, 255], [8, 255, 214], [7, 255, 224],
    [255, 184, 6], [10, 255, 71], [255, 41, 10], [7, 255, 255],
    [224, 255, 8], [102, 8, 255], [255, 61, 6], [255, 194, 7],
    [255, 122, 8], [0, 255, 20], [255, 8, 41], [255, 5, 153],
    [6, 51, 255], [235, 12, 255], [160, 150, 20], [0, 163, 255],
    [140, 140, 140], [250, 10, 15], [20, 255, 0], [31, 255, 0],
    [255, 31, 0], [255, 224, 0], [153, 255, 0], [0, 0, 255],
    [255, 71, 0], [0, 235, 255], [0, 173, 255], [31, 0, 255],
    [11, 200, 200], [255, 82, 0], [0, 255, 245], [0, 61, 255],
    [0, 255, 112], [0, 255, 133], [255, 0, 0], [255, 163, 0],
    [255, 102, 0], [194, 255, 0], [0, 143, 255], [51, 255, 0],
    [0, 82, 255], [0, 255, 41], [0, 255, 173], [10, 0, 255],
    [173, 255, 0], [0, 255, 153], [255, 92, 0], [255, 0, 255],
    [255, 0, 245], [255, 0, 102], [255, 173, 0], [255, 0, 20],
    [255, 184, 184], [0, 31, 255], [0, 255, 61], [0, 71, 255],
    [255, 0, 204], [0, 255, 194], [0, 255, 82], [0, 10, 255],
    [0, 112, 255], [51, 0, 255], [0, 194, 255], [0, 122, 255],
    [0, 255, 163], [255, 153, 0], [0, 255, 10], [255, 112, 0],
    [143, 255, 0], [82, 0, 255], [163, 255, 0], [255, 235, 0],
    [8, 184, 170], [133, 0, 255], [0, 255, 92], [184, 0, 255],
    [255, 0, 31], [0, 184, 255], [0, 214, 255], [255, 0, 112],
    [92, 255, 0], [0, 224, 255], [112, 224, 255], [70, 184, 160],
    [163, 0, 255], [153, 0, 255], [71, 255, 0], [255, 0, 163],
    [255, 204, 0], [255, 0, 143], [0, 255, 235], [133, 255, 0],
    [255, 0, 235], [245, 0, 255], [255, 0, 122], [255, 245, 0],
    [10, 190, 212], [214, 255, 0], [0, 204, 255], [20, 0, 255],
    [255, 255, 0], [0, 153, 255], [0, 41, 255], [0, 255, 204],
    [41, 0, 255], [41, 255, 0], [173, 0, 255], [0, 245, 255],
    [71, 0, 255], [122, 0, 255], [0, 255, 184], [0, 92, 255],
    [184, 255, 0], [0, 133, 255], [255, 214, 0], [25, 194, 194],
    [102, 255, 0], [92, 0, 255],
]

ADE_PALETTE: np.ndarray = np.asarray(_PALETTE, dtype=np.uint8)
"""(150, 3) uint8 RGB colour of ADE20K class 0..149 (ControlNet / mmseg order)."""

if ADE_PALETTE.shape != (150, 3):  # pragma: no cover - guards the table above
    raise RuntimeError(f"ADE20K palette must have 150 colours, has {ADE_PALETTE.shape[0]}")


def colorize(classes: np.ndarray) -> np.ndarray:
    """Colour an HxW map of palette indices 0..149 to an HxWx3 uint8 RGB image."""
    idx = np.asarray(classes)
    if idx.min(initial=0) < 0 or idx.max(initial=0) >= len(ADE_PALETTE):
        raise ValueError(f"classes: palette indices must lie in [0, {len(ADE_PALETTE) - 1}]")
    return ADE_PALETTE[idx.astype(np.intp)]


def _pack(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def nearest_class(rgb: np.ndarray) -> np.ndarray:
    """Map each pixel of an HxWx3 RGB image to the palette index of its nearest palette colour
    (Euclidean in RGB; duplicate colours -> the lowest index). Exact: every distinct colour is
    resolved once with a k-d tree and memoised in a 2^24-entry table (32 MB, built on first use)."""
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"rgb: expected HxWx3, got shape {arr.shape}")
    lut = _lut()
    packed = _pack(arr).ravel()
    out = lut[packed]
    missing = out < 0
    if missing.any():
        from scipy.spatial import cKDTree

        global _TREE
        if _TREE is None:
            _TREE = cKDTree(ADE_PALETTE.astype(np.float64))
        uniq = np.unique(packed[missing])
        colours = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1).astype(np.float64)
        _, idx = _TREE.query(colours, k=1)
        lut[uniq] = _FIRST_INDEX[idx]
        out = lut[packed]
    return out.reshape(arr.shape[:2]).astype(np.intp)


# Duplicate colours -> the first index holding that colour.
_FIRST_INDEX = np.array(
    [int(np.flatnonzero((ADE_PALETTE == c).all(axis=1))[0]) for c in ADE_PALETTE], dtype=np.int16
)
_TREE = None
_LUT: np.ndarray | None = None


def _lut() -> np.ndarray:
    global _LUT
    if _LUT is None:
        _LUT = np.full(1 << 24, -1, dtype=np.int16)
    return _LUT
