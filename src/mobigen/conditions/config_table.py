"""Per-configuration arrays over (λ, α, β) built once from a profile table.

The quality model, the Pareto frontiers, VCE, the oracle and the workload sampler all read the
profile through this one view, so they agree on which codec a configuration uses and on its
mean bytes and mean fidelity.

Codec per configuration (the issue: "keep [another codec] as a choice where it saves bytes at
equal fidelity"). Policy ``"best"``: JPEG (the paper's codec) is the default; another codec
replaces it for a configuration (λ, α, β) when its mean bytes are lower *and* its mean fidelity
is no more than ``fidelity_tol`` below JPEG's. Among several such codecs the one with the fewest
mean bytes wins. Where a configuration has no JPEG rows, the codec of highest mean fidelity is
used (fewest bytes among ties). Policy ``"<name>"`` (e.g. ``"jpeg"``) forces one codec.

Images missing a configuration (skipped by the profiler) take the configuration's mean bytes in
``image_bytes``; ``image_has`` records which entries were measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mobigen.scenario import ALPHAS, BETAS, CONDITIONS
from mobigen.system.profile import ProfileTable

DEFAULT_FIDELITY_TOL = 0.01
"""How far below JPEG's mean fidelity another codec may be and still count as "equal fidelity"."""

_ROUND = 6


def level_index(values: tuple[float, ...], x: float, field: str) -> int:
    """Index of ``x`` in a Table I level set; ValueError naming ``field`` when it is not a level."""
    for i, v in enumerate(values):
        if abs(v - float(x)) < 1e-9:
            return i
    raise ValueError(f"{field}: {x!r} is not one of {list(values)}")


@dataclass(frozen=True, eq=False)
class ConfigTable:
    """Mean bytes / fidelity / codec per (λ, α, β) and per-image bytes, from one profile."""

    conditions: tuple[str, ...]
    """λ axis (mobigen.scenario.CONDITIONS order)."""
    alphas: tuple[float, ...]
    """α axis (resolution levels)."""
    betas: tuple[float, ...]
    """β axis (quality levels)."""
    codec: np.ndarray
    """(n_λ, n_α, n_β) codec name used for each configuration (object array of str)."""
    mean_bytes: np.ndarray
    """(n_λ, n_α, n_β) mean encoded bytes over the profile's images (bytes)."""
    fidelity: np.ndarray
    """(n_λ, n_α, n_β) mean fidelity of the decoded condition to the uncompressed one, [0, 1]."""
    images: tuple[str, ...]
    """Image identifiers of the profile, sorted."""
    image_bytes: np.ndarray
    """(n_images, n_λ, n_α, n_β) bytes of each image at the configuration's codec (bytes)."""
    image_has: np.ndarray
    """(n_images, n_λ, n_α, n_β) True where image_bytes was measured (else the config mean)."""
    codec_policy: str
    """"best" or a forced codec name (see module docstring)."""
    codecs: tuple[str, ...]
    """Every codec present in the profile."""
    bytes_by_codec: dict[str, np.ndarray]
    """codec -> (n_images, n_λ, n_α, n_β) bytes per image (NaN-free; config mean where missing)."""
    mean_bytes_by_codec: dict[str, np.ndarray]
    """codec -> (n_λ, n_α, n_β) mean bytes (NaN where the codec was not profiled)."""
    fidelity_by_codec: dict[str, np.ndarray]
    """codec -> (n_λ, n_α, n_β) mean fidelity (NaN where the codec was not profiled)."""

    def index(self, condition: str, alpha: float, beta: float) -> tuple[int, int, int]:
        """Array indices of a configuration; ValueError naming the bad field."""
        if condition not in self.conditions:
            raise ValueError(f"condition: unknown type '{condition}' (known: {', '.join(self.conditions)})")
        return (self.conditions.index(condition), level_index(self.alphas, alpha, "alpha"),
                level_index(self.betas, beta, "beta"))

    def bytes_of(self, image_idx: int, c: int, a: int, b: int, codec: str | None = None) -> float:
        """Real measured bytes of one image at (λ, α, β) and ``codec`` (default: the config's codec)."""
        if codec is None:
            return float(self.image_bytes[image_idx, c, a, b])
        if codec not in self.bytes_by_codec:
            raise ValueError(f"codec: '{codec}' not in the profile (has: {', '.join(self.codecs)})")
        return float(self.bytes_by_codec[codec][image_idx, c, a, b])


def config_table(profile: ProfileTable, codec: str = "best", fidelity_tol: float = DEFAULT_FIDELITY_TOL) -> ConfigTable:
    """Build the per-configuration view of ``profile`` (see module docstring for the codec policy)."""
    f = profile.frame
    # 1. the table must cover every λ, and every α/β must be a Table I level
    _check_profile(f)
    # 2. the axes present in the table
    conds, alphas, betas = CONDITIONS, _levels_present(f, "alpha", ALPHAS), _levels_present(f, "beta", BETAS)
    codecs = tuple(sorted(f["codec"].astype(str).unique()))
    if codec != "best" and codec not in codecs:
        raise ValueError(f"codec: '{codec}' not in the profile (has: {', '.join(codecs)})")
    images = tuple(sorted(f["image"].astype(str).unique()))
    grid = _Grid(conds, alphas, betas, images)
    # 3. means and per-image bytes per codec
    per_codec = {name: _codec_stats(rows, grid) for name, rows in _indexed_rows(f, grid).items()}
    per_codec = {name: per_codec.get(name) or _codec_stats(_Rows.empty(), grid) for name in codecs}
    # 4. the codec of each configuration, and its numbers
    chosen = _choose_codecs(per_codec, grid, codec, fidelity_tol)
    mb, mf, ib, ih = _gather(chosen, per_codec, grid)
    # codecs not profiled for some config: fill per-image bytes with the resolved codec's (documented)
    by_codec = {c: np.where(np.isnan(per_codec[c].image_bytes), ib, per_codec[c].image_bytes) for c in codecs}
    return ConfigTable(
        conditions=conds, alphas=alphas, betas=betas, codec=chosen, mean_bytes=mb, fidelity=mf,
        images=images, image_bytes=ib, image_has=ih, codec_policy=codec, codecs=codecs,
        bytes_by_codec=by_codec, mean_bytes_by_codec={c: per_codec[c].mean_bytes for c in codecs},
        fidelity_by_codec={c: per_codec[c].mean_fidelity for c in codecs},
    )


@dataclass(frozen=True)
class _Grid:
    """The axes of a ConfigTable under construction."""

    conditions: tuple[str, ...]
    alphas: tuple[float, ...]
    betas: tuple[float, ...]
    images: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.conditions), len(self.alphas), len(self.betas))

    def label(self, idx: tuple[int, int, int]) -> str:
        return f"(condition={self.conditions[idx[0]]}, alpha={self.alphas[idx[1]]}, beta={self.betas[idx[2]]})"


@dataclass(frozen=True)
class _Rows:
    """The profile rows of one codec as grid indices (λ, α, β, image) with their bytes and fidelity."""

    c: np.ndarray
    a: np.ndarray
    b: np.ndarray
    image: np.ndarray
    bytes: np.ndarray
    fidelity: np.ndarray

    @classmethod
    def empty(cls) -> "_Rows":
        z = np.zeros(0, dtype=int)
        return cls(z, z, z, z, np.zeros(0), np.zeros(0))


@dataclass(frozen=True)
class _CodecStats:
    """One codec's numbers on the grid (NaN where it was not profiled)."""

    mean_bytes: np.ndarray
    mean_fidelity: np.ndarray
    image_bytes: np.ndarray
    """(n_images, n_λ, n_α, n_β); the configuration's mean where an image lacks it (NaN if no rows)."""
    image_has: np.ndarray


def _check_profile(f: pd.DataFrame) -> None:
    """Refuse an empty table, a missing condition type, or an α/β off Table I's levels."""
    if f.empty:
        raise ValueError("profile: table has no rows")
    present_conds = set(f["condition"].astype(str).unique())
    missing = [c for c in CONDITIONS if c not in present_conds]
    if missing:
        raise ValueError(f"profile: column 'condition' lacks type '{missing[0]}' (every one of {list(CONDITIONS)} is needed)")
    for field, levels in (("alpha", ALPHAS), ("beta", BETAS)):  # a row off the levels would be binned wrongly
        col = pd.to_numeric(f[field], errors="coerce").to_numpy(float)
        off = ~np.isclose(col[:, None], np.asarray(levels)[None, :]).any(axis=1)
        if off.any():
            raise ValueError(f"profile: column '{field}' has {f[field].iloc[int(np.flatnonzero(off)[0])]!r}, "
                             f"not one of {list(levels)}")


def _levels_present(f: pd.DataFrame, field: str, levels: tuple[float, ...]) -> tuple[float, ...]:
    col = f[field].to_numpy(float)
    return tuple(v for v in levels if np.isclose(col, v).any())


def _indexed_rows(f: pd.DataFrame, grid: _Grid) -> dict[str, _Rows]:
    """The rows of each codec as grid indices (rows of an unknown condition are dropped)."""
    ci = f["condition"].map({c: i for i, c in enumerate(grid.conditions)})
    ai = pd.Series(np.searchsorted(np.round(grid.alphas, _ROUND), np.round(f["alpha"].to_numpy(float), _ROUND)), index=f.index)
    bi = pd.Series(np.searchsorted(np.round(grid.betas, _ROUND), np.round(f["beta"].to_numpy(float), _ROUND)), index=f.index)
    ii = f["image"].astype(str).map({m: i for i, m in enumerate(grid.images)})
    ok = ci.notna()
    ci, ai, bi, ii = ci[ok].astype(int).to_numpy(), ai[ok].to_numpy(), bi[ok].to_numpy(), ii[ok].to_numpy()
    codec_col = f.loc[ok, "codec"].astype(str).to_numpy()
    byt = f.loc[ok, "bytes"].to_numpy(float)
    fid = f.loc[ok, "fidelity"].to_numpy(float)
    out = {}
    for name in np.unique(codec_col):
        m = codec_col == name
        out[str(name)] = _Rows(ci[m], ai[m], bi[m], ii[m], byt[m], fid[m])
    return out


def _codec_stats(r: _Rows, grid: _Grid) -> _CodecStats:
    """Mean bytes and fidelity per configuration, and the bytes of every image, for one codec."""
    shape = grid.shape
    sb = np.zeros(shape); sf = np.zeros(shape); n = np.zeros(shape)
    np.add.at(sb, (r.c, r.a, r.b), r.bytes)
    np.add.at(sf, (r.c, r.a, r.b), r.fidelity)
    np.add.at(n, (r.c, r.a, r.b), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_b = np.where(n > 0, sb / np.maximum(n, 1), np.nan)
        mean_f = np.where(n > 0, sf / np.maximum(n, 1), np.nan)
    img = np.full((len(grid.images),) + shape, np.nan)
    img[r.image, r.c, r.a, r.b] = r.bytes
    return _CodecStats(mean_b, mean_f, np.where(np.isnan(img), mean_b[None], img), ~np.isnan(img))


def _choose_codecs(per_codec: dict[str, _CodecStats], grid: _Grid, codec: str, fidelity_tol: float) -> np.ndarray:
    """The codec of every configuration under the policy ``codec`` (module docstring)."""
    chosen = np.empty(grid.shape, dtype=object)
    for idx in np.ndindex(grid.shape):
        present = [c for c in per_codec if not np.isnan(per_codec[c].mean_bytes[idx])]
        if not present:
            raise ValueError(f"profile: configuration {grid.label(idx)} has no rows")
        if codec != "best":
            if codec not in present:
                raise ValueError(f"profile: configuration {grid.label(idx)} has no rows for codec '{codec}'")
            chosen[idx] = codec
        else:
            chosen[idx] = _best_codec(present, {c: per_codec[c].mean_bytes[idx] for c in present},
                                      {c: per_codec[c].mean_fidelity[idx] for c in present}, fidelity_tol)
    return chosen


def _best_codec(present: list[str], mean_b: dict[str, float], mean_f: dict[str, float], fidelity_tol: float) -> str:
    """Policy "best" for one configuration: JPEG unless another codec has fewer bytes at a fidelity no
    more than ``fidelity_tol`` below JPEG's (fewest bytes wins); without JPEG, the highest fidelity."""
    if "jpeg" not in present:
        return min(present, key=lambda c: (-round(mean_f[c], 9), mean_b[c]))
    best = "jpeg"
    for c in present:
        if c != "jpeg" and mean_b[c] < mean_b[best] and mean_f[c] >= mean_f["jpeg"] - fidelity_tol:
            best = c
    return best


def _gather(chosen: np.ndarray, per_codec: dict[str, _CodecStats], grid: _Grid
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean bytes, mean fidelity, per-image bytes and per-image "measured" of each configuration's codec."""
    shape, n_img = grid.shape, len(grid.images)
    mb = np.empty(shape); mf = np.empty(shape)
    ib = np.empty((n_img,) + shape); ih = np.zeros((n_img,) + shape, dtype=bool)
    for idx in np.ndindex(shape):
        st = per_codec[chosen[idx]]
        mb[idx] = st.mean_bytes[idx]; mf[idx] = st.mean_fidelity[idx]
        ib[(slice(None),) + idx] = st.image_bytes[(slice(None),) + idx]
        ih[(slice(None),) + idx] = st.image_has[(slice(None),) + idx]
    return mb, mf, ib, ih
