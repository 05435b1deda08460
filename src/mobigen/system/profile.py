"""The profile table type: what the profiler (``mobigen.conditions``) writes and the quality
model and VCE read. Kept here so that ``system`` never imports ``conditions``.

Storage (``table_paths``): ``NAME.csv`` or gzip-compressed ``NAME.csv.gz`` (one row per image ×
configuration: the machine-independent columns), ``NAME.timing.csv`` (the machine-specific extraction
time per image and λ) and ``NAME.json`` (metadata). ``load`` joins them back into one frame; a single
CSV that still holds ``extract_s`` loads as well.
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

TIMING_COLUMNS = ["image", "condition", "extract_s"]
"""The machine-specific part, stored apart from the profile: one extraction time per image and λ."""


def table_paths(path: str | Path) -> tuple[Path, Path, Path]:
    """(table, timing, metadata) files of the profile named by ``path`` (``NAME.csv``, ``NAME.csv.gz``,
    or any ``NAME.ext``, which means ``NAME.csv``)."""
    p = Path(path)
    lower = p.name.lower()
    if lower.endswith(".csv.gz") or lower.endswith(".csv"):
        table = p
    else:
        table = p.with_suffix(".csv")
    base = table.name[: -len(".csv.gz")] if table.name.lower().endswith(".gz") else table.name[: -len(".csv")]
    return table, table.with_name(base + ".timing.csv"), table.with_name(base + ".json")


@dataclass(frozen=True, eq=False)
class ProfileTable:
    """Per-image profile rows plus metadata (data set, metric per type, machine, date)."""

    frame: pd.DataFrame
    """One row per image × configuration, with the ``COLUMNS`` (bytes in bytes, extract_s in s)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """What was profiled and how: data set, grid, metric per type, extractor backends, machine, date."""

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
        """Write the table (``path``: .csv, or .csv.gz compressed), the timing and the metadata files
        (``table_paths``); returns the table path."""
        table, timing, meta = table_paths(path)
        times = self.frame[TIMING_COLUMNS].drop_duplicates()
        if times.duplicated(TIMING_COLUMNS[:2]).any():
            raise ValueError("profile table: column 'extract_s' must hold one time per (image, condition)")
        table.parent.mkdir(parents=True, exist_ok=True)
        gz = table.name.lower().endswith(".gz")
        self.frame.drop(columns="extract_s").to_csv(
            table, index=False, compression={"method": "gzip", "compresslevel": 9, "mtime": 0} if gz else None)
        times.to_csv(timing, index=False)
        meta.write_text(json.dumps(self.meta, indent=2, default=str), encoding="utf-8")
        return table

    @classmethod
    def load(cls, path: str | Path) -> "ProfileTable":
        """Read a table written by ``save`` (``NAME.csv`` also finds ``NAME.csv.gz`` and vice versa)."""
        table, timing, meta_path = table_paths(path)
        if not table.is_file():
            other = table.with_name(table.name[:-3]) if table.name.lower().endswith(".gz") else table.with_name(table.name + ".gz")
            if not other.is_file():
                raise FileNotFoundError(f"profile table '{table}' not found")
            table = other
        frame = pd.read_csv(table)
        if "extract_s" not in frame.columns and timing.is_file():
            frame = _join_timing(frame, pd.read_csv(timing), timing)
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        return cls(frame=frame, meta=meta)


def _join_timing(frame: pd.DataFrame, times: pd.DataFrame, source: Path) -> pd.DataFrame:
    """The table's rows, in order, with the extraction time of their (image, condition)."""
    missing = [c for c in TIMING_COLUMNS if c not in times.columns]
    if missing:
        raise ValueError(f"profile timing '{source}': missing column '{missing[0]}'")
    if times.duplicated(TIMING_COLUMNS[:2]).any():
        raise ValueError(f"profile timing '{source}': more than one 'extract_s' for an (image, condition)")
    out = frame.merge(times[TIMING_COLUMNS], on=TIMING_COLUMNS[:2], how="left", validate="many_to_one")
    if out["extract_s"].isna().any():
        row = out[out["extract_s"].isna()].iloc[0]
        raise ValueError(f"profile timing '{source}': no 'extract_s' for image '{row['image']}', condition '{row['condition']}'")
    return out


def default_profile_path() -> Path:
    """The profile table shipped inside the package (written by ``mobigen profile``)."""
    return Path(__file__).resolve().parent.parent / "data" / "profile.csv.gz"
