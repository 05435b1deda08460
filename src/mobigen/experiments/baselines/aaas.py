"""*AIGC-as-a-Service* (AaaS, Sec. VI-A.3, ref. [11]): users upload the raw source image and the prompt;
the edge extracts the user-specified condition, uncompressed, and generates with user-customised
steps, entirely on the edge.

Our reading, where the paper is silent (each choice documented here):

* **Raw upload.** The uploaded bytes are the real PNG size (Pillow, default compression level 6, RGB)
  of the request's 512² source image, measured on the DreamBooth data set; the sizes ship in
  ``data/raw_png_bytes.csv`` (``measure_png_bytes`` rebuilds it; a test checks it against the data set
  when that is present).
* **User-specified condition.** Users do not know which condition suits their preference (the paper:
  "limited user knowledge ... poor choices in visual conditions"): each user's type is uniform over the
  scenario's types, seeded per request. It is extracted on the edge from the raw image, uncompressed
  (α = β = 1).
* **Edge extraction.** The edge extracts every user's condition before the slot's generation starts, one
  after another on its one accelerator: each user waits K × (extraction FLOPs / f_E), with the same
  extraction FLOPs as on the device (scenario.extraction_flops_ratio × ε₀). This is why AaaS's
  latency grows with K (Sec. VI-D.2).
* **User-customised steps.** Each user asks for T_k uniform over the allowed steps (seeded per request);
  when Σ T_k exceeds the edge budget C_E (12), the edge scales every request by the same factor
  (floored, at least steps_min; if the steps_min clamp pushes Σ over C_E again, the largest requests
  lose one step each until it fits) — a plain, uninformed share. o_k = 1 (image returned, eq. 7).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from mobigen.scenario import Scenario
from mobigen.system import Decision, Slot

RAW_TABLE_NAME = "raw_png_bytes.csv"


def default_raw_table_path() -> Path:
    """The shipped table of raw PNG sizes: ``src/mobigen/data/raw_png_bytes.csv``."""
    return Path(__file__).resolve().parents[2] / "data" / RAW_TABLE_NAME


def png_bytes(path: str | Path) -> int:
    """Bytes of the image at ``path`` re-encoded as an RGB PNG (Pillow defaults)."""
    from mobigen.conditions.images import load_image
    from PIL import Image

    rgb = load_image(path)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return len(buf.getvalue())


def measure_png_bytes(dataset: str | Path, *, progress: bool = False) -> dict[str, int]:
    """PNG bytes of every ``*/*.jpg|jpeg|png`` image of the data set, keyed by path relative to it."""
    root = Path(dataset)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset '{root}' not found")
    files = sorted(p for p in root.glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise ValueError(f"dataset '{root}': no images found")
    it = files
    if progress:
        from tqdm import tqdm
        it = tqdm(files, desc="raw PNG sizes", unit="img")
    return {p.relative_to(root).as_posix(): png_bytes(p) for p in it}


def save_raw_table(sizes: dict[str, int], path: str | Path) -> Path:
    """Write ``image,png_bytes`` rows."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "png_bytes"])
        for k in sorted(sizes):
            w.writerow([k, int(sizes[k])])
    return p


def load_raw_table(path: str | Path | None = None) -> dict[str, int]:
    """Read the table written by ``save_raw_table`` (default: the shipped one)."""
    p = Path(path) if path is not None else default_raw_table_path()
    if not p.is_file():
        raise FileNotFoundError(f"raw PNG size table '{p}' not found (rebuild: python -m mobigen.experiments.baselines.aaas)")
    with p.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "png_bytes" not in rows[0]:
        raise ValueError(f"raw PNG size table '{p}': missing column 'png_bytes'")
    return {r["image"]: int(r["png_bytes"]) for r in rows}


def edge_extraction_s(scenario: Scenario, K: int) -> float:
    """Seconds every AaaS user waits for the edge to extract the slot's K conditions, one after another."""
    return K * scenario.extraction_flops_ratio * scenario.eps0_flops / scenario.f_edge


class UserStepsEdgeController:
    """AaaS's controller: the users' requested T_k, scaled down together to fit C_E (12); o_k = 1.

    The requested steps are set per slot with ``request(T)`` (the runner draws them with the request).
    """

    name = "aaas-user-steps"

    def __init__(self) -> None:
        self._requested: np.ndarray | None = None

    def request(self, T: np.ndarray) -> None:
        """The steps the users of the next slot ask for."""
        self._requested = np.asarray(T, dtype=np.int64)

    def decide(self, slot: Slot) -> Decision:
        p = slot.params
        if self._requested is None or self._requested.shape != (slot.K,):
            raise ValueError("AaaS controller: call request(T) with one T per user before decide(slot)")
        T = np.clip(self._requested, p.steps_min, p.steps_max)
        cap = np.floor(p.edge_budget_steps + 1e-9)
        total = float(T.sum())
        if total > cap:
            T = np.maximum(p.steps_min, np.floor(T * cap / total + 1e-9)).astype(np.int64)  # equal scaling
            while T.sum() > cap and np.any(T > p.steps_min):  # steps_min clamps can push Σ back over C_E
                T[int(np.argmax(T))] -= 1
        self._requested = None
        return Decision(T=T.astype(np.int64), e=T.astype(np.int64))  # all on the edge (e_k = T_k)


if __name__ == "__main__":  # rebuild the shipped table from the data set
    import logging

    from mobigen.settings import dataset_dir

    logging.basicConfig(level=logging.INFO)
    out = save_raw_table(measure_png_bytes(dataset_dir(), progress=True), default_raw_table_path())
    logging.getLogger(__name__).info("wrote %s", out)
