"""Surrogate quality model: (q^I, q^T) from the condition type, the *measured* fidelity and T.

No SD1.5 / ControlNet / DreamSim / ImageReward weights exist on these machines, so this backend
stands in for the ``measured`` one. Every number it produces is a *surrogate* number and is
labelled ``backend = "surrogate"`` wherever it is printed or saved.

Model (m ∈ {I, T}; F = mean measured fidelity of configuration (λ, α, β) in the profile, with the
codec the ConfigTable resolves for it; d = 1 − F; δ = per-request difficulty)::

    q^m(λ, α, β, T, δ) = clip( A^m_λ · max(0, 1 − κ^m d) · max(0, 1 − (γ₀ + γ₁ d) e^{−T/τ}) − δ, 0, 1 )

* ``A^m_λ`` — the level at perfect fidelity and many steps: sets the Fig. 2 ordering
  (Canny/HED higher q^I, Depth/Seg higher q^T). Chosen, not fitted (see ``SurrogateTargets``).
* ``κ^m`` — how much quality a unit of lost fidelity costs. Fitted in closed form so that on the
  Canny map at 20 steps, going from 20 % to 80 % compression lowers DS (q^I) by 12 % and IR (q^T) by
  10 % (Fig. 4). The same κ^m serves every condition type: how each type reacts to α and β
  (Fig. 7) therefore comes from the measured fidelity alone, and a test checks it does.
* ``γ₀, γ₁, τ`` — the step response: quality approaches its level as e^{−T/τ}; the step deficit
  grows with the fidelity loss, so compressed conditions gain more from extra steps. γ₀, γ₁ are
  fitted so that 5 → 20 steps raises IR by 12 % at 20 % and 19 % at 80 % compression (Fig. 4);
  the paper gives only IR numbers, so the same step response serves DS (documented assumption).
* ``δ`` — per-request difficulty, an additive offset (0 = average request, > 0 = harder). The
  workload draws it (``mobigen.workload``); VCE assumes δ = 0.

"Compression ratio" of Fig. 4 (the paper does not define it): ratio c compresses both axes by c,
(α, β) = (1 − c, 1 − c), each snapped to the nearest level of Table I (``compression_config``):
20 % → (0.75, 0.8), 40 % → (0.625, 0.6), 60 % → (0.375, 0.4), 80 % → (0.25, 0.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from mobigen.conditions.config_table import ConfigTable, config_table
from mobigen.scenario import ALPHAS, BETAS, CONDITIONS
from mobigen.system.profile import ProfileTable, default_profile_path

BACKEND = "surrogate"


@dataclass(frozen=True)
class SurrogateTargets:
    """Every calibration number of the surrogate, with its origin: the one documented place."""

    level_I: tuple[float, float, float, float] = (0.90, 0.88, 0.76, 0.72)
    """A^I per (canny, hed, depth, seg): q^I at fidelity 1, T → ∞. Origin: chosen to reproduce Fig. 2's
    ordering (edges score higher on DS); absolute level explained below."""
    level_T: tuple[float, float, float, float] = (0.72, 0.76, 0.88, 0.89)
    """A^T per type: q^T at fidelity 1, T → ∞. Origin: Fig. 2's ordering (Depth/Seg higher on IR);
    HED is the most balanced type (the paper's best single type, Fig. 12(a), is "All HED").
    Level: a preferred-camp request at ω = 0.5 reaches Q ≈ 0.80-0.82 (the top of Q̃'s range
    [0.6, 0.8]) at 20-30 steps uncompressed, and Q ≈ 0.84 at ω = 0.75, so that with ~15-25 steps most
    (not all) thresholds can be met, as the paper's 94 % (uncompressed) suggests. Not tuned to any
    downstream satisfaction rate."""
    fig4_ds_drop: float = 0.12
    """Fig. 4: Canny, 20 steps, 20 % → 80 % compression lowers DS (q^I) by this fraction."""
    fig4_ir_drop: float = 0.10
    """Fig. 4: same for IR (q^T)."""
    fig4_ir_gain_low: float = 0.12
    """Fig. 4: 5 → 20 steps raises IR by this fraction at 20 % compression."""
    fig4_ir_gain_high: float = 0.19
    """Fig. 4: 5 → 20 steps raises IR by this fraction at 80 % compression."""
    fig4_steps: tuple[int, int] = (5, 20)
    """Fig. 4's two step counts."""
    fig4_ratios: tuple[float, float] = (0.2, 0.8)
    """Fig. 4's low and high compression ratios used for the fit."""
    tau_steps: float = 6.0
    """τ, step constant of the e^{−T/τ} approach (steps). Origin: chosen so that quality is within
    ~2 % of its level at 15 steps and ~1 % at 20 (SD1.5 with DDIM-class samplers is near saturation
    at 20-25 steps); with it the Fig. 4 gains are reachable with a non-negative step deficit."""


DEFAULT_TARGETS = SurrogateTargets()


@dataclass(frozen=True)
class SurrogateCalibration:
    """The fitted constants of the surrogate (output of ``fit_calibration``)."""

    level_I: tuple[float, ...]
    """A^I per type (CONDITIONS order)."""
    level_T: tuple[float, ...]
    """A^T per type (CONDITIONS order)."""
    kappa_I: float
    """κ^I, q^I lost per unit of fidelity loss (relative)."""
    kappa_T: float
    """κ^T, q^T lost per unit of fidelity loss (relative)."""
    gamma0: float
    """γ₀, step deficit coefficient at fidelity 1."""
    gamma1: float
    """γ₁, extra step deficit per unit of fidelity loss."""
    tau_steps: float
    """τ (steps)."""
    d_low: float
    """Measured fidelity loss 1 − F of Canny at the low Fig. 4 ratio (the fit's anchor)."""
    d_high: float
    """Measured fidelity loss of Canny at the high Fig. 4 ratio (the fit's anchor)."""


def compression_config(ratio: float, alphas: tuple[float, ...] = ALPHAS, betas: tuple[float, ...] = BETAS) -> tuple[float, float]:
    """(α, β) for a Fig. 4 "compression ratio" c: both axes at 1 − c, snapped to the nearest level."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"ratio: must be in [0, 1), got {ratio!r}")
    t = 1.0 - ratio
    a = min(alphas, key=lambda v: (abs(v - t), -v))
    b = min(betas, key=lambda v: (abs(v - t), -v))
    return a, b


def _step_factor(T: np.ndarray, d: np.ndarray, g0: float, g1: float, tau: float) -> np.ndarray:
    return np.maximum(0.0, 1.0 - (g0 + g1 * d) * np.exp(-np.asarray(T, dtype=float) / tau))


def fit_calibration(table: ConfigTable, targets: SurrogateTargets = DEFAULT_TARGETS) -> SurrogateCalibration:
    """Closed-form fit of κ^I, κ^T, γ₀, γ₁ to the Fig. 4 targets on the Canny fidelity of ``table``."""
    c = table.conditions.index("canny")
    lo_ab = compression_config(targets.fig4_ratios[0], table.alphas, table.betas)
    hi_ab = compression_config(targets.fig4_ratios[1], table.alphas, table.betas)
    d_lo = 1.0 - float(table.fidelity[(c,) + table.index("canny", *lo_ab)[1:]])
    d_hi = 1.0 - float(table.fidelity[(c,) + table.index("canny", *hi_ab)[1:]])
    if not d_hi > d_lo:
        raise ValueError(
            f"profile: Canny fidelity does not fall from {targets.fig4_ratios[0]:.0%} to {targets.fig4_ratios[1]:.0%} "
            f"compression (loss {d_lo:.4f} -> {d_hi:.4f}); the surrogate cannot be calibrated to Fig. 4")
    tau = targets.tau_steps
    t5, t20 = targets.fig4_steps
    x5, x20 = math.exp(-t5 / tau), math.exp(-t20 / tau)

    # s(20,d)/s(5,d) = 1 + G  with s = 1 - g e^{-T/τ}  =>  g = G / ((1+G) x5 - x20)
    def g_for(gain: float) -> float:
        return gain / ((1.0 + gain) * x5 - x20)

    g_lo, g_hi = g_for(targets.fig4_ir_gain_low), g_for(targets.fig4_ir_gain_high)
    gamma1 = (g_hi - g_lo) / (d_hi - d_lo)
    gamma0 = g_lo - gamma1 * d_lo
    rho = (1.0 - g_hi * x20) / (1.0 - g_lo * x20)  # step-factor ratio at T = 20

    # (1 - κ d_hi)/(1 - κ d_lo) · ρ = 1 - drop  =>  κ = (1 - r)/(d_hi - r d_lo), r = (1 - drop)/ρ
    def kappa_for(drop: float) -> float:
        r = (1.0 - drop) / rho
        return (1.0 - r) / (d_hi - r * d_lo)

    return SurrogateCalibration(
        level_I=tuple(targets.level_I), level_T=tuple(targets.level_T),
        kappa_I=kappa_for(targets.fig4_ds_drop), kappa_T=kappa_for(targets.fig4_ir_drop),
        gamma0=gamma0, gamma1=gamma1, tau_steps=tau, d_low=d_lo, d_high=d_hi,
    )


def _level_lookup(levels: tuple[float, ...], x: np.ndarray, field: str) -> np.ndarray:
    lv = np.asarray(levels, dtype=float)
    idx = np.clip(np.searchsorted(lv, x - 1e-9), 0, len(lv) - 1)
    bad = np.abs(lv[idx] - x) > 1e-9
    if np.any(bad):
        raise ValueError(f"{field}: {float(np.asarray(x)[bad].ravel()[0])!r} is not one of {list(levels)}")
    return idx


class SurrogateQuality:
    """``QualityModel`` backend "surrogate": see the module docstring for the model and calibration."""

    backend = BACKEND

    def __init__(self, profile: ProfileTable | None = None, *, codec: str = "best",
                 targets: SurrogateTargets = DEFAULT_TARGETS, table: ConfigTable | None = None) -> None:
        """``profile`` defaults to the shipped profile; ``codec`` picks the fidelity per configuration
        ("best": the ConfigTable's codec policy; or a codec name). The surrogate takes no seed: it is a
        deterministic function of the profile and its inputs (the per-request difficulty, the only
        random part, is drawn by the caller, e.g. ``mobigen.workload`` with its own seed)."""
        if table is None:
            if profile is None:
                profile = ProfileTable.load(default_profile_path())
            table = config_table(profile, codec=codec)
        self.table = table
        self.targets = targets
        self.calibration = fit_calibration(table, targets)
        cal = self.calibration
        # (n_λ in CONDITIONS order, n_α, n_β) fidelity grid
        self._fid = np.stack([table.fidelity[table.conditions.index(c)] for c in CONDITIONS])
        self._A_I = np.asarray(cal.level_I, dtype=float)
        self._A_T = np.asarray(cal.level_T, dtype=float)

    def fidelity(self, condition: ArrayLike, alpha: ArrayLike, beta: ArrayLike) -> np.ndarray:
        """Mean measured fidelity of each configuration (from the profile)."""
        c = np.asarray(condition)
        if c.dtype.kind not in "iu":
            from mobigen.system.quality import condition_index
            c = condition_index(c)
        if np.any((c < 0) | (c >= len(CONDITIONS))):
            raise ValueError(f"condition: index out of range 0..{len(CONDITIONS) - 1}")
        a = _level_lookup(self.table.alphas, np.asarray(alpha, dtype=float), "alpha")
        b = _level_lookup(self.table.betas, np.asarray(beta, dtype=float), "beta")
        return self._fid[c, a, b]

    def scores(self, condition: ArrayLike, alpha: ArrayLike, beta: ArrayLike, steps: ArrayLike,
               difficulty: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(q^I, q^T) in [0, 1], broadcast over the inputs — surrogate numbers (module docstring)."""
        cal = self.calibration
        c = np.asarray(condition)
        if c.dtype.kind not in "iu":
            from mobigen.system.quality import condition_index
            c = condition_index(c)
        T = np.asarray(steps, dtype=float)
        if np.any(~np.isfinite(T)) or np.any(T < 0):
            raise ValueError("steps: must be finite and >= 0")
        d = 1.0 - self.fidelity(c, alpha, beta)
        s = _step_factor(T, d, cal.gamma0, cal.gamma1, cal.tau_steps)
        qi = self._A_I[c] * np.maximum(0.0, 1.0 - cal.kappa_I * d) * s
        qt = self._A_T[c] * np.maximum(0.0, 1.0 - cal.kappa_T * d) * s
        if difficulty is not None:
            delta = np.asarray(difficulty, dtype=float)
            qi = qi - delta
            qt = qt - delta
        return np.clip(qi, 0.0, 1.0), np.clip(qt, 0.0, 1.0)
