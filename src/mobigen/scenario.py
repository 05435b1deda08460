"""The paper's Table I as a typed, validated, immutable scenario, with presets.

Every value the paper leaves open has its default and a one-line reason in
``OPEN_CHOICES`` below (the single place where they are documented); the dataclass
fields carry units in their docstrings.

Units: seconds (s), bytes, FLOPs (operations), FLOPS (operations per second),
Mbps (10^6 bits per second). 1 KB = 1000 bytes everywhere in mobigen.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONDITIONS: tuple[str, ...] = ("canny", "hed", "depth", "seg")
"""λ, the visual condition set (Table I)."""
ALPHAS: tuple[float, ...] = (0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)
"""α, the resolution level set (Table I)."""
BETAS: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""β, the quality level set (Table I)."""

# The values the paper leaves open: default and reason, in one place.
OPEN_CHOICES: dict[str, tuple[Any, str]] = {
    "steps_min/steps_max": (
        (5, 30),
        "T_k ∈ {5..30}: 5 is the fewest steps the paper profiles (Fig. 4); past ~25-30 DDIM steps "
        "SD1.5 quality saturates, and C_E = 60 steps for K = 5 gives ~12 edge steps per user.",
    ),
    "eta_per_s": (
        0.01,
        "η in eq. (8): one second of latency costs 0.01 QoE, so a whole L̃ = 10 s costs 0.1 — latency "
        "breaks ties between configurations without outweighing the QoE differences (~0.1-0.3).",
    ),
    "omega": (
        "ω^I ~ U(0, 1), ω^T = 1 - ω^I, per user per slot",
        "the paper gives no distribution; uniform covers both preference camps of Algorithm 1 equally.",
    ),
    "qoe_threshold": (
        "Q̃_k ~ U(0.6, 0.8) per user per slot",
        "Table I gives the interval only; uniform is the least-informative draw on it.",
    ),
    "bandwidth": (
        "B↑, B↓ ~ U(5, 20) Mbps, independent, per user per slot",
        "Table I gives the interval only; independent uplink and downlink draws.",
    ),
    "image_bytes": (
        350_000,
        "the final 512x512 image the edge returns when o_k = 1: the paper's ≈ 350 KB (Sec. VI-B.3).",
    ),
    "latent_bytes": (
        32_768,
        "a 4x64x64 fp16 latent = 32,768 bytes, the paper's ≈ 33 KB (Sec. VI-B.3).",
    ),
    "eps0_flops": (
        1.2e12,
        "ε₀, FLOPs of one SD1.5 + ControlNet denoising step with classifier-free guidance at 512² "
        "(UNet ≈ 0.8 TFLOPs + ControlNet ≈ 0.4 TFLOPs). Only ratios enter the model, since f_E, f_k, "
        "C_E and C_k are all multiples of ε₀; ε₀ only scales the FLOPs reported.",
    ),
    "extraction_flops_ratio": (
        0.8,
        "on-device extraction costs 0.8 ε₀, so the mean extraction + upload latency over the five "
        "device types is ≈ 0.45 s, the paper's ≈ 0.5 s (Sec. VI-B.4).",
    ),
    "local_steps": (
        "d_k = T_k - ⌊o_k T_k⌋",
        "the steps the device really runs after the edge's ⌊o_k T_k⌋; eq. (6)/(13) write ⌊(1-o_k)T_k⌋, "
        "which undercounts by one when o_k T_k is fractional. Documented deviation.",
    ),
    "slots_per_episode": (
        20,
        "Algorithm 3's MAX_STEP: slots are independent draws, so the episode length only sets "
        "how often the environment resets.",
    ),
}


class ScenarioError(ValueError):
    """A scenario value is missing, unknown or out of range; the message names the field."""


def _err(field_name: str, message: str) -> ScenarioError:
    return ScenarioError(f"scenario field '{field_name}': {message}")


@dataclass(frozen=True)
class Scenario:
    """One system configuration (Table I plus the documented open choices)."""

    name: str = "paper"
    """Name of the scenario (free text)."""
    num_users: int = 5
    """K, users per time slot."""
    conditions: tuple[str, ...] = CONDITIONS
    """λ, the visual condition types available."""
    alphas: tuple[float, ...] = ALPHAS
    """α, the resolution levels (fraction of 512 px per side)."""
    betas: tuple[float, ...] = BETAS
    """β, the quality levels (fraction of the codec's quality scale)."""
    eps0_flops: float = 1.2e12
    """ε₀, FLOPs of one denoising step (FLOPs)."""
    edge_step_time_s: float = 0.11
    """Seconds the edge takes for one step; f_E = ε₀ / this (s)."""
    edge_budget_steps: float = 60.0
    """C_E in units of ε₀ (C_E = 60 ε₀ FLOPs per slot)."""
    device_compute_ratios: tuple[float, ...] = (1 / 10, 1 / 4, 1 / 2, 1 / 3, 1 / 5)
    """f_k / f_E of each device type; users take the types round-robin (dimensionless)."""
    device_budget_ratios: tuple[float, ...] = (1 / 50, 1 / 10, 1 / 5, 1 / 10, 1 / 5)
    """C_k / C_E of each device type, matched to device_compute_ratios (dimensionless)."""
    qoe_threshold_range: tuple[float, float] = (0.6, 0.8)
    """Q̃_k is drawn uniformly from this interval each slot (QoE units, [0, 1])."""
    latency_threshold_s: float = 10.0
    """L̃, the service latency threshold (s)."""
    delta: tuple[float, float, float, float] = (0.15, 0.15, 0.6, 0.1)
    """δ₁..δ₄, reward penalty weights of eq. (26): edge budget, device budget, QoE, latency."""
    uplink_mbps_range: tuple[float, float] = (5.0, 20.0)
    """B↑ is drawn uniformly from this interval per user per slot (Mbps)."""
    downlink_mbps_range: tuple[float, float] = (5.0, 20.0)
    """B↓ is drawn uniformly from this interval per user per slot (Mbps)."""
    steps_min: int = 5
    """Smallest T_k the controller may choose (steps)."""
    steps_max: int = 30
    """Largest T_k the controller may choose (steps)."""
    eta_per_s: float = 0.01
    """η of eq. (8), utility lost per second of latency (1/s)."""
    image_bytes: int = 350_000
    """D(x₀), bytes of the final image returned when o_k = 1 (bytes)."""
    latent_bytes: int = 32_768
    """D(z), bytes of the intermediate latent returned when o_k < 1 (bytes)."""
    extraction_flops_ratio: float = 0.8
    """Condition extraction cost on the device, in units of ε₀ (dimensionless)."""
    slots_per_episode: int = 20
    """Time slots per RL episode (Algorithm 3's MAX_STEP)."""
    omega: tuple[float, float] | None = None
    """Fixed preference (ω^I, ω^T) for every user, summing to 1; None draws ω per user per slot."""

    def __post_init__(self) -> None:
        self._validate()

    # ---- validation -------------------------------------------------------------------------
    def _validate(self) -> None:
        def positive(name: str, value: float, allow_zero: bool = False) -> None:
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise _err(name, f"must be a finite number, got {value!r}")
            if value < 0 or (value == 0 and not allow_zero):
                raise _err(name, f"must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")

        def interval(name: str, value: tuple[float, float], lo: float, hi: float) -> None:
            if len(value) != 2:
                raise _err(name, f"must be a [low, high] pair, got {list(value)!r}")
            a, b = value
            for v in (a, b):
                if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                    raise _err(name, f"must hold finite numbers, got {list(value)!r}")
            if not (lo <= a <= b <= hi):
                raise _err(name, f"must satisfy {lo} <= low <= high <= {hi}, got {list(value)!r}")

        if not isinstance(self.num_users, int) or isinstance(self.num_users, bool) or not 1 <= self.num_users <= 1024:
            raise _err("num_users", f"must be an integer in 1..1024, got {self.num_users!r}")
        if not self.conditions or any(c not in CONDITIONS for c in self.conditions):
            raise _err("conditions", f"must be a non-empty subset of {list(CONDITIONS)}, got {list(self.conditions)!r}")
        if len(set(self.conditions)) != len(self.conditions):
            raise _err("conditions", "must not repeat a condition")
        for name, values, allowed in (("alphas", self.alphas, ALPHAS), ("betas", self.betas, BETAS)):
            if not values:
                raise _err(name, "must not be empty")
            for v in values:
                if not any(math.isclose(v, a) for a in allowed):
                    raise _err(name, f"value {v!r} is not in Table I's set {list(allowed)}")
        positive("eps0_flops", self.eps0_flops)
        positive("edge_step_time_s", self.edge_step_time_s)
        positive("edge_budget_steps", self.edge_budget_steps)
        if not self.device_compute_ratios:
            raise _err("device_compute_ratios", "must list at least one device type")
        if len(self.device_budget_ratios) != len(self.device_compute_ratios):
            raise _err("device_budget_ratios", "must have one entry per device type (same length as device_compute_ratios)")
        for i, r in enumerate(self.device_compute_ratios):
            positive(f"device_compute_ratios[{i}]", r)
        for i, r in enumerate(self.device_budget_ratios):
            positive(f"device_budget_ratios[{i}]", r, allow_zero=True)
        interval("qoe_threshold_range", self.qoe_threshold_range, 0.0, 1.0)
        positive("latency_threshold_s", self.latency_threshold_s)
        if len(self.delta) != 4:
            raise _err("delta", f"must hold 4 weights δ₁..δ₄, got {list(self.delta)!r}")
        for i, d in enumerate(self.delta):
            positive(f"delta[{i}]", d, allow_zero=True)
        interval("uplink_mbps_range", self.uplink_mbps_range, 1e-9, 1e6)
        interval("downlink_mbps_range", self.downlink_mbps_range, 1e-9, 1e6)
        for name in ("steps_min", "steps_max", "image_bytes", "latent_bytes", "slots_per_episode"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise _err(name, f"must be a positive integer, got {v!r}")
        if self.steps_max < self.steps_min:
            raise _err("steps_max", f"must be >= steps_min ({self.steps_min}), got {self.steps_max}")
        if self.steps_max > 1000:
            raise _err("steps_max", f"must be <= 1000, got {self.steps_max}")
        positive("eta_per_s", self.eta_per_s, allow_zero=True)
        if self.omega is not None:
            if len(self.omega) != 2 or any(not isinstance(w, (int, float)) or isinstance(w, bool) for w in self.omega):
                raise _err("omega", f"must be a pair (ω^I, ω^T), got {self.omega!r}")
            if any(not 0.0 <= w <= 1.0 for w in self.omega) or not math.isclose(sum(self.omega), 1.0, abs_tol=1e-9):
                raise _err("omega", f"ω^I and ω^T must lie in [0, 1] and sum to 1, got {list(self.omega)!r}")
        positive("extraction_flops_ratio", self.extraction_flops_ratio, allow_zero=True)

    # ---- derived quantities -------------------------------------------------------------------
    @property
    def f_edge(self) -> float:
        """f_E, the edge's computing capacity (FLOPS)."""
        return self.eps0_flops / self.edge_step_time_s

    @property
    def edge_budget_flops(self) -> float:
        """C_E (FLOPs per slot)."""
        return self.edge_budget_steps * self.eps0_flops

    @property
    def user_types(self) -> tuple[int, ...]:
        """Device type of each user: round-robin over the types (Sec. VI-D.2)."""
        n = len(self.device_compute_ratios)
        return tuple(k % n for k in range(self.num_users))

    @property
    def f_devices(self) -> tuple[float, ...]:
        """f_k of each user (FLOPS)."""
        return tuple(self.device_compute_ratios[t] * self.f_edge for t in self.user_types)

    @property
    def device_budgets_flops(self) -> tuple[float, ...]:
        """C_k of each user (FLOPs per slot)."""
        return tuple(self.device_budget_ratios[t] * self.edge_budget_flops for t in self.user_types)

    @property
    def steps_values(self) -> tuple[int, ...]:
        """Every T_k the controller may choose."""
        return tuple(range(self.steps_min, self.steps_max + 1))

    # ---- (de)serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (tuples become lists) that ``from_dict`` reads back."""
        out = {f.name: (list(v) if isinstance(v, tuple) else v) for f in dataclasses.fields(self) for v in [getattr(self, f.name)]}
        if out["omega"] is None:  # "drawn per slot" is the absence of the field (TOML has no null)
            del out["omega"]
        return out

    def resolved(self) -> dict[str, Any]:
        """The scenario plus its derived per-user values and the open choices, for display."""
        out = self.to_dict()
        out["derived"] = {
            "f_edge_flops": self.f_edge,
            "edge_budget_flops": self.edge_budget_flops,
            "user_types": list(self.user_types),
            "f_devices_flops": list(self.f_devices),
            "device_budgets_flops": list(self.device_budgets_flops),
            "device_budget_steps": [c / self.eps0_flops for c in self.device_budgets_flops],
        }
        out["open_choices"] = {k: {"default": v, "reason": r} for k, (v, r) in OPEN_CHOICES.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Scenario":
        """Build from a mapping; every field must be known and every missing one takes its default,
        except ``name`` and ``num_users``, which a file must give."""
        if not isinstance(data, dict):
            raise ScenarioError(f"scenario must be a mapping of fields, got {type(data).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise _err(unknown[0], f"unknown field (known fields: {', '.join(known)})")
        for required in ("name", "num_users"):
            if required not in data:
                raise _err(required, "missing (required in a scenario file)")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            default = known[key].default
            if key == "omega" and value is not None:
                if not isinstance(value, (list, tuple)):
                    raise _err(key, f"must be a pair [ω^I, ω^T], got {value!r}")
                value = tuple(value)
            elif isinstance(default, tuple):
                if not isinstance(value, (list, tuple)):
                    raise _err(key, f"must be a list, got {value!r}")
                value = tuple(value)
            elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            elif isinstance(default, str) and not isinstance(value, str):
                raise _err(key, f"must be a string, got {value!r}")
            kwargs[key] = value
        return cls(**kwargs)

    def replace(self, **changes: Any) -> "Scenario":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


# ---- presets ----------------------------------------------------------------------------------

def _paper() -> Scenario:
    return Scenario()


def preset_names() -> list[str]:
    """The named presets (``users-N`` stands for N = 1..64)."""
    return ["paper", "users-N (N = 1..64)", "low-end", "low-end-N (N = 1..64)"]


_USERS_RE = re.compile(r"^(users|low-end)-(\d+)$")


def preset(name: str) -> Scenario:
    """A named preset: ``paper``, ``users-N`` (N = 1..64), ``low-end`` or ``low-end-N``."""
    if name == "paper":
        return _paper()
    if name == "low-end":
        # Sec. VI-E.2: no device can denoise locally (C_k = 0); devices still extract conditions.
        return Scenario(name="low-end", device_budget_ratios=(0.0,) * 5)
    m = _USERS_RE.match(name)
    if m:
        n = int(m.group(2))
        if not 1 <= n <= 64:
            raise ScenarioError(f"preset '{name}': N must be in 1..64")
        base = preset("paper" if m.group(1) == "users" else "low-end")
        return base.replace(name=name, num_users=n)
    raise ScenarioError(f"unknown scenario preset '{name}' (known: {', '.join(preset_names())})")


def load_file(path: str | Path) -> Scenario:
    """Load a scenario from a TOML (.toml) or YAML (.yaml/.yml) file."""
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(f"scenario file '{p}' does not exist")
    text = p.read_text(encoding="utf-8")
    suffix = p.suffix.lower()
    try:
        if suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib  # type: ignore[no-redef]
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ScenarioError(f"scenario file '{p}': unknown format '{suffix}' (use .toml, .yaml or .json)")
    except ScenarioError:
        raise
    except Exception as exc:  # parse errors of any of the three formats
        raise ScenarioError(f"scenario file '{p}' does not parse: {exc}") from exc
    return Scenario.from_dict(data)


def dump_file(scenario: Scenario, path: str | Path) -> None:
    """Write a scenario as TOML, YAML or JSON according to the suffix."""
    p = Path(path)
    data = scenario.to_dict()
    suffix = p.suffix.lower()
    if suffix == ".toml":
        p.write_text(_to_toml(data), encoding="utf-8")
    elif suffix in (".yaml", ".yml"):
        import yaml

        p.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    elif suffix == ".json":
        p.write_text(json.dumps(data, indent=2), encoding="utf-8")
    else:
        raise ScenarioError(f"unknown scenario format '{suffix}' (use .toml, .yaml or .json)")


def _to_toml(data: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        raise TypeError(type(v))

    return "".join(f"{k} = {fmt(v)}\n" for k, v in data.items())


def resolve(name_or_file: str | Scenario) -> Scenario:
    """A preset name or a file path (or a Scenario, passed through)."""
    if isinstance(name_or_file, Scenario):
        return name_or_file
    p = Path(name_or_file)
    if p.suffix.lower() in (".toml", ".yaml", ".yml", ".json"):
        return load_file(p)
    return preset(name_or_file)


__all__ = [
    "ALPHAS",
    "BETAS",
    "CONDITIONS",
    "OPEN_CHOICES",
    "Scenario",
    "ScenarioError",
    "dump_file",
    "load_file",
    "preset",
    "preset_names",
    "resolve",
]
