"""The request workload: one time slot of K users, drawn from a numpy Generator (Sec. VI-A.2).

Per user and slot (the draws the paper leaves open are documented in ``scenario.OPEN_CHOICES``):

* a request = (image, prompt): the image uniformly from the profile's images (the DreamBooth set,
  158 images), the prompt index uniformly from 0..24 (25 prompts per image, 3950 requests);
* ω^I ~ U(0, 1) (ω^T = 1 − ω^I), Q̃ ~ U(scenario.qoe_threshold_range),
  B↑ ~ U(uplink range), B↓ ~ U(downlink range) in Mbps, converted to bits/s;
* the request's difficulty δ (see below);
* ν = (λ, α, β, codec) from the ``chooser`` (default: ``VCE.choose``, Algorithms 1-2);
* D(I(ν)) = the REAL measured bytes of that image at (λ, α, β, codec) in the profile;
* L⁰_k = scenario.extraction_flops_ratio · ε₀ / f_k (eq. 2);
* q^I/q^T tables over the allowed T from the quality model (``system.slot.quality_tables``).

Difficulty (how hard a request is for the generator): an additive quality offset δ, fixed per
request (image, prompt) and drawn once per sampler from ``difficulty_seed``:
δ ~ N(0, σ²) clipped to ±2.5σ, σ = ``difficulty_std`` (default 0.03 QoE units). 0.03 keeps the
per-request spread (±0.075 at the clip) below the gap between condition types on their weak
metric in Fig. 2 (~0.12-0.16 in the surrogate's levels), so the type choice still matters; it is a
choice, not a measured value. δ > 0 lowers both scores.

Importing this module registers the Gymnasium id ``control.env.ENV_ID`` with the callable
``make_env`` (``register_env``): ``gym.make(ENV_ID, scenario="paper", seed=0)`` after ``import
mobigen.workload``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from mobigen.control.env import ENV_ID, DenoisingEnv
from mobigen.scenario import CONDITIONS, Scenario, resolve
from mobigen.system.profile import ProfileTable
from mobigen.system.quality import QualityModel
from mobigen.system.slot import Slot, SystemParams, quality_tables

DEFAULT_DIFFICULTY_STD = 0.03
"""σ of the per-request difficulty offset (QoE units); see the module docstring."""
DIFFICULTY_CLIP_SIGMAS = 2.5
"""Difficulty draws are clipped to ± this many σ."""
N_PROMPTS = 25
"""Prompts per image in the DreamBooth set."""

Chooser = Callable[[float, float, float, float, np.random.Generator], Any]
"""(omega_I, qoe_threshold, uplink_bps, f_device, rng) -> VCEChoice (or anything with
condition, alpha, beta, codec attributes)."""


@dataclass(frozen=True)
class Request:
    """One user's request in a sampled slot (what the Slot arrays do not carry)."""

    image: str
    """Image identifier (path relative to the data set root)."""
    image_index: int
    """Index into the profile's sorted image list."""
    prompt_index: int
    """Prompt template index, 0..24."""
    difficulty: float
    """δ, the request's additive quality offset (QoE units)."""
    choice: Any
    """The chooser's VCEChoice for this user."""


class SlotSampler:
    """Draws ``Slot`` objects for a scenario (see the module docstring)."""

    def __init__(self, scenario: Scenario | str, *, vce: Any = None, quality: QualityModel | None = None,
                 profile: ProfileTable | None = None, chooser: Chooser | None = None,
                 difficulty_std: float = DEFAULT_DIFFICULTY_STD, difficulty_seed: int = 0,
                 n_prompts: int = N_PROMPTS) -> None:
        from mobigen.conditions.config_table import config_table
        from mobigen.conditions.vce import VCE, load_default_vce

        sc = resolve(scenario)
        table = None
        if not (difficulty_std >= 0.0 and math.isfinite(difficulty_std)):
            raise ValueError(f"difficulty_std: must be a finite number >= 0, got {difficulty_std!r}")
        if n_prompts < 1:
            raise ValueError(f"n_prompts: must be >= 1, got {n_prompts!r}")
        if vce is None:
            if profile is None and quality is None:
                vce = load_default_vce(sc)
            else:
                if profile is None:
                    from mobigen.system.profile import default_profile_path
                    profile = ProfileTable.load(default_profile_path())
                table = config_table(profile)
                if quality is None:
                    from mobigen.conditions.quality_surrogate import SurrogateQuality
                    quality = SurrogateQuality(table=table)
                vce = VCE(table, quality, sc)
        self.scenario = sc
        self.vce = vce
        if table is None:
            table = vce.table if profile is None else config_table(profile)
        self.table = table
        self.quality: QualityModel = quality if quality is not None else vce.quality
        self.params = SystemParams.from_scenario(sc)
        self.chooser: Chooser = chooser if chooser is not None else (lambda w, q, b, f, rng: vce.choose(w, q, b, f))
        self.n_prompts = int(n_prompts)
        self.difficulty_std = float(difficulty_std)
        drng = np.random.default_rng(difficulty_seed)
        n_img = len(self.table.images)
        d = drng.normal(0.0, 1.0, size=(n_img, self.n_prompts)) * self.difficulty_std
        lim = DIFFICULTY_CLIP_SIGMAS * self.difficulty_std
        self.difficulty_table = np.clip(d, -lim, lim)
        """(n_images, n_prompts) δ of every request."""
        self._f = np.asarray(sc.f_devices, dtype=float)
        self._C = np.asarray(sc.device_budgets_flops, dtype=float)
        self._extract = sc.extraction_flops_ratio * sc.eps0_flops / self._f  # L⁰_k(f_k), eq. (2)
        self._cidx = {c: i for i, c in enumerate(self.table.conditions)}
        self._aidx = {round(a, 6): i for i, a in enumerate(self.table.alphas)}
        self._bidx = {round(b, 6): i for i, b in enumerate(self.table.betas)}
        self._steps = self.params.steps_values
        self._backend = getattr(self.quality, "backend", "unknown")

    def _bytes(self, img: int, choice: Any) -> float:
        c = self._cidx.get(choice.condition)
        a = self._aidx.get(round(float(choice.alpha), 6))
        b = self._bidx.get(round(float(choice.beta), 6))
        if c is None or a is None or b is None:
            raise ValueError(f"chooser returned a configuration outside the profile: {choice.condition}, "
                             f"alpha={choice.alpha}, beta={choice.beta}")
        codec = getattr(choice, "codec", None)
        if codec is None or codec == self.table.codec[c, a, b]:
            return float(self.table.image_bytes[img, c, a, b])
        return self.table.bytes_of(img, c, a, b, codec)

    def sample_with_requests(self, rng: np.random.Generator) -> tuple[Slot, tuple[Request, ...]]:
        """One slot and the K requests behind it."""
        sc, K = self.scenario, self.scenario.num_users
        img = rng.integers(len(self.table.images), size=K)
        prm = rng.integers(self.n_prompts, size=K)
        w = rng.uniform(0.0, 1.0, size=K)  # ω^I ~ U(0, 1) (scenario.OPEN_CHOICES["omega"])
        if sc.omega is not None:  # a scenario may fix ω for everyone; drawn anyway to keep the stream aligned
            w = np.full(K, float(sc.omega[0]))
        qt = rng.uniform(*sc.qoe_threshold_range, size=K)
        up = rng.uniform(*sc.uplink_mbps_range, size=K) * 1e6  # Mbps -> bits/s
        down = rng.uniform(*sc.downlink_mbps_range, size=K) * 1e6
        diff = self.difficulty_table[img, prm]
        cond = np.empty(K, dtype=np.int64)
        alpha = np.empty(K)
        beta = np.empty(K)
        nbytes = np.empty(K)
        choices = []
        for k in range(K):
            ch = self.chooser(float(w[k]), float(qt[k]), float(up[k]), float(self._f[k]), rng)
            choices.append(ch)
            cond[k] = CONDITIONS.index(ch.condition)
            alpha[k], beta[k] = ch.alpha, ch.beta
            nbytes[k] = self._bytes(int(img[k]), ch)
        q_I, q_T = quality_tables(self.quality, cond, alpha, beta, self._steps, diff)
        slot = Slot(params=self.params, condition=cond, alpha=alpha, beta=beta, condition_bytes=nbytes,
                    omega_I=w, qoe_threshold=qt, f_device=self._f.copy(), device_budget=self._C.copy(),
                    uplink_bps=up, downlink_bps=down, extraction_s=self._extract.copy(), q_I=q_I, q_T=q_T,
                    quality_backend=self._backend, difficulty=diff.copy())
        reqs = tuple(Request(image=self.table.images[int(img[k])], image_index=int(img[k]), prompt_index=int(prm[k]),
                             difficulty=float(diff[k]), choice=choices[k]) for k in range(K))
        return slot, reqs

    def sample(self, rng: np.random.Generator) -> Slot:
        """One slot of the scenario's K users."""
        return self.sample_with_requests(rng)[0]


# ---- choosers for ablations (Sec. VI-C, Fig. 12) ------------------------------------------------------

def vce_chooser(vce: Any) -> Chooser:
    """Algorithms 1-2 (build the VCE with compression="alpha"/"beta"/"none" for Fig. 12(b)'s ablations)."""
    return lambda w, q, b, f, rng: vce.choose(w, q, b, f)


def fixed_condition_chooser(vce: Any, condition: str) -> Chooser:
    """"All <λ>" of Fig. 12(a): one condition type for everyone, compression by Alg. 2 on its camp's frontier."""
    if condition not in vce.table.conditions:
        raise ValueError(f"condition: unknown type '{condition}'")
    return lambda w, q, b, f, rng: vce.best_config(condition, w, q, b, f)


def random_chooser(vce: Any) -> Chooser:
    """"Random" of Fig. 12(a): λ, α, β uniformly from the VCE's allowed configurations (uses the rng)."""
    allowed = np.argwhere(vce.allowed)

    def choose(w: float, q: float, b: float, f: float, rng: np.random.Generator):
        c, a, bb = allowed[rng.integers(len(allowed))]
        t = vce.table
        return vce.evaluate(t.conditions[c], t.alphas[a], t.betas[bb], w, q, b, f)

    return choose


_SAMPLER_KEYS = ("vce", "quality", "profile", "chooser", "difficulty_std", "difficulty_seed", "n_prompts")


def make_env(scenario: Scenario | str = "paper", seed: int | None = None, **kw: Any):
    """The Gymnasium ``DenoisingEnv`` (``mobigen.control.env``) on a ``SlotSampler``.

    ``kw`` may hold SlotSampler keywords (vce, quality, profile, chooser, difficulty_std,
    difficulty_seed, n_prompts) or ``sampler`` (a ready sampler). With ``seed`` the env is reset
    once with it, so that its slot stream is reproducible.
    """
    sc = resolve(scenario)
    sampler = kw.pop("sampler", None)
    skw = {k: kw.pop(k) for k in list(kw) if k in _SAMPLER_KEYS}
    if kw:
        raise ValueError(f"make_env: unknown keyword '{sorted(kw)[0]}'")
    if sampler is None:
        sampler = SlotSampler(sc, **skw)
    env = DenoisingEnv(sc, sampler)
    if seed is not None:
        env.reset(seed=seed)
    return env


def register_env() -> None:
    """Register ``ENV_ID`` with Gymnasium, entry point the callable ``make_env`` (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point=make_env)


register_env()
