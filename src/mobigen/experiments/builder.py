"""Building the compared methods (``methods.Method``) for any scenario: the main comparison, Fig. 12's
variants and the sweeps' points, sharing one trained SemGen DQN per evaluation run."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

from mobigen.experiments.methods import (
    LABELS,
    METHOD_KEYS,
    AaaSChooser,
    AaaSMethod,
    FixedConditionChooser,
    Method,
    OQCMethod,
    RandomChooser,
    SamplerFactory,
    SemGenChooser,
    default_sampler_factory,
)
from mobigen.experiments.results import RanAs
from mobigen.scenario import CONDITIONS, Scenario, preset

FIG12A_VARIANTS: tuple[str, ...] = ("All Canny", "All HED", "All Depth", "All Seg", "Random", "VCE")
"""Fig. 12(a)'s condition-selection variants (all with DDC as the controller)."""
FIG12B_VARIANTS: dict[str, str] = {"None": "none", "Resolution only": "alpha", "Quality only": "beta", "Both": "both"}
"""Fig. 12(b)'s compression strategies -> ``VCE(compression=...)``."""

NOTES: dict[str, str] = {
    "random": "ν uniform over Table I; T uniform; o uniform on (0, 1]",
    "semgen": "one system-wide metric (DS) picks the condition, ignoring ω; α by an SB3 DQN; β = 1; "
              "equal steps ⌊C_E/K⌋ on the edge",
    "aaas": "raw PNG upload; random user-specified type, uncompressed, extracted on the edge; "
            "user-requested steps scaled to C_E",
    "oqc": "VCE + SCA (LP subproblems) for binary offloading and steps",
    "ours": "VCE (Alg. 1-2) + DDC (Alg. 3)",
    "exact": "VCE + the exact per-slot optimum of eq. (26) (DP)",
}
"""One line per method for the report: what it does where the paper is silent."""


class MethodBuilder:
    """Builds the compared methods for any scenario, training SemGen's DQN once per builder (one evaluation)."""

    def __init__(self, *, seed: int, dqn_steps: int, sampler_factory: SamplerFactory = default_sampler_factory,
                 controller_factory: Callable[[str, Scenario], Any] | None = None,
                 vce_factory: Callable[[Scenario], Any] | None = None) -> None:
        self.seed = seed
        self.dqn_steps = dqn_steps
        self.sampler_factory = sampler_factory
        self.controller_factory = controller_factory or _registry_controller
        self.vce_factory = vce_factory
        self.dqn_scenario: Scenario | None = None
        """The scenario SemGen's DQN is trained on (``evaluate`` sets the run's base scenario)."""
        self.dqn_train_s = 0.0
        """Time spent training SemGen's DQN (s)."""
        self.dqn_trainings = 0
        """Times SemGen's DQN was trained (count)."""
        self.notes: dict[str, str] = {}
        """Where a controller ran as something else or off its training scenario: key → sentence."""
        self._semgen: dict[tuple, Any] = {}
        self._fallback: dict[tuple[str, int], set[int]] = {}

    # ---- the parts a method is made of ---------------------------------------------------------------
    def vce(self, scenario: Scenario, compression: str = "both"):
        """The VCE of ``scenario`` (restricted to one compression axis for Fig. 12(b))."""
        from mobigen.conditions.vce import VCE, load_default_vce

        base = self.vce_factory(scenario) if self.vce_factory is not None else load_default_vce(scenario)
        if compression == "both":
            return base
        return VCE(base.table, base.quality, scenario, compression=compression)

    def semgen_policy(self, scenario: Scenario):
        """SemGen's DQN for ``scenario``: trained ONCE per builder, on ``dqn_scenario`` (the run's base scenario; the
        first one asked for when unset), and reused wherever the DQN's state and action spaces are the same. Its
        state (bandwidth, metric) has no user count, so a sweep over K deploys the same trained SemGen, with each
        K's tables (equal steps, condition)."""
        from mobigen.experiments.baselines.semgen import SemGenPolicy, build_tables

        key = _dqn_key(scenario)
        if key not in self._semgen:
            base = self.dqn_scenario
            train_on = base if base is not None and _dqn_key(base) == key else scenario
            t0 = time.perf_counter()
            vce = self.vce(train_on)
            self._semgen[key] = SemGenPolicy.train(train_on, vce.quality, _mean_bytes_fn(vce), steps=self.dqn_steps,
                                                   seed=self.seed)
            self.dqn_train_s += time.perf_counter() - t0
            self.dqn_trainings += 1
        trained = self._semgen[key]
        if trained.scenario == scenario:
            return trained
        vce = self.vce(scenario)
        return SemGenPolicy(scenario, build_tables(scenario, vce.quality, _mean_bytes_fn(vce)), trained.model,
                            trained.metric)

    def controller(self, name: str, scenario: Scenario) -> tuple[Any, RanAs | None]:
        """The registry's controller ``name`` for ``scenario`` and, when its documented fallback (Exact) answers
        every slot instead, what it runs as (also noted in ``notes``)."""
        ctrl = self.controller_factory(name, scenario)
        why = _fallback_reason(ctrl, scenario)  # control.registry.KFallback that answers every slot with Exact
        if why is not None:
            return ctrl, self._note_fallback(name, ctrl, scenario, why)
        self._note_off_scenario(name, ctrl, scenario)
        meta = getattr(ctrl, "meta", None)
        if isinstance(meta, dict) and meta.get("algo") == "ddc-set":  # say which DDC ran (issue 10)
            self.notes.setdefault(f"{name}-variant", (
                f"{name.upper()} is the set-structured DDC (control.ddc_set, one checkpoint for every K and scenario, "
                f"trained on K {meta.get('mixture', {}).get('k_min', '?')}..{meta.get('mixture', {}).get('k_max', '?')}"
                f"; ran as itself at every point), not the paper's flat K = 5 DDC (ddc-flat)"))
        return ctrl, None

    def _note_fallback(self, name: str, ctrl: Any, scenario: Scenario, why: str) -> RanAs:
        primary = ctrl.primary
        if primary.K != scenario.num_users:
            ks = self._fallback.setdefault((name, int(primary.K)), set())
            ks.add(scenario.num_users)
            self.notes[f"{name}@K≠{primary.K}"] = (
                f"the shipped {name.upper()} checkpoint is for K = {primary.K}; control.registry answers "
                f"K = {', '.join(str(k) for k in sorted(ks))} with its documented fallback, the exact optimum "
                f"(KFallback), so those points show VCE + Exact, not a retrained {name.upper()}")
            return RanAs(controller="exact", reason=f"the {name.upper()} checkpoint is for K = {primary.K}, "
                                                     f"not K = {scenario.num_users}")
        self.notes[f"{name}@{scenario.name}"] = (
            f"for scenario '{scenario.name}' control.registry answers with its documented fallback, the exact "
            f"optimum ({why}), so those points show VCE + Exact, not {name.upper()}")
        return RanAs(controller="exact", reason=f"scenario '{scenario.name}': {why}")

    def _note_off_scenario(self, name: str, ctrl: Any, scenario: Scenario) -> None:
        """Note a fixed-K checkpoint used as is on another scenario than it was trained on (a controller without a
        fixed K, such as the set-structured DDC, takes the scenario's numbers as inputs: nothing to note)."""
        meta = getattr(ctrl, "meta", None)
        trained = meta.get("scenario") if isinstance(meta, dict) else None
        if not isinstance(trained, dict) or getattr(ctrl, "primary", None) is not None or not hasattr(ctrl, "K"):
            return
        mine = {k: v for k, v in scenario.to_dict().items() if k not in ("name", "num_users")}
        theirs = {k: v for k, v in trained.items() if k not in ("name", "num_users")}
        if mine != theirs:
            diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            self.notes[f"{name}@{scenario.name}"] = (
                f"the {name.upper()} checkpoint was trained on scenario '{trained.get('name')}' and is used as is "
                f"for '{scenario.name}' (differs in {', '.join(diff)}); the guard repairs any budget violation")

    # ---- the methods -----------------------------------------------------------------------------------
    def build(self, scenario: Scenario, keys: Iterable[str] = METHOD_KEYS) -> list[Method]:
        """The methods ``keys`` (default: all six, in the paper's order) for ``scenario``."""
        vce = self.vce(scenario)
        out: list[Method] = []
        for key in keys:
            make = getattr(self, f"_build_{key}", None)
            if key not in METHOD_KEYS or make is None:
                raise ValueError(f"method: unknown '{key}' (known: {', '.join(METHOD_KEYS)})")
            out.append(make(scenario, vce))
        return out

    def _build_random(self, scenario: Scenario, vce: Any) -> Method:
        from mobigen.experiments.baselines.random_method import RandomController

        ch = RandomChooser(vce)
        return Method("random", LABELS["random"], RandomController(self.seed),
                      self.sampler_factory(scenario, chooser=ch, vce=vce), ch, note=NOTES["random"])

    def _build_semgen(self, scenario: Scenario, vce: Any) -> Method:
        from mobigen.experiments.baselines.semgen import EqualStepsEdgeController

        ch = SemGenChooser(vce, self.semgen_policy(scenario))
        return Method("semgen", LABELS["semgen"], EqualStepsEdgeController(scenario),
                      self.sampler_factory(scenario, chooser=ch, vce=vce), ch, note=NOTES["semgen"])

    def _build_aaas(self, scenario: Scenario, vce: Any) -> Method:
        from mobigen.experiments.baselines.aaas import UserStepsEdgeController, load_raw_table

        ch = AaaSChooser(vce)
        return AaaSMethod("aaas", LABELS["aaas"], UserStepsEdgeController(),
                          self.sampler_factory(scenario, chooser=ch, vce=vce), ch, scenario=scenario,
                          raw_bytes=load_raw_table(), note=NOTES["aaas"])

    def _build_oqc(self, scenario: Scenario, vce: Any) -> Method:
        from mobigen.experiments.baselines.oqc import OQCController

        return OQCMethod("oqc", LABELS["oqc"], OQCController(), self.sampler_factory(scenario, vce=vce),
                         note=NOTES["oqc"])

    def _build_ours(self, scenario: Scenario, vce: Any) -> Method:
        ctrl, ran_as = self.controller("ddc", scenario)
        return Method("ours", LABELS["ours"], ctrl, self.sampler_factory(scenario, vce=vce), note=NOTES["ours"],
                      ran_as=ran_as)

    def _build_exact(self, scenario: Scenario, vce: Any) -> Method:
        ctrl, ran_as = self.controller("exact", scenario)
        return Method("exact", LABELS["exact"], ctrl, self.sampler_factory(scenario, vce=vce), note=NOTES["exact"],
                      ran_as=ran_as)

    def fig12a(self, scenario: Scenario) -> list[Method]:
        """Fig. 12(a)'s variants, each with DDC."""
        vce = self.vce(scenario)
        out = []
        for name in FIG12A_VARIANTS:
            if name == "VCE":
                ch = None
            elif name == "Random":
                ch = RandomChooser(vce)
            else:
                ch = FixedConditionChooser(vce, name.split()[1].lower())
            ctrl, ran_as = self.controller("ddc", scenario)
            out.append(Method(f"fig12a:{name}", name, ctrl, self.sampler_factory(scenario, chooser=ch, vce=vce), ch,
                              ran_as=ran_as))
        return out

    def fig12b(self, scenario: Scenario) -> list[Method]:
        """Fig. 12(b)'s compression strategies (VCE restricted to them), each with DDC."""
        out = []
        for name, mode in FIG12B_VARIANTS.items():
            vce = self.vce(scenario, mode)
            ctrl, ran_as = self.controller("ddc", scenario)
            out.append(Method(f"fig12b:{name}", name, ctrl, self.sampler_factory(scenario, vce=vce), ran_as=ran_as))
        return out


def _dqn_key(scenario: Scenario) -> tuple:
    """What SemGen's DQN's state, actions and reward scale depend on, apart from the user count."""
    return (tuple(scenario.uplink_mbps_range), tuple(scenario.alphas), tuple(scenario.betas),
            tuple(scenario.conditions), scenario.eta_per_s)


def _mean_bytes_fn(vce: Any) -> Callable[[int, float, float], float]:
    """``mean_bytes(c, α, β)``: the profiled mean condition bytes of a configuration (bytes)."""
    table = vce.table

    def mean_bytes(c: int, a: float, b: float) -> float:
        return float(table.mean_bytes[table.index(CONDITIONS[c], a, b)])

    return mean_bytes


def _fallback_reason(ctrl: Any, scenario: Scenario) -> str | None:
    """Why a ``control.registry.KFallback`` answers every slot of ``scenario`` with Exact instead of its
    policy (None: it is not a KFallback, or its policy fits ``scenario``)."""
    primary = getattr(ctrl, "primary", None)
    if primary is None:
        return None
    if getattr(ctrl, "reason", None):
        return str(ctrl.reason)
    if getattr(primary, "K", scenario.num_users) != scenario.num_users:
        return f"policy trained for K = {primary.K}"
    lo, hi = getattr(primary, "steps_min", scenario.steps_min), getattr(primary, "steps_max", scenario.steps_max)
    if (lo, hi) != (scenario.steps_min, scenario.steps_max):
        return f"policy trained for T = {lo}..{hi}"
    return None


def sweep_scenario(base: Scenario, n: int) -> Scenario:
    """``base`` with ``n`` users, named like the preset it equals (``users-N`` / ``low-end-N``) so that the
    registry finds a checkpoint shipped for that preset; ``<base name>-N`` otherwise."""
    scn = base.replace(num_users=n, name=f"{base.name}-{n}")
    mine = {k: v for k, v in scn.to_dict().items() if k != "name"}
    for family in ("users", "low-end"):
        if n <= 64:
            ref = preset(f"{family}-{n}")
            if {k: v for k, v in ref.to_dict().items() if k != "name"} == mine:
                return ref
    return scn


def low_end(sc: Scenario) -> Scenario:
    """The low-end variant of a scenario: no device can denoise locally (C_k = 0, Sec. VI-E.2)."""
    return sc.replace(name="low-end", device_budget_ratios=(0.0,) * len(sc.device_budget_ratios))


def _registry_controller(name: str, scenario: Scenario):
    from mobigen.control.registry import make_controller

    return make_controller(name, scenario)
