"""The paper's Table I as a typed, validated, immutable scenario, with presets.

``Scenario`` is a frozen pydantic model: the field types and constraints below do the validation
and the coercion (a list read from a file becomes the tuple callers expect, an integer where a
float is expected becomes a float); anything else raises :class:`ScenarioError`, a ``ValueError``
whose message names the field. Every value the paper leaves open has its default and a one-line
reason in ``OPEN_CHOICES`` below (the single place where they are documented); the field
docstrings carry the units and become the fields' descriptions in ``Scenario.model_json_schema()``.

Files: TOML (written with tomli-w), YAML or JSON, holding exactly the fields; ``format_scenario``
writes one, ``load_file`` reads it back to an equal ``Scenario``.

Units: seconds (s), bytes, FLOPs (operations), FLOPS (operations per second),
Mbps (10^6 bits per second). 1 KB = 1000 bytes everywhere in mobigen.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, ValidationError, ValidationInfo, field_validator

from mobigen.errors import UserError

CONDITIONS: tuple[str, ...] = ("canny", "hed", "depth", "seg")
"""λ, the visual condition set (Table I)."""
ALPHAS: tuple[float, ...] = (0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)
"""α, the resolution level set (Table I)."""
BETAS: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""β, the quality level set (Table I)."""

FORMATS: tuple[str, ...] = ("toml", "yaml", "json")
"""The scenario file formats (``format_scenario``, ``dump_file``, ``load_file``)."""
_SUFFIXES: dict[str, str] = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}

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


class ScenarioError(UserError):
    """A scenario value is missing, unknown or out of range; the message names the field."""


def _err(field_name: str, message: str) -> ScenarioError:
    return ScenarioError(f"scenario field '{field_name}': {message}")


Finite = Annotated[StrictFloat, Field(allow_inf_nan=False)]
"""A finite number (an integer is read as a float; a bool, a string, NaN or ±inf are refused)."""
Positive = Annotated[StrictFloat, Field(gt=0, allow_inf_nan=False)]
"""A finite number > 0."""
NonNegative = Annotated[StrictFloat, Field(ge=0, allow_inf_nan=False)]
"""A finite number >= 0."""
Count = Annotated[StrictInt, Field(ge=1)]
"""An integer >= 1 (a bool or a float is refused)."""


def _interval(value: tuple[float, ...], lo: float, hi: float) -> tuple[float, ...]:
    if len(value) != 2:
        raise ValueError(f"must be a [low, high] pair, got {list(value)!r}")
    a, b = value
    if not lo <= a <= b <= hi:
        raise ValueError(f"must satisfy {lo} <= low <= high <= {hi}, got {list(value)!r}")
    return value


def _from_validation(exc: ValidationError) -> ScenarioError:
    """The first pydantic error as a ScenarioError naming the field (and the entry of a list)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = first.get("loc") or ("scenario",)
    field_name, entries = str(loc[0]), [str(x) for x in loc[1:] if isinstance(x, int)]
    if first.get("type") == "extra_forbidden":
        return _err(field_name, f"unknown field (known fields: {', '.join(Scenario.model_fields)})")
    message = str(first.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ").replace("a valid tuple", "a list")  # files hold lists
    where = f"entry {entries[0]}: " if entries else ""
    got = "" if first.get("type") == "value_error" else f", got {first.get('input')!r}"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return _err(field_name, f"{where}{message}{got}{more}")


class EdgeSpec(BaseModel):
    """One edge site of a multi-edge scenario (issue 11): its own f_E^m, C_E^m and link scaling."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    edge_step_time_s: Positive = 0.11
    """Seconds this edge takes for one step; f_E^m = ε₀ / this (s)."""
    edge_budget_steps: Positive = 60.0
    """C_E^m in units of ε₀ (FLOPs per slot / ε₀)."""
    uplink_scale: Positive = 1.0
    """B↑_km = this × a fresh U(uplink_mbps_range) draw per user per slot (dimensionless; see system.multiedge)."""
    downlink_scale: Positive = 1.0
    """B↓_km = this × a fresh U(downlink_mbps_range) draw per user per slot (dimensionless)."""


class EdgeBatchCurve(BaseModel):
    """Seconds per batched edge step against batch size (issue 14; ``system.batching``), with its origin."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    batch_sizes: Annotated[tuple[Count, ...], Field(min_length=2)]
    """Batch sizes measured, strictly increasing, starting at 1 (users per batched step)."""
    step_time_s: Annotated[tuple[Positive, ...], Field(min_length=2)]
    """Seconds one batched step took at each batch size; only the shape t(B)/t(1) is used (s)."""
    origin: Annotated[StrictStr, Field(min_length=1)]
    """Where the numbers come from (``mobigen bench edge`` writes what it measured on which machine)."""

    @field_validator("batch_sizes")
    @classmethod
    def _check_sizes(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if v[0] != 1 or any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError(f"must start at 1 and increase strictly, got {list(v)!r}")
        return v

    @field_validator("step_time_s")
    @classmethod
    def _check_times(cls, v: tuple[float, ...], info: ValidationInfo) -> tuple[float, ...]:
        sizes = info.data.get("batch_sizes")
        if sizes is not None and len(v) != len(sizes):
            raise ValueError("must have one entry per batch size (same length as batch_sizes)")
        return v


class Scenario(BaseModel):
    """One system configuration (Table I plus the documented open choices)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    name: StrictStr = "paper"
    """Name of the scenario (free text)."""
    num_users: Annotated[StrictInt, Field(ge=1, le=1024)] = 5
    """K, users per time slot (1..1024)."""
    conditions: tuple[StrictStr, ...] = CONDITIONS
    """λ, the visual condition types available (a non-empty subset of CONDITIONS)."""
    alphas: tuple[Finite, ...] = ALPHAS
    """α, the resolution levels (fraction of 512 px per side; a non-empty subset of ALPHAS)."""
    betas: tuple[Finite, ...] = BETAS
    """β, the quality levels (fraction of the codec's quality scale; a non-empty subset of BETAS)."""
    eps0_flops: Positive = 1.2e12
    """ε₀, FLOPs of one denoising step (FLOPs)."""
    edge_step_time_s: Positive = 0.11
    """Seconds the edge takes for one step; f_E = ε₀ / this (s)."""
    edge_budget_steps: Positive = 60.0
    """C_E in units of ε₀ (C_E = 60 ε₀ FLOPs per slot)."""
    device_compute_ratios: Annotated[tuple[Positive, ...], Field(min_length=1)] = (1 / 10, 1 / 4, 1 / 2, 1 / 3, 1 / 5)
    """f_k / f_E of each device type; users take the types round-robin (dimensionless)."""
    device_budget_ratios: tuple[NonNegative, ...] = (1 / 50, 1 / 10, 1 / 5, 1 / 10, 1 / 5)
    """C_k / C_E of each device type, matched to device_compute_ratios (dimensionless)."""
    qoe_threshold_range: tuple[Finite, ...] = (0.6, 0.8)
    """Q̃_k is drawn uniformly from this [low, high] interval each slot (QoE units, within [0, 1])."""
    latency_threshold_s: Positive = 10.0
    """L̃, the service latency threshold (s)."""
    delta: tuple[NonNegative, ...] = (0.15, 0.15, 0.6, 0.1)
    """δ₁..δ₄, reward penalty weights of eq. (26): edge budget, device budget, QoE, latency (>= 0)."""
    uplink_mbps_range: tuple[Finite, ...] = (5.0, 20.0)
    """B↑ is drawn uniformly from this [low, high] interval per user per slot (Mbps, > 0)."""
    downlink_mbps_range: tuple[Finite, ...] = (5.0, 20.0)
    """B↓ is drawn uniformly from this [low, high] interval per user per slot (Mbps, > 0)."""
    steps_min: Count = 5
    """Smallest T_k the controller may choose (steps)."""
    steps_max: Annotated[StrictInt, Field(ge=1, le=1000)] = 30
    """Largest T_k the controller may choose (steps, steps_min..1000)."""
    eta_per_s: NonNegative = 0.01
    """η of eq. (8), utility lost per second of latency (1/s)."""
    image_bytes: Count = 350_000
    """D(x₀), bytes of the final image returned when o_k = 1 (bytes)."""
    latent_bytes: Count = 32_768
    """D(z), bytes of the intermediate latent returned when o_k < 1 (bytes)."""
    extraction_flops_ratio: NonNegative = 0.8
    """Condition extraction cost on the device, in units of ε₀ (dimensionless)."""
    slots_per_episode: Count = 20
    """Time slots per RL episode (Algorithm 3's MAX_STEP)."""
    omega: tuple[Finite, ...] | None = None
    """Fixed preference (ω^I, ω^T) for every user, in [0, 1] and summing to 1; None draws ω per user per slot."""
    edges: Annotated[tuple[EdgeSpec, ...], Field(min_length=1, max_length=64)] | None = None
    """M edge sites (issue 11; system.multiedge), 1..64; None = the one edge of the fields above."""
    edge_batch_curve: EdgeBatchCurve | None = None
    """Batch-time curve of the batched-edge latency view (issue 14, ``system.batching``); None = the curve
    shipped in mobigen/data/edge_batch_curve.json (measured by ``mobigen bench edge``, origin in the file)."""

    def __init__(self, **data: Any) -> None:
        """Validate the fields; a bad value raises ScenarioError naming the field."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _from_validation(exc) from None

    # ---- validation beyond the field types (pydantic runs these in field order) ----------------
    @field_validator("conditions")
    @classmethod
    def _check_conditions(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v or any(c not in CONDITIONS for c in v):
            raise ValueError(f"must be a non-empty subset of {list(CONDITIONS)}, got {list(v)!r}")
        if len(set(v)) != len(v):
            raise ValueError("must not repeat a condition")
        return v

    @field_validator("alphas", "betas")
    @classmethod
    def _check_levels(cls, v: tuple[float, ...], info: ValidationInfo) -> tuple[float, ...]:
        allowed = ALPHAS if info.field_name == "alphas" else BETAS
        if not v:
            raise ValueError("must not be empty")
        for x in v:
            if not any(math.isclose(x, a) for a in allowed):
                raise ValueError(f"value {x!r} is not in Table I's set {list(allowed)}")
        return v

    @field_validator("device_budget_ratios")
    @classmethod
    def _check_budget_ratios(cls, v: tuple[float, ...], info: ValidationInfo) -> tuple[float, ...]:
        compute = info.data.get("device_compute_ratios")
        if compute is not None and len(v) != len(compute):
            raise ValueError("must have one entry per device type (same length as device_compute_ratios)")
        return v

    @field_validator("qoe_threshold_range")
    @classmethod
    def _check_qoe_range(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        return _interval(v, 0.0, 1.0)

    @field_validator("uplink_mbps_range", "downlink_mbps_range")
    @classmethod
    def _check_bandwidth_range(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        return _interval(v, 1e-9, 1e6)

    @field_validator("delta")
    @classmethod
    def _check_delta(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) != 4:
            raise ValueError(f"must hold 4 weights δ₁..δ₄, got {list(v)!r}")
        return v

    @field_validator("steps_max")
    @classmethod
    def _check_steps_max(cls, v: int, info: ValidationInfo) -> int:
        lo = info.data.get("steps_min")
        if lo is not None and v < lo:
            raise ValueError(f"must be >= steps_min ({lo}), got {v}")
        return v

    @field_validator("omega")
    @classmethod
    def _check_omega(cls, v: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if v is None:
            return v
        if len(v) != 2:
            raise ValueError(f"must be a pair (ω^I, ω^T), got {list(v)!r}")
        if any(not 0.0 <= w <= 1.0 for w in v) or not math.isclose(sum(v), 1.0, abs_tol=1e-9):
            raise ValueError(f"ω^I and ω^T must lie in [0, 1] and sum to 1, got {list(v)!r}")
        return v

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
        """Plain-JSON form (tuples become lists) that ``from_dict`` reads back; ``omega`` is left
        out when None ("drawn per slot" is the absence of the field: TOML has no null)."""
        return self.model_dump(mode="json", exclude_none=True)

    def derived(self) -> dict[str, Any]:
        """The per-user values computed from the fields (for display; never read back)."""
        return {
            "f_edge_flops": self.f_edge,
            "edge_budget_flops": self.edge_budget_flops,
            "user_types": list(self.user_types),
            "f_devices_flops": list(self.f_devices),
            "device_budgets_flops": list(self.device_budgets_flops),
            "device_budget_steps": [c / self.eps0_flops for c in self.device_budgets_flops],
        }

    def resolved(self) -> dict[str, Any]:
        """The scenario plus its derived per-user values and the open choices, for display."""
        out = self.to_dict()
        out["derived"] = self.derived()
        out["open_choices"] = {k: {"default": v, "reason": r} for k, (v, r) in OPEN_CHOICES.items()}
        return out

    @classmethod
    def from_dict(cls, data: Any) -> "Scenario":
        """Build from a mapping; every field must be known and every missing one takes its default,
        except ``name`` and ``num_users``, which a file must give."""
        if not isinstance(data, dict):
            raise ScenarioError(f"scenario must be a mapping of fields, got {type(data).__name__}")
        bad_keys = [k for k in data if not isinstance(k, str)]
        if bad_keys:
            raise ScenarioError(f"scenario field {bad_keys[0]!r}: field names must be strings")
        unknown = sorted(set(data) - set(cls.model_fields))
        if unknown:
            raise _err(unknown[0], f"unknown field (known fields: {', '.join(cls.model_fields)})")
        for required in ("name", "num_users"):
            if required not in data:
                raise _err(required, "missing (required in a scenario file)")
        return cls(**data)

    def replace(self, **changes: Any) -> "Scenario":
        """A copy with some fields changed (validated again; unlike ``model_copy``)."""
        return type(self)(**(self.model_dump() | changes))


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


def _format_of(path: Path) -> str:
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ScenarioError(f"scenario file '{path}': unknown format '{path.suffix}' (use .toml, .yaml or .json)")
    return fmt


def parse_scenario(text: str, fmt: str, source: str = "<text>") -> Scenario:
    """Read a scenario from TOML, YAML or JSON text (``fmt`` one of FORMATS)."""
    if fmt not in FORMATS:
        raise ScenarioError(f"format: must be one of {list(FORMATS)}, got {fmt!r}")
    try:
        if fmt == "toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib  # type: ignore[no-redef]
            data = tomllib.loads(text)
        elif fmt == "yaml":
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # parse errors of any of the three formats
        raise ScenarioError(f"scenario file '{source}' does not parse: {exc}") from exc
    return Scenario.from_dict(data)


def load_file(path: str | Path) -> Scenario:
    """Load a scenario from a TOML (.toml), YAML (.yaml/.yml) or JSON (.json) file."""
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(f"scenario file '{p}' does not exist")
    fmt = _format_of(p)
    return parse_scenario(p.read_text(encoding="utf-8"), fmt, str(p))


def _comment_block(scenario: Scenario) -> str:
    """The derived values and the open choices as ``#`` comments (valid in TOML and YAML)."""
    lines = ["", "# ---- derived from the fields above (for reading; not read back) ----"]
    lines += [f"# {k} = {json.dumps(v)}" for k, v in scenario.derived().items()]
    lines += ["", "# ---- open choices of the paper: default, and why ----"]
    for key, (default, reason) in OPEN_CHOICES.items():
        lines.append(f"# {key} = {json.dumps(default, ensure_ascii=False)}")
        lines.append("#     " + " ".join(reason.split()))
    return "\n".join(lines) + "\n"


def format_scenario(scenario: Scenario, fmt: str = "toml", *, explain: bool = False) -> str:
    """The scenario as a TOML, YAML or JSON file that ``load_file`` reads back to an equal Scenario.

    ``explain`` adds the derived values and the open choices: as comments in TOML and YAML (the text
    still loads back), as the ``derived`` and ``open_choices`` keys in JSON (for programs; that JSON
    is a report, not a scenario file)."""
    if fmt not in FORMATS:
        raise ScenarioError(f"format: must be one of {list(FORMATS)}, got {fmt!r}")
    if fmt == "json":
        data = scenario.resolved() if explain else scenario.to_dict()
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "toml":
        import tomli_w

        text = tomli_w.dumps(scenario.to_dict())
    else:
        import yaml

        text = yaml.safe_dump(scenario.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=None,
                              width=1000)
    return text + _comment_block(scenario) if explain else text


def dump_file(scenario: Scenario, path: str | Path) -> None:
    """Write a scenario as TOML, YAML or JSON according to the suffix."""
    p = Path(path)
    try:
        fmt = _format_of(p)
    except ScenarioError:
        raise ScenarioError(f"unknown scenario format '{p.suffix}' (use .toml, .yaml or .json)") from None
    p.write_text(format_scenario(scenario, fmt), encoding="utf-8")


def resolve(name_or_file: str | Scenario) -> Scenario:
    """A preset name or a file path (or a Scenario, passed through)."""
    if isinstance(name_or_file, Scenario):
        return name_or_file
    p = Path(name_or_file)
    if p.suffix.lower() in _SUFFIXES:
        return load_file(p)
    return preset(name_or_file)


__all__ = [
    "ALPHAS",
    "BETAS",
    "CONDITIONS",
    "FORMATS",
    "OPEN_CHOICES",
    "EdgeBatchCurve",
    "EdgeSpec",
    "Scenario",
    "ScenarioError",
    "dump_file",
    "format_scenario",
    "load_file",
    "parse_scenario",
    "preset",
    "preset_names",
    "resolve",
]
