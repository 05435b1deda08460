"""What every condition extractor is: a callable from a 512x512 RGB image to a 512x512x3 condition."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod

import numpy as np

SIZE = 512
"""Side of the images extractors take and return (pixels)."""


class WeightsMissingError(FileNotFoundError):
    """An extractor's weights file is not where settings say it is."""


def check_rgb(rgb: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Validate an extractor input: ``size`` x ``size`` x 3 uint8 (ValueError naming ``rgb``)."""
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.shape != (size, size, 3):
        raise ValueError(f"rgb: expected a {size}x{size}x3 uint8 RGB image, got shape {arr.shape} dtype {arr.dtype}")
    return np.ascontiguousarray(arr)


def grey3(grey: np.ndarray) -> np.ndarray:
    """HxW uint8 -> HxWx3 uint8 with three equal channels (ControlNet's ``HWC3``)."""
    g = np.asarray(grey, dtype=np.uint8)
    return np.ascontiguousarray(np.repeat(g[:, :, None], 3, axis=2))


class Extractor(ABC):
    """A condition extractor; ``backend`` says what actually produced the output."""

    name: str
    """Condition type λ (canny, hed, depth, seg)."""
    backend: str
    """What computes the output, e.g. ``opencv``, ``pidinet``, ``pidinet-fallback-sobel``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # models (TFLite interpreters) are not thread-safe

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """The 512x512x3 uint8 condition for a 512x512x3 uint8 RGB image."""
        x = check_rgb(rgb)
        with self._lock:
            out = self._run(x)
        if out.shape != (SIZE, SIZE, 3) or out.dtype != np.uint8:  # pragma: no cover - internal bug guard
            raise RuntimeError(f"{self.name} extractor returned {out.shape} {out.dtype}")
        return out

    @abstractmethod
    def _run(self, rgb: np.ndarray) -> np.ndarray:
        """Compute the condition for a validated input."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, backend={self.backend!r})"
