"""Canny edges, as ControlNet v1.1's canny annotator computes them."""

from __future__ import annotations

import numpy as np

from mobigen.conditions.base import Extractor, grey3

LOW_THRESHOLD = 100
"""Canny hysteresis low threshold (ControlNet's default)."""
HIGH_THRESHOLD = 200
"""Canny hysteresis high threshold (ControlNet's default)."""


class CannyExtractor(Extractor):
    """``cv2.Canny(rgb, 100, 200)`` on the RGB image (OpenCV takes the strongest channel gradient),
    white edges (255) on black, three equal channels."""

    name = "canny"
    backend = "opencv"

    def __init__(self, low: int = LOW_THRESHOLD, high: int = HIGH_THRESHOLD) -> None:
        super().__init__()
        if not 0 <= low <= high:
            raise ValueError(f"low: must satisfy 0 <= low <= high, got low={low}, high={high}")
        self.low, self.high = low, high

    def _run(self, rgb: np.ndarray) -> np.ndarray:
        import cv2

        return grey3(cv2.Canny(rgb, self.low, self.high))
