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
    if f.empty:
        raise ValueError("profile: table has no rows")
    present_conds = set(f["condition"].astype(str).unique())
    missing = [c for c in CONDITIONS if c not in present_conds]
    if missing:
        raise ValueError(f"profile: column 'condition' lacks type '{missing[0]}' (every one of {list(CONDITIONS)} is needed)")
    conds = CONDITIONS
    for field, levels in (("alpha", ALPHAS), ("beta", BETAS)):  # a row off the levels would be binned wrongly
        col = pd.to_numeric(f[field], errors="coerce").to_numpy(float)
        off = ~np.isclose(col[:, None], np.asarray(levels)[None, :]).any(axis=1)
        if off.any():
            raise ValueError(f"profile: column '{field}' has {f[field].iloc[int(np.flatnonzero(off)[0])]!r}, "
                             f"not one of {list(levels)}")
    alphas = tuple(a for a in ALPHAS if np.isclose(f["alpha"].to_numpy(float), a).any())
    betas = tuple(b for b in BETAS if np.isclose(f["beta"].to_numpy(float), b).any())
    codecs = tuple(sorted(f["codec"].astype(str).unique()))
    if codec != "best" and codec not in codecs:
        raise ValueError(f"codec: '{codec}' not in the profile (has: {', '.join(codecs)})")
    images = tuple(sorted(f["image"].astype(str).unique()))
    shape = (len(conds), len(alphas), len(betas))

    ci = f["condition"].map({c: i for i, c in enumerate(conds)})
    ai = pd.Series(np.searchsorted(np.round(alphas, _ROUND), np.round(f["alpha"].to_numpy(float), _ROUND)), index=f.index)
    bi = pd.Series(np.searchsorted(np.round(betas, _ROUND), np.round(f["beta"].to_numpy(float), _ROUND)), index=f.index)
    ii = f["image"].astype(str).map({m: i for i, m in enumerate(images)})
    ok = ci.notna()
    ci, ai, bi, ii = ci[ok].astype(int).to_numpy(), ai[ok].to_numpy(), bi[ok].to_numpy(), ii[ok].to_numpy()
    codec_col = f.loc[ok, "codec"].astype(str).to_numpy()
    byt = f.loc[ok, "bytes"].to_numpy(float)
    fid = f.loc[ok, "fidelity"].to_numpy(float)

    mean_b: dict[str, np.ndarray] = {}
    mean_f: dict[str, np.ndarray] = {}
    per_img: dict[str, np.ndarray] = {}
    has_img: dict[str, np.ndarray] = {}
    for name in codecs:
        m = codec_col == name
        sb = np.zeros(shape); sf = np.zeros(shape); n = np.zeros(shape)
        np.add.at(sb, (ci[m], ai[m], bi[m]), byt[m])
        np.add.at(sf, (ci[m], ai[m], bi[m]), fid[m])
        np.add.at(n, (ci[m], ai[m], bi[m]), 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_b[name] = np.where(n > 0, sb / np.maximum(n, 1), np.nan)
            mean_f[name] = np.where(n > 0, sf / np.maximum(n, 1), np.nan)
        img = np.full((len(images),) + shape, np.nan)
        img[ii[m], ci[m], ai[m], bi[m]] = byt[m]
        has_img[name] = ~np.isnan(img)
        per_img[name] = np.where(np.isnan(img), mean_b[name][None], img)

    # resolve the codec per configuration
    chosen = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        present = [c for c in codecs if not np.isnan(mean_b[c][idx])]
        if not present:
            raise ValueError(f"profile: configuration (condition={conds[idx[0]]}, alpha={alphas[idx[1]]}, "
                             f"beta={betas[idx[2]]}) has no rows")
        if codec != "best":
            if codec not in present:
                raise ValueError(f"profile: configuration (condition={conds[idx[0]]}, alpha={alphas[idx[1]]}, "
                                 f"beta={betas[idx[2]]}) has no rows for codec '{codec}'")
            chosen[idx] = codec
            continue
        if "jpeg" in present:
            best = "jpeg"
            for c in present:
                if c == "jpeg":
                    continue
                if (mean_b[c][idx] < mean_b[best][idx]
                        and mean_f[c][idx] >= mean_f["jpeg"][idx] - fidelity_tol):
                    best = c
        else:
            best = min(present, key=lambda c: (-round(mean_f[c][idx], 9), mean_b[c][idx]))
        chosen[idx] = best

    mb = np.empty(shape); mf = np.empty(shape)
    ib = np.empty((len(images),) + shape); ih = np.zeros((len(images),) + shape, dtype=bool)
    for idx in np.ndindex(shape):
        c = chosen[idx]
        mb[idx] = mean_b[c][idx]; mf[idx] = mean_f[c][idx]
        ib[(slice(None),) + idx] = per_img[c][(slice(None),) + idx]
        ih[(slice(None),) + idx] = has_img[c][(slice(None),) + idx]
    # codecs not profiled for some config: fill per-image bytes with the resolved codec's (documented)
    by_codec = {c: np.where(np.isnan(per_img[c]), ib, per_img[c]) for c in codecs}
    return ConfigTable(
        conditions=conds, alphas=alphas, betas=betas, codec=chosen, mean_bytes=mb, fidelity=mf,
        images=images, image_bytes=ib, image_has=ih, codec_policy=codec, codecs=codecs,
        bytes_by_codec=by_codec, mean_bytes_by_codec=mean_b, fidelity_by_codec=mean_f,
    )
