"""The profile table type: what the profiler (``mobigen.conditions``) writes and the quality
model and VCE read. Kept here so that ``system`` never imports ``conditions``.

Storage: ``NAME.csv`` (one row per image × configuration) and ``NAME.json`` (metadata).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

COLUMNS: dict[str, str] = {
    "image": "image identifier (path relative to the data set root)",
    "condition": "λ, condition type name (canny, hed, depth, seg)",
    "alpha": "α, resolution level",
    "beta": "β, quality level",
    "codec": "codec name (jpeg, png, webp, ...)",
    "bytes": "encoded condition size (bytes)",
    "fidelity": "fidelity of the decoded 512² condition to the uncompressed one, in [0, 1] (metric per type in metadata)",
    "extract_s": "extraction time of the uncompressed condition on this machine (s)",
}
"""Required columns and their meaning/units."""

KEY = ["condition", "alpha", "beta", "codec"]


@dataclass(frozen=True, eq=False)
class ProfileTable:
    """Per-image profile rows plus metadata (data set, metric per type, machine, date)."""

    frame: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in COLUMNS if c not in self.frame.columns]
        if missing:
            raise ValueError(f"profile table: missing column '{missing[0]}' (required: {', '.join(COLUMNS)})")

    def summary(self) -> pd.DataFrame:
        """Mean bytes, fidelity and extraction time per (λ, α, β, codec), plus the image count."""
        g = self.frame.groupby(KEY, sort=True)
        out = g[["bytes", "fidelity", "extract_s"]].mean()
        out["n_images"] = g.size()
        return out.reset_index()

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (.csv) and its ``.json`` metadata; returns the CSV path."""
        p = Path(path).with_suffix(".csv")
        p.parent.mkdir(parents=True, exist_ok=True)
        self.frame.to_csv(p, index=False)
        p.with_suffix(".json").write_text(json.dumps(self.meta, indent=2, default=str), encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | Path) -> "ProfileTable":
        """Read a table written by ``save``."""
        p = Path(path).with_suffix(".csv")
        if not p.is_file():
            raise FileNotFoundError(f"profile table '{p}' not found")
        frame = pd.read_csv(p)
        meta_path = p.with_suffix(".json")
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        return cls(frame=frame, meta=meta)


def default_profile_path() -> Path:
    """The profile table shipped inside the package (written by ``mobigen profile``)."""
    return Path(__file__).resolve().parent.parent / "data" / "profile.csv"
