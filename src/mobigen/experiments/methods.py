"""The compared methods of Sec. VI-A.3, each a composition of a VCE choice policy and a controller.

Every method serves the *same seeded requests*: slot i of an evaluation is drawn by the workload
sampler from ``np.random.default_rng([seed, i])`` for every method, and the method's own randomness
(Random's configurations, AaaS's user choices) comes from a separate stream
``np.random.default_rng([seed, i, method_id])`` that never touches the request draws. Choosers ignore the
sampler's generator for the same reason.

| method | VCE choice (ν_k) | controller (T_k, o_k) | transport |
|---|---|---|---|
| Random | uniform over Table I | uniform T, o ∈ (0, 1] | condition up, latent/image down |
| SemGen | condition by one metric, α by a DQN, β = 1 | equal steps, all on the edge | condition up, image down |
| AaaS | user-specified type, uncompressed, extracted on the edge | user steps scaled to C_E, all on the edge | raw PNG up, image down |
| OQC+ | VCE (Alg. 1-2) | OQC's SCA: binary offloading + steps | condition up + image down, or nothing (local) |
| Ours | VCE (Alg. 1-2) | DDC (Alg. 3) | condition up, latent/image down |
| Exact | VCE (Alg. 1-2) | exact per-slot optimum of eq. (26) | condition up, latent/image down |

Every decision passes the edge's feasibility guard (``control.guard``, as in serving) before it is
executed; the repairs are counted per method.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import zlib
from typing import Any, Callable, Protocol

import numpy as np

from mobigen.control.base import Controller
from mobigen.control.guard import guard
from mobigen.experiments.metrics import SlotRecord, account
from mobigen.experiments.results import RanAs
from mobigen.scenario import CONDITIONS, Scenario
from mobigen.system import Decision, Slot, evaluate_decision

log = logging.getLogger(__name__)

METHOD_KEYS: tuple[str, ...] = ("random", "semgen", "aaas", "oqc", "ours", "exact")
"""The compared methods, in the paper's order (Exact is beyond the paper)."""
LABELS: dict[str, str] = {"random": "Random", "semgen": "SemGen", "aaas": "AaaS", "oqc": "OQC+", "ours": "Ours",
                          "exact": "Exact"}
"""Display names, as in the paper's figures (the one definition: report, figures and CLI read it)."""


class Sampler(Protocol):
    """Draws one slot of requests (``mobigen.workload.SlotSampler``)."""

    def sample_with_requests(self, rng: np.random.Generator) -> tuple[Slot, tuple[Any, ...]]: ...


SamplerFactory = Callable[..., Sampler]
"""``factory(scenario, chooser=None | callable, vce=None | VCE) -> Sampler``."""


def default_sampler_factory(scenario: Scenario, chooser: Callable | None = None, vce: Any = None) -> Sampler:
    """H3's workload sampler on the shipped profile and the default quality model."""
    from mobigen.workload import SlotSampler

    return SlotSampler(scenario, vce=vce, chooser=chooser)


def _method_id(key: str) -> int:
    return zlib.crc32(key.encode("utf-8"))


class ChooserBase:
    """A VCE-choice policy for the sampler: ``chooser(omega_I, qoe_threshold, uplink_bps, f_device, rng)``.

    It ignores the sampler's ``rng`` (so the request draws stay identical across methods) and uses
    ``self.rng``, which the method reseeds for every slot.
    """

    def __init__(self, vce: Any) -> None:
        self.vce = vce
        self.rng = np.random.default_rng(0)

    def _choice(self, condition: str, alpha: float, beta: float, omega_I: float, qoe_threshold: float):
        """A VCEChoice for a given configuration, with the VCE's profile bytes and reference scores."""
        from mobigen.conditions.vce import VCEChoice

        t = self.vce.table
        c, a, b = t.index(condition, alpha, beta)
        fr = self.vce.frontiers
        qi, qt = float(fr.q_I[c, a, b]), float(fr.q_T[c, a, b])
        Q = omega_I * qi + (1.0 - omega_I) * qt
        return VCEChoice(condition=condition, alpha=float(t.alphas[a]), beta=float(t.betas[b]), codec=str(t.codec[c, a, b]),
                         expected_bytes=float(t.mean_bytes[c, a, b]), q_I=qi, q_T=qt, utility=float("nan"),
                         quality_backend=self.vce.quality_backend, feasible=bool(Q >= qoe_threshold))


class RandomChooser(ChooserBase):
    """Random's ν_k: λ, α, β uniform over the scenario's sets."""

    def __call__(self, omega_I, qoe_threshold, uplink_bps, f_device, rng=None):
        sc = self.vce.scenario
        cond = sc.conditions[int(self.rng.integers(len(sc.conditions)))]
        a = sc.alphas[int(self.rng.integers(len(sc.alphas)))]
        b = sc.betas[int(self.rng.integers(len(sc.betas)))]
        return self._choice(cond, a, b, float(omega_I), float(qoe_threshold))


class FixedConditionChooser(ChooserBase):
    """Fig. 12(a) "All <type>": Algorithm 2 (getBestConfig) on one fixed condition type."""

    def __init__(self, vce: Any, condition: str) -> None:
        super().__init__(vce)
        if condition not in CONDITIONS:
            raise ValueError(f"condition: unknown type '{condition}'")
        self.condition = condition

    def __call__(self, omega_I, qoe_threshold, uplink_bps, f_device, rng=None):
        return self.vce.best_config(self.condition, float(omega_I), float(qoe_threshold), float(uplink_bps), float(f_device))


class SemGenChooser(ChooserBase):
    """SemGen's ν_k: the condition best on its one system-wide metric, α from the DQN, β = 1."""

    def __init__(self, vce: Any, policy: Any) -> None:
        super().__init__(vce)
        self.policy = policy

    def __call__(self, omega_I, qoe_threshold, uplink_bps, f_device, rng=None):
        c, a, b = self.policy.choose(np.array([float(omega_I)]), np.array([float(uplink_bps)]))
        return self._choice(CONDITIONS[int(c[0])], float(a[0]), float(b[0]), float(omega_I), float(qoe_threshold))


class AaaSChooser(ChooserBase):
    """AaaS's user-specified condition: type uniform over the scenario's types, uncompressed (α = β = max)."""

    def __call__(self, omega_I, qoe_threshold, uplink_bps, f_device, rng=None):
        sc = self.vce.scenario
        cond = sc.conditions[int(self.rng.integers(len(sc.conditions)))]
        return self._choice(cond, max(sc.alphas), max(sc.betas), float(omega_I), float(qoe_threshold))


@dataclasses.dataclass
class Method:
    """One compared method: how it configures ν_k (``chooser``), decides (T_k, o_k) and is accounted."""

    key: str
    """Short identifier (results.json key)."""
    label: str
    """Name as in the paper's figures."""
    controller: Controller
    """Decides (T_k, o_k)."""
    sampler: Sampler
    """Draws the slot with this method's VCE choices."""
    chooser: ChooserBase | None = None
    """The method's own ν_k policy (None: the sampler's default VCE)."""
    use_guard: bool = True
    """Pass every decision through ``control.guard`` before executing it."""
    note: str = ""
    """One line for the report: what this method does where the paper is silent."""
    ran_as: RanAs | None = None
    """Set when the controller's documented fallback answers every slot instead of it (else None)."""
    last_decide_s: float = 0.0
    """Wall time of the last ``controller.decide`` (s)."""

    def prepare(self, slot: Slot, requests: tuple[Any, ...], rng: np.random.Generator) -> Slot:
        """Change the slot before the controller sees it (AaaS: raw upload, edge extraction)."""
        return slot

    def local_only(self, decision: Decision) -> np.ndarray | None:
        """Users that generate entirely on the device without the edge (OQC+'s local branch)."""
        return None

    def run_slot(self, slot_index: int, seed: int) -> SlotRecord:
        """Draw slot ``slot_index`` of evaluation ``seed`` and serve it with this method."""
        mrng = np.random.default_rng([seed, slot_index, _method_id(self.key)])
        if self.chooser is not None:
            self.chooser.rng = np.random.default_rng([seed, slot_index, _method_id(self.key), 1])
        if hasattr(self.controller, "reseed"):
            self.controller.reseed([seed, slot_index, _method_id(self.key), 2])
        slot, requests = self.sampler.sample_with_requests(np.random.default_rng([seed, slot_index]))
        slot = self.prepare(slot, requests, mrng)
        t0 = time.perf_counter()
        decision = self.controller.decide(slot)
        self.last_decide_s = time.perf_counter() - t0
        local = self.local_only(decision)
        repairs = 0
        if self.use_guard:
            g = guard(slot, decision)
            if g.repaired and local is not None:
                local = local & (g.decision.edge_steps == 0)
            decision, repairs = g.decision, g.n_repairs
        outcome = evaluate_decision(slot, decision)
        return account(slot, decision, outcome, slot_index=slot_index, repairs=repairs, local_only=local)


class AaaSMethod(Method):
    """AaaS: raw PNG upload, edge extraction for the whole slot, user-customised steps."""

    def __init__(self, *args: Any, scenario: Scenario, raw_bytes: dict[str, int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scenario = scenario
        self.raw_bytes = raw_bytes

    def prepare(self, slot: Slot, requests: tuple[Any, ...], rng: np.random.Generator) -> Slot:
        from mobigen.experiments.baselines.aaas import edge_extraction_s

        missing = [r.image for r in requests if r.image not in self.raw_bytes]
        if missing:
            raise ValueError(f"AaaS: no raw PNG size for image '{missing[0]}' (rebuild data/raw_png_bytes.csv)")
        raw = np.array([self.raw_bytes[r.image] for r in requests], dtype=float)  # the request's own image
        p = slot.params
        requested = rng.integers(p.steps_min, p.steps_max + 1, size=slot.K)  # user-customised steps
        self.controller.request(requested)  # type: ignore[attr-defined]
        ext = np.full(slot.K, edge_extraction_s(self.scenario, slot.K))
        return dataclasses.replace(slot, condition_bytes=raw, extraction_s=ext)


class OQCMethod(Method):
    """OQC+: VCE + SCA; users it keeps local generate on the device with no transfer at all."""

    def local_only(self, decision: Decision) -> np.ndarray | None:
        lo = getattr(self.controller, "last_local_only", None)
        return None if lo is None else np.asarray(lo, dtype=bool) & (decision.edge_steps == 0)
