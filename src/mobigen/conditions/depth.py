"""Depth condition: PyDNet v2 (mobile) TFLite, normalised like ControlNet's depth annotator."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mobigen.conditions.base import Extractor, WeightsMissingError, grey3

MODEL = Path("mobilepydnet") / "optimized_pydnet++.tflite"
"""PyDNet TFLite file, relative to the weights folder."""

INPUT_HW = (448, 640)
"""PyDNet input height, width (pixels)."""


LOW_PERCENTILE = 1.0
"""Inverse-depth percentile mapped to 0 (robust min)."""
HIGH_PERCENTILE = 99.0
"""Inverse-depth percentile mapped to 255 (robust max)."""


class PydnetExtractor(Extractor):
    """RGB resized (bilinear) to 640x448, scaled to [0, 1]; the finest of the three inverse-depth
    outputs (brighter = nearer) resized back to 512x512 (bilinear) and normalised to 0..255.

    Normalisation: ControlNet's MiDaS annotator uses min-max (``d -= min; d /= max; ·255``). PyDNet's
    output has sparse extreme values (e.g. a few pixels at 196 where the rest lies in 1.5..20 on
    ``cat/00.jpg``) that would crush a min-max map to near-black, so we use a *robust* min-max: the
    1st and 99th percentiles map to 0 and 255 (clipped). A flat map -> all 0."""

    name = "depth"
    backend = "pydnet-tflite"

    def __init__(self, model: Path, *, num_threads: int = 1) -> None:
        super().__init__()
        from ai_edge_litert.interpreter import Interpreter

        self.model = Path(model)
        if not self.model.is_file():
            raise WeightsMissingError(f"depth: PyDNet model '{self.model}' not found (set MOBIGEN_WEIGHTS)")
        try:
            self.interpreter = Interpreter(model_path=str(self.model), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:  # not a valid TFLite flatbuffer
            raise ValueError(f"depth: PyDNet model '{self.model}' could not be loaded ({exc})") from exc
        inp = self.interpreter.get_input_details()[0]
        if tuple(inp["shape"]) != (1, *INPUT_HW, 3):
            raise ValueError(f"depth: model input shape {tuple(inp['shape'])}, expected (1, {INPUT_HW[0]}, {INPUT_HW[1]}, 3)")
        self._in = inp["index"]
        self._out = self.interpreter.get_output_details()[0]["index"]  # finest scale first

    def inverse_depth(self, rgb: np.ndarray) -> np.ndarray:
        """Raw relative inverse depth, 512x512 float32."""
        import cv2

        x = cv2.resize(rgb, (INPUT_HW[1], INPUT_HW[0]), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
        self.interpreter.set_tensor(self._in, x[None])
        self.interpreter.invoke()
        d = self.interpreter.get_tensor(self._out)[0, :, :, 0]
        return cv2.resize(d, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)

    def _run(self, rgb: np.ndarray) -> np.ndarray:
        d = self.inverse_depth(rgb).astype(np.float64)
        lo, hi = np.percentile(d, [LOW_PERCENTILE, HIGH_PERCENTILE])
        d = (d - lo) / (hi - lo) if hi > lo else np.zeros_like(d)
        return grey3(np.clip(d * 255.0, 0, 255).astype(np.uint8))


def make_depth(weights: Path, *, num_threads: int = 1) -> Extractor:
    """PyDNet from ``weights/mobilepydnet``; ``WeightsMissingError`` when absent."""
    return PydnetExtractor(Path(weights) / MODEL, num_threads=num_threads)
