"""Fidelity of a decoded condition to the uncompressed one, in [0, 1], with a metric per type.

| λ | metric | definition |
|---|--------|------------|
| canny, hed | ``soft-edge-F (tol 2 px)`` | soft (fuzzy) F-score: maps scaled to [0, 1] (R reference, D decoded); P = Σ min(D, M(R)) / Σ D, Rc = Σ min(R, M(D)) / Σ R, F = 2·P·Rc/(P+Rc), where M is a 5x5 max filter (2-pixel localisation tolerance, ≈ 0.4 % of the 512·√2 diagonal, the order of BSDS's 0.75 %). Intensities, not thresholds: a downscaled Canny line keeps its mass but loses amplitude, which lowers recall gradually instead of vanishing at a threshold. Identical maps -> 1; for binary R (Canny) it is the usual tolerant F-score. Both maps empty -> 1; one empty -> 0. |
| depth | ``ssim`` | SSIM (Wang et al. 2004; Gaussian window σ = 1.5, 11x11; K1 = 0.01, K2 = 0.03, L = 255) on the grey map, mean over pixels, clipped to [0, 1]. |
| seg | ``pixel-accuracy`` | share of pixels whose nearest ADE20K palette colour (exact, see ``ade20k_palette.nearest_class``) equals the reference's class. |
"""

from __future__ import annotations

import numpy as np

from mobigen.scenario import CONDITIONS

EDGE_TOLERANCE_PX = 2
"""Localisation tolerance of the edge F-score (pixels; max filter of side 2·tol + 1)."""

METRICS: dict[str, str] = {
    "canny": f"soft-edge-F (tol {EDGE_TOLERANCE_PX} px)",
    "hed": f"soft-edge-F (tol {EDGE_TOLERANCE_PX} px)",
    "depth": "ssim",
    "seg": "pixel-accuracy",
}
"""Metric name per condition type (stored in the profile's metadata)."""

_EPS = 1e-6


def _grey01(a: np.ndarray) -> np.ndarray:
    return a[..., 0].astype(np.float32) / 255.0 if a.ndim == 3 else a.astype(np.float32) / 255.0


def edge_fscore(reference: np.ndarray, decoded: np.ndarray, tol: int = EDGE_TOLERANCE_PX) -> float:
    """Soft edge F-score with a ``tol``-pixel tolerance (module docstring)."""
    import cv2

    r, d = _grey01(reference), _grey01(decoded)
    sr, sd = float(r.sum()), float(d.sum())
    if sr < _EPS and sd < _EPS:
        return 1.0
    if sr < _EPS or sd < _EPS:
        return 0.0
    kernel = np.ones((2 * tol + 1, 2 * tol + 1), np.uint8)
    mr, md = cv2.dilate(r, kernel), cv2.dilate(d, kernel)
    precision = float(np.minimum(d, mr).sum()) / sd
    recall = float(np.minimum(r, md).sum()) / sr
    if precision + recall < _EPS:
        return 0.0
    return float(np.clip(2 * precision * recall / (precision + recall), 0.0, 1.0))


def ssim(reference: np.ndarray, decoded: np.ndarray) -> float:
    """Mean SSIM of the grey maps, clipped to [0, 1]."""
    import cv2

    x = reference[..., 0].astype(np.float64) if reference.ndim == 3 else reference.astype(np.float64)
    y = decoded[..., 0].astype(np.float64) if decoded.ndim == 3 else decoded.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(np.clip(s.mean(), 0.0, 1.0))


def pixel_accuracy(reference: np.ndarray, decoded: np.ndarray) -> float:
    """Share of pixels with the same nearest ADE20K palette class."""
    from mobigen.conditions.ade20k_palette import nearest_class

    return float((nearest_class(reference) == nearest_class(decoded)).mean())


def fidelity(condition_type: str, reference: np.ndarray, decoded: np.ndarray) -> float:
    """Fidelity in [0, 1] of ``decoded`` to ``reference`` (both HxWx3 uint8, same shape) for λ."""
    if condition_type not in CONDITIONS:
        raise ValueError(f"condition: must be one of {list(CONDITIONS)}, got {condition_type!r}")
    ref, dec = np.asarray(reference), np.asarray(decoded)
    if ref.dtype != np.uint8 or dec.dtype != np.uint8 or ref.shape != dec.shape or ref.ndim != 3 or ref.shape[2] != 3:
        raise ValueError(
            f"decoded: expected two HxWx3 uint8 images of the same shape, got {ref.shape}/{ref.dtype} and {dec.shape}/{dec.dtype}"
        )
    if condition_type in ("canny", "hed"):
        return edge_fscore(ref, dec)
    if condition_type == "depth":
        return ssim(ref, dec)
    return pixel_accuracy(ref, dec)
