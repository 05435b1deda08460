"""Visual Condition Engineering: Algorithm 1 (choose λ) and Algorithm 2 (getBestConfig), Sec. V-A.

Sub-problem P1 (eq. 16-17): with T_k = T and o_k = O fixed, each user maximises U_k (eq. 8)
subject to (10), (14), (15), independently of the others. VCE answers it on the device with
profiled Pareto frontiers (eq. 18, ``mobigen.conditions.pareto``).

Choices where the paper is silent (documented, one place):

* T = ``reference_steps`` (default 20) and O = ``reference_offload`` (default 1.0: the whole
  denoising on the edge, eq. (7) — the case every device type can fall back to, and one whose
  latency does not depend on the device). B↓ in the latency of eq. (7)/(6) is the middle of the
  scenario's downlink range; B↑ and f_k are the user's own.
* The quality of a candidate is that of an *average* request (difficulty 0): the device does not
  know how hard its request is.
* Alg. 2 line 3 "initialization": ν* starts at the first point of the sorted P*_λ (the point
  with the lowest α, then the lowest β), so ν* starts inside P*_λ.
* Alg. 2 lines 8 and 11: α^max / β^max are the largest α / β present in P*_λ (the levels the
  loop can reach), not Table I's maxima, which may be absent from P*_λ.
* Alg. 2 line 15 compares Q̃_k with Q*; when no point of P*_λ satisfies line 15, the loop ends
  with the last ν* (the best quality of the frontier) as the paper's loop does.
* Alg. 1 line 7: ties in U go to the first candidate of line 2/4 (Canny before HED, Depth
  before Seg). If a scenario removes both types of one camp, the other camp's types are used.
* Configurations are (λ, α, β); the codec is the one the profile view resolves for the
  configuration (``mobigen.conditions.config_table``), so it is part of the returned choice.
* ``compression`` restricts the configurations (Fig. 12(b) ablations): "both" (the paper),
  "alpha" (β fixed at its maximum), "beta" (α fixed at its maximum), "none" (α = β = max).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from mobigen.conditions.config_table import ConfigTable, config_table, level_index
from mobigen.conditions.pareto import Frontier, Frontiers, build_frontiers
from mobigen.scenario import Scenario
from mobigen.system.latency import denoise_latency
from mobigen.system.offload import edge_steps
from mobigen.system.profile import ProfileTable, default_profile_path
from mobigen.system.quality import QualityModel

SIMILARITY_CAMP: tuple[str, str] = ("canny", "hed")
"""Alg. 1 line 2: the types for users with ω^I > ω^T (they use P^I)."""
ALIGNMENT_CAMP: tuple[str, str] = ("depth", "seg")
"""Alg. 1 line 4: the types for the other users (they use P^T)."""
COMPRESSION_MODES = ("both", "alpha", "beta", "none")


@dataclass(frozen=True)
class VCEChoice:
    """The engineered-condition configuration ν_k = (λ, α, β) plus codec, with its expected scores."""

    condition: str
    """λ, condition type name."""
    alpha: float
    """α, resolution level."""
    beta: float
    """β, quality level."""
    codec: str
    """Codec used to encode the condition."""
    expected_bytes: float
    """Mean bytes of this configuration over the profile's images (bytes)."""
    q_I: float
    """q^I at the reference steps, average request (backend in quality_backend)."""
    q_T: float
    """q^T at the reference steps, average request (backend in quality_backend)."""
    utility: float
    """U_k of eq. (8) at the reference (T, O) (QoE units)."""
    quality_backend: str
    """Quality model that produced q_I/q_T ("surrogate" or "measured")."""
    feasible: bool = True
    """Whether Alg. 2 line 15 held: Q̃_k ≤ Q* and L* ≤ L̃ at the reference."""


def _camp_for(conditions: tuple[str, ...], omega_I: float) -> tuple[tuple[str, ...], str]:
    if omega_I > 1.0 - omega_I:  # Alg. 1 line 1: ω^I > ω^T
        camp, metric, other = SIMILARITY_CAMP, "I", ALIGNMENT_CAMP  # line 2
    else:
        camp, metric, other = ALIGNMENT_CAMP, "T", SIMILARITY_CAMP  # line 4
    allowed = tuple(c for c in camp if c in conditions)
    if not allowed:
        allowed = tuple(c for c in other if c in conditions)
    return allowed, metric


def alg2_path(frontier: Frontier) -> list[tuple[int, int]]:
    """The sequence of ν* = (α*, β*) (as axis indices) that Alg. 2 lines 4-13 visit on ``frontier``.

    The states depend only on P*_λ and λ, not on the user, so they are computed once; the user's
    part (lines 14-15) then scans them for the first state that satisfies line 15. Consecutive
    repeats are dropped (they give the same line-15 outcome).
    """
    if len(frontier) == 0:
        return []
    a_idx = frontier.alpha_idx.tolist()
    b_idx = frontier.beta_idx.tolist()
    a_star, b_star = a_idx[0], b_idx[0]  # line 3: initialization (first point of the sorted P*)
    a_max, b_max = max(a_idx), max(b_idx)  # α^max, β^max reachable in P*_λ
    states: list[tuple[int, int]] = []
    for ai, bi in zip(a_idx, b_idx):  # line 4
        if frontier.condition == "canny":  # line 6
            if a_star < ai:  # line 7
                a_star = ai
            if a_star == a_max:  # line 8
                b_star = bi
        elif frontier.condition == "depth":  # line 9
            if b_star < bi:  # line 10
                b_star = bi
            if b_star == b_max:  # line 11
                a_star = ai
        else:  # lines 12-13
            a_star, b_star = ai, bi
        if not states or states[-1] != (a_star, b_star):
            states.append((a_star, b_star))
    return states


def get_best_config_literal(
    frontier: Frontier,
    qoe_threshold: float,
    get_utility: Callable[[int, int], tuple[float, float, float]],
    latency_threshold_s: float,
) -> tuple[tuple[int, int], float]:
    """Alg. 2 written line by line (reference for tests): returns ((α*, β*) indices, U*)."""
    a_idx = frontier.alpha_idx.tolist()  # line 2: frontier is already sorted by α then β
    b_idx = frontier.beta_idx.tolist()
    a_star, b_star = a_idx[0], b_idx[0]  # line 3
    a_max, b_max = max(a_idx), max(b_idx)
    U = -math.inf
    for ai, bi in zip(a_idx, b_idx):  # line 4
        if frontier.condition == "canny":  # lines 6-8
            if a_star < ai:
                a_star = ai
            if a_star == a_max:
                b_star = bi
        elif frontier.condition == "depth":  # lines 9-11
            if b_star < bi:
                b_star = bi
            if b_star == b_max:
                a_star = ai
        else:  # lines 12-13
            a_star, b_star = ai, bi
        U, Q, L = get_utility(a_star, b_star)  # line 14
        if qoe_threshold <= Q and L <= latency_threshold_s:  # line 15
            break
    return (a_star, b_star), U  # line 16


class VCE:
    """Algorithms 1-2 over frontiers profiled once from a profile table and a quality model."""

    def __init__(self, profile: ProfileTable | ConfigTable, quality: QualityModel, scenario: Scenario,
                 reference_steps: int = 20, reference_offload: float = 1.0, *, codec: str = "best",
                 compression: str = "both") -> None:
        if compression not in COMPRESSION_MODES:
            raise ValueError(f"compression: must be one of {COMPRESSION_MODES}, got {compression!r}")
        if not 0.0 < reference_offload <= 1.0:
            raise ValueError(f"reference_offload: must be in (0, 1] (eq. 11), got {reference_offload!r}")
        table = profile if isinstance(profile, ConfigTable) else config_table(profile, codec=codec)
        self.table = table
        self.quality = quality
        self.scenario = scenario
        self.compression = compression
        self.reference_steps = int(reference_steps)
        self.reference_offload = float(reference_offload)
        self.quality_backend = getattr(quality, "backend", "unknown")
        self.allowed = self._allowed_mask()
        self.frontiers: Frontiers = build_frontiers(table, quality, reference_steps, allowed=self.allowed)
        sc = scenario
        self.eta = sc.eta_per_s
        self.latency_threshold_s = sc.latency_threshold_s
        self.reference_downlink_bps = 0.5 * (sc.downlink_mbps_range[0] + sc.downlink_mbps_range[1]) * 1e6
        self._conditions = tuple(c for c in table.conditions if c in sc.conditions)
        # Per (λ, metric): Alg. 2's state path as plain tuples (q_I, q_T, mean_bytes, a_idx, b_idx).
        self._paths: dict[tuple[str, str], list[tuple[float, float, float, int, int]]] = {}
        ci = {c: i for i, c in enumerate(table.conditions)}
        fr = self.frontiers
        for (name, metric), front in fr.fronts.items():
            c = ci[name]
            self._paths[(name, metric)] = [
                (float(fr.q_I[c, a, b]), float(fr.q_T[c, a, b]), float(table.mean_bytes[c, a, b]), a, b)
                for a, b in alg2_path(front)
            ]
        self._l2_cache: dict[float, float] = {}

    # ---- configuration set ------------------------------------------------------------------
    def _allowed_mask(self) -> np.ndarray:
        t, sc = self.table, self.scenario
        c_ok = np.array([c in sc.conditions for c in t.conditions])[:, None, None]
        a_ok = np.array([any(math.isclose(a, x) for x in sc.alphas) for a in t.alphas])[None, :, None]
        b_ok = np.array([any(math.isclose(b, x) for x in sc.betas) for b in t.betas])[None, None, :]
        mask = c_ok & a_ok & b_ok
        a_top = max(i for i, a in enumerate(t.alphas) if a_ok[0, i, 0])
        b_top = max(i for i, b in enumerate(t.betas) if b_ok[0, 0, i])
        if self.compression in ("alpha", "none"):  # β fixed at its best setting
            keep = np.zeros_like(mask); keep[:, :, b_top] = True; mask = mask & keep
        if self.compression in ("beta", "none"):  # α fixed at its best setting
            keep = np.zeros_like(mask); keep[:, a_top, :] = True; mask = mask & keep
        return mask

    # ---- latency and utility at the reference (T, O) -------------------------------------------
    def extraction_s(self, f_device: float) -> float:
        """L⁰_k(f_k) = extraction FLOPs / f_k (eq. 2) (s)."""
        return self.scenario.extraction_flops_ratio * self.scenario.eps0_flops / f_device

    def reference_denoise_s(self, f_device: float) -> float:
        """L²_k at T = reference_steps, o = reference_offload, B↓ = mid-range (eqs. 6-7) (s)."""
        hit = self._l2_cache.get(f_device)
        if hit is not None:
            return hit
        sc, T = self.scenario, self.reference_steps
        e = edge_steps(T, self.reference_offload)  # eq. (4); e = T is full offload, eq. (7)
        val = float(denoise_latency(T, e, f_device=f_device, f_edge=sc.f_edge, eps0=sc.eps0_flops,  # eqs. (6)-(7)
                                    downlink_bps=self.reference_downlink_bps, latent_bytes=sc.latent_bytes,
                                    image_bytes=sc.image_bytes).total_s)
        if len(self._l2_cache) < 4096:
            self._l2_cache[f_device] = val
        return val

    # ---- Algorithm 2 ------------------------------------------------------------------------
    def _get_best(self, condition: str, metric: str, omega_I: float, qoe_threshold: float,
                  l_fixed: float, bits_per_s: float) -> tuple[tuple[float, float, float, int, int], float, float, bool] | None:
        path = self._paths.get((condition, metric))
        if not path:
            return None
        eta, l_max, w, wt = self.eta, self.latency_threshold_s, omega_I, 1.0 - omega_I
        for state in path:  # lines 4-13 (precomputed states)
            qi, qt, byt, _, _ = state
            Q = w * qi + wt * qt  # eq. (1)
            L = l_fixed + 8.0 * byt / bits_per_s  # eq. (2) + L² at the reference
            if qoe_threshold <= Q and L <= l_max:  # line 15
                return state, Q - eta * L, Q, True  # line 14: U = Q − ηL (eq. 8)
        return state, Q - eta * L, Q, False  # loop ran out: last ν*

    def best_config(self, condition: str, omega_I: float, qoe_threshold: float, uplink_bps: float,
                    f_device: float, metric: str | None = None) -> VCEChoice:
        """Alg. 2 for one given λ (e.g. a fixed-condition ablation); metric defaults to λ's camp."""
        self._validate(omega_I, qoe_threshold, uplink_bps, f_device)
        if metric is None:
            metric = "I" if condition in SIMILARITY_CAMP else "T"
        l_fixed = self.extraction_s(f_device) + self.reference_denoise_s(f_device)
        res = self._get_best(condition, metric, omega_I, qoe_threshold, l_fixed, uplink_bps)
        if res is None:
            raise ValueError(f"condition: '{condition}' is not available in this scenario/profile")
        return self._make_choice(condition, *res)

    # ---- Algorithm 1 ------------------------------------------------------------------------
    def choose(self, omega_I: float, qoe_threshold: float, uplink_bps: float, f_device: float) -> VCEChoice:
        """ν*_k for one user: Algorithm 1 with Algorithm 2 as getBestConfig."""
        self._validate(omega_I, qoe_threshold, uplink_bps, f_device)
        camp, metric = _camp_for(self._conditions, omega_I)  # Alg. 1 lines 1-4
        l_fixed = self.extraction_s(f_device) + self.reference_denoise_s(f_device)
        best = None
        for cond in camp:  # line 5
            res = self._get_best(cond, metric, omega_I, qoe_threshold, l_fixed, uplink_bps)  # line 6
            if res is not None and (best is None or res[1] > best[1][1]):  # line 7: argmax U
                best = (cond, res)
        if best is None:
            raise ValueError("no configuration available: the scenario or profile leaves every frontier empty")
        return self._make_choice(best[0], *best[1])  # line 8

    def _make_choice(self, condition: str, state: tuple[float, float, float, int, int], U: float, Q: float,
                     feasible: bool) -> VCEChoice:
        qi, qt, byt, a, b = state
        c = self.table.conditions.index(condition)
        return VCEChoice(condition=condition, alpha=self.table.alphas[a], beta=self.table.betas[b],
                         codec=str(self.table.codec[c, a, b]), expected_bytes=byt, q_I=qi, q_T=qt,
                         utility=U, quality_backend=self.quality_backend, feasible=feasible)

    @staticmethod
    def _validate(omega_I: float, qoe_threshold: float, uplink_bps: float, f_device: float) -> None:
        if not 0.0 <= omega_I <= 1.0:  # also rejects NaN
            raise ValueError(f"omega_I: must be in [0, 1], got {omega_I!r}")
        if not 0.0 <= qoe_threshold <= 1.0:
            raise ValueError(f"qoe_threshold: must be in [0, 1], got {qoe_threshold!r}")
        if not (uplink_bps > 0.0 and math.isfinite(uplink_bps)):
            raise ValueError(f"uplink_bps: must be a finite number > 0, got {uplink_bps!r}")
        if not (f_device > 0.0 and math.isfinite(f_device)):
            raise ValueError(f"f_device: must be a finite number > 0, got {f_device!r}")

    # ---- helpers for callers --------------------------------------------------------------------
    def evaluate(self, condition: str, alpha: float, beta: float, omega_I: float, qoe_threshold: float,
                 uplink_bps: float, f_device: float, codec: str | None = None) -> VCEChoice:
        """A VCEChoice for any allowed configuration, scored exactly as Alg. 2 scores its candidates
        (for ablation choosers and overrides)."""
        self._validate(omega_I, qoe_threshold, uplink_bps, f_device)
        c, a, b = self.config_index(condition, alpha, beta)
        if not self.allowed[c, a, b]:
            raise ValueError(f"configuration ({condition}, alpha={alpha}, beta={beta}) is outside this VCE's set")
        fr, t = self.frontiers, self.table
        if codec is None or codec == t.codec[c, a, b]:
            codec, byt = str(t.codec[c, a, b]), float(t.mean_bytes[c, a, b])
        else:
            if codec not in t.mean_bytes_by_codec or not np.isfinite(t.mean_bytes_by_codec[codec][c, a, b]):
                raise ValueError(f"codec: '{codec}' was not profiled for ({condition}, alpha={alpha}, beta={beta})")
            byt = float(t.mean_bytes_by_codec[codec][c, a, b])
        qi, qt = float(fr.q_I[c, a, b]), float(fr.q_T[c, a, b])
        Q = omega_I * qi + (1.0 - omega_I) * qt  # eq. (1)
        L = self.extraction_s(f_device) + self.reference_denoise_s(f_device) + 8.0 * byt / uplink_bps  # eq. (2) + L²
        return VCEChoice(condition=condition, alpha=t.alphas[a], beta=t.betas[b], codec=codec, expected_bytes=byt,
                         q_I=qi, q_T=qt, utility=Q - self.eta * L, quality_backend=self.quality_backend,
                         feasible=bool(qoe_threshold <= Q and L <= self.latency_threshold_s))

    def config_index(self, condition: str, alpha: float, beta: float) -> tuple[int, int, int]:
        """Indices of (λ, α, β) in the profile view; ValueError naming a bad field."""
        return self.table.index(condition, alpha, beta)

    def check_levels(self, alpha: float, beta: float) -> None:
        """ValueError naming α or β when it is outside the scenario's sets (constraint (10))."""
        level_index(tuple(self.scenario.alphas), alpha, "alpha")
        level_index(tuple(self.scenario.betas), beta, "beta")


def surrogate_vce(scenario: Scenario, profile_path: str | os.PathLike[str]) -> VCE:
    """VCE on the profile table at ``profile_path`` with the surrogate quality model fitted to it
    (``vce.table``, ``vce.quality``); ``load_default_vce`` is this on the shipped profile, cached."""
    from mobigen.conditions.quality_surrogate import SurrogateQuality

    table = config_table(ProfileTable.load(profile_path))
    return VCE(table, SurrogateQuality(table=table), scenario)


@functools.lru_cache(maxsize=4)
def _default_vce(scenario: Scenario) -> VCE:
    return surrogate_vce(scenario, default_profile_path())


def load_default_vce(scenario: Scenario) -> VCE:
    """VCE on the shipped profile (``mobigen/data/profile.csv.gz`` + ``profile.timing.csv``) with the surrogate quality model."""
    return _default_vce(scenario)
