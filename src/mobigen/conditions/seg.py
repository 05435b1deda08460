"""Segmentation condition: DeepLabV3-MobileNetV2 (ADE20K) TFLite, coloured with ControlNet's palette."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mobigen.conditions.ade20k_palette import ADE_PALETTE, colorize
from mobigen.conditions.base import Extractor, WeightsMissingError

MODEL = Path("deeplabv3_mnv2_ade20k") / "lite-model_deeplabv3-mobilenetv2-ade20k_1_default_1.tflite"
"""DeepLab TFLite file, relative to the weights folder."""

INPUT_SIDE = 513
"""DeepLab input side (pixels)."""


class DeeplabExtractor(Extractor):
    """RGB resized (bilinear) to 513x513, scaled to [-1, 1]; argmax over the 150 ADE20K classes
    (logits 1..150). **Class 0 ("background/other") is never chosen**: ControlNet's seg model was
    trained on UperNet maps over exactly these 150 classes (no background colour exists in its
    palette), so each pixel gets its most likely real class. Class map resized to 512x512 with
    nearest neighbour, coloured ``ADE_PALETTE[c - 1]``."""

    name = "seg"
    backend = "deeplabv3-tflite"

    def __init__(self, model: Path, *, num_threads: int = 1) -> None:
        super().__init__()
        from ai_edge_litert.interpreter import Interpreter

        self.model = Path(model)
        if not self.model.is_file():
            raise WeightsMissingError(f"seg: DeepLab model '{self.model}' not found (set MOBIGEN_WEIGHTS)")
        try:
            self.interpreter = Interpreter(model_path=str(self.model), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:  # not a valid TFLite flatbuffer
            raise ValueError(f"seg: DeepLab model '{self.model}' could not be loaded ({exc})") from exc
        inp = self.interpreter.get_input_details()[0]
        if tuple(inp["shape"]) != (1, INPUT_SIDE, INPUT_SIDE, 3):
            raise ValueError(f"seg: model input shape {tuple(inp['shape'])}, expected (1, 513, 513, 3)")
        out = self.interpreter.get_output_details()[0]
        if int(out["shape"][-1]) != len(ADE_PALETTE) + 1:
            raise ValueError(f"seg: model has {int(out['shape'][-1])} classes, expected {len(ADE_PALETTE) + 1}")
        self._in, self._out = inp["index"], out["index"]

    def classes(self, rgb: np.ndarray) -> np.ndarray:
        """512x512 map of ADE20K palette indices 0..149 (model class − 1)."""
        import cv2

        x = cv2.resize(rgb, (INPUT_SIDE, INPUT_SIDE), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        self.interpreter.set_tensor(self._in, (x / 127.5 - 1.0)[None])
        self.interpreter.invoke()
        logits = self.interpreter.get_tensor(self._out)[0]
        cls = np.argmax(logits[:, :, 1:], axis=2).astype(np.uint8)  # skip class 0 (background)
        return cv2.resize(cls, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)

    def _run(self, rgb: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(colorize(self.classes(rgb)))


def make_seg(weights: Path, *, num_threads: int = 1) -> Extractor:
    """DeepLab from ``weights/deeplabv3_mnv2_ade20k``; ``WeightsMissingError`` when absent."""
    return DeeplabExtractor(Path(weights) / MODEL, num_threads=num_threads)
