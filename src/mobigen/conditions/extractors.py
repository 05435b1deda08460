"""The extractor registry: condition type λ -> a cached extractor (models load once).

``get_extractor(name, weights_dir=None)`` returns the same object for the same (name, weights
folder); ``extract(name, rgb)`` runs it. Weights come from ``mobigen.settings.weights_dir()``
(``MOBIGEN_WEIGHTS``, default ``../shared/weights``) unless given.

| λ | backend | what ControlNet v1.1 gets |
|---|---------|---------------------------|
| canny | ``opencv`` | Canny 100/200, white on black |
| hed | ``pidinet`` (``pidinet-fallback-sobel`` without weights) | soft edges, white on black |
| depth | ``pydnet-tflite`` | inverse depth, min-max to 0..255, near = bright |
| seg | ``deeplabv3-tflite`` | ADE20K classes in ControlNet's palette |
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from mobigen.conditions.base import SIZE, Extractor, WeightsMissingError
from mobigen.scenario import CONDITIONS

__all__ = ["CONDITIONS", "SIZE", "Extractor", "WeightsMissingError", "get_extractor", "extract", "extract_labelled", "clear_cache"]

NUM_THREADS = 1
"""Threads for each TFLite interpreter (kept low: extraction runs beside other work). PiDiNet runs
in torch's global thread pool, which this module never changes (commands set it: ``--threads``)."""

_CACHE: dict[tuple[str, str], Extractor] = {}
_LOCK = threading.Lock()


def _build(name: str, weights: Path) -> Extractor:
    if name == "canny":
        from mobigen.conditions.canny import CannyExtractor

        return CannyExtractor()
    if name == "hed":
        from mobigen.conditions.hed import make_hed

        return make_hed(weights)
    if name == "depth":
        from mobigen.conditions.depth import make_depth

        return make_depth(weights, num_threads=NUM_THREADS)
    from mobigen.conditions.seg import make_seg

    return make_seg(weights, num_threads=NUM_THREADS)


def get_extractor(name: str, weights_dir: str | os.PathLike[str] | None = None) -> Extractor:
    """The extractor for condition type ``name`` (ValueError naming ``condition`` if unknown)."""
    if name not in CONDITIONS:
        raise ValueError(f"condition: must be one of {list(CONDITIONS)}, got {name!r}")
    from mobigen.settings import weights_dir as _weights_dir

    weights = _weights_dir(weights_dir).resolve()
    key = (name, str(weights))
    with _LOCK:
        ext = _CACHE.get(key)
        if ext is None:
            ext = _build(name, weights)
            _CACHE[key] = ext
    return ext


def extract(name: str, rgb: np.ndarray, weights_dir: str | os.PathLike[str] | None = None) -> np.ndarray:
    """The 512x512x3 uint8 condition of type ``name`` for a 512x512x3 uint8 RGB image."""
    return get_extractor(name, weights_dir)(rgb)


def extract_labelled(name: str, rgb: np.ndarray, weights_dir: str | os.PathLike[str] | None = None) -> tuple[np.ndarray, str]:
    """``(condition, backend)``: the output together with what produced it."""
    ext = get_extractor(name, weights_dir)
    return ext(rgb), ext.backend


def clear_cache() -> None:
    """Forget loaded extractors (tests, or after changing weights)."""
    with _LOCK:
        _CACHE.clear()
