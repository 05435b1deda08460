"""``make_controller(name, scenario)``: every decision maker of this package by name.

Learned policies (ddc, sac, ppo) load ``checkpoint`` or, when it is None, the checkpoint shipped
for K = 5 ``paper`` (``src/mobigen/data/{ddc_paper.pt, sac_paper.zip, ppo_paper.zip}``); DDC also
ships one checkpoint per ``users-N`` / ``low-end-N`` preset of Figs. 14-15 (``data/ddc/<preset>.pt``). A policy
only fits the scenario it was trained for (K, T range, budgets, ranges): when the requested
scenario's parameters differ from the checkpoint's recorded training scenario (DDC: in the
checkpoint; SB3: in ``<checkpoint>.json``), or a slot's K differs, the returned controller is a
``KFallback`` that logs a warning once and answers with Exact (a paper-trained policy scored
0.66 of Exact on ``low-end`` slots: out of distribution, so it is not used there) (retrain with
``mobigen train ddc --scenario NAME`` to get a DDC policy for that K).
"""

from __future__ import annotations

import logging
from pathlib import Path

from mobigen.control.base import Controller
from mobigen.control.exact import ExactController
from mobigen.control.random_controller import RandomController
from mobigen.scenario import Scenario, resolve
from mobigen.system.slot import Decision, Slot

log = logging.getLogger(__name__)

NAMES = ("ddc", "sac", "ppo", "exact", "random")
"""Controller names ``make_controller`` knows."""
DATA_DIR = Path(__file__).resolve().parents[1] / "data"
SHIPPED = {"ddc": DATA_DIR / "ddc_paper.pt", "sac": DATA_DIR / "sac_paper.zip", "ppo": DATA_DIR / "ppo_paper.zip"}
"""The checkpoints trained on the ``paper`` preset (K = 5) that ship with the package."""
SHIPPED_DDC_DIR = DATA_DIR / "ddc"
"""DDC checkpoints shipped for other presets (``users-N``, ``low-end-N``), one ``<preset>.pt`` each."""


def shipped_checkpoint(name: str, scenario: Scenario) -> Path:
    """The shipped checkpoint for ``name`` that was trained on ``scenario`` when one ships, else the
    ``paper`` one (which then falls back to Exact where it does not fit)."""
    if name == "ddc":
        per_preset = SHIPPED_DDC_DIR / f"{scenario.name}.pt"
        if per_preset.is_file():
            return per_preset
    return SHIPPED[name]


def _fits(ctrl, K: int, steps_min: int, steps_max: int) -> bool:
    """Whether a learned controller was trained for this K (and, when it records one, this T range)."""
    if K != ctrl.K:
        return False
    rng = (getattr(ctrl, "steps_min", steps_min), getattr(ctrl, "steps_max", steps_max))
    return rng == (steps_min, steps_max)


class KFallback:
    """Use ``primary`` for slots of its trained K (and T range) and ``fallback`` (Exact) otherwise,
    with a warning."""

    def __init__(self, primary, fallback: Controller, *, reason: str | None = None) -> None:
        self.primary, self.fallback = primary, fallback
        self.name = primary.name
        self.reason = reason
        """When set, every slot goes to the fallback (the policy was trained on other scenario parameters)."""
        self.n_fallback = 0
        """Slots answered by the fallback."""

    def decide(self, slot: Slot) -> Decision:
        if self.reason is None and _fits(self.primary, slot.K, slot.params.steps_min, slot.params.steps_max):
            return self.primary.decide(slot)
        if self.n_fallback == 0 and self.reason is not None:
            log.warning("%s: %s: falling back to Exact", self.name, self.reason)
        elif self.n_fallback == 0:
            log.warning("%s was trained for K = %d users (T %s..%s); slot has K = %d (T %d..%d): falling back to "
                        "Exact (retrain with `mobigen train %s --scenario ...`)", self.name, self.primary.K,
                        getattr(self.primary, "steps_min", "?"), getattr(self.primary, "steps_max", "?"), slot.K,
                        slot.params.steps_min, slot.params.steps_max, self.name)
        self.n_fallback += 1
        return self.fallback.decide(slot)


def _sidecar_scenario(path: Path) -> dict | None:
    """The training scenario recorded next to an SB3 checkpoint (``<name>.json``, key ``scenario_params``)."""
    import json

    side = path.with_suffix(".json")
    if not side.is_file():
        return None
    try:
        return json.loads(side.read_text()).get("scenario_params")
    except (OSError, ValueError):
        return None


def make_controller(name: str, scenario: Scenario | str = "paper", *, checkpoint: str | Path | None = None,
                    seed: int = 0) -> Controller:
    """The controller called ``name`` (one of ``NAMES``) for ``scenario``; see the module docstring."""
    sc = resolve(scenario)
    if name == "exact":
        return ExactController()
    if name == "random":
        return RandomController(seed)
    if name not in NAMES:
        raise ValueError(f"controller: unknown name '{name}' (known: {', '.join(NAMES)})")
    path = Path(checkpoint) if checkpoint is not None else shipped_checkpoint(name, sc)
    if not path.is_file():
        raise FileNotFoundError(f"{name} checkpoint '{path}' does not exist (train one: mobigen train {name} --out DIR)")
    if name == "ddc":
        from mobigen.control.ddc.controller import DDCController

        ctrl = DDCController.load(path)
        trained = ctrl.meta.get("scenario")
    else:
        from mobigen.control.sb3 import SB3Controller

        ctrl = SB3Controller.load(path, name)
        trained = _sidecar_scenario(path)
    if trained is not None:
        mine = {k: v for k, v in sc.to_dict().items() if k not in ("name", "num_users")}
        theirs = {k: v for k, v in trained.items() if k not in ("name", "num_users")}
        if mine != theirs:
            diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            return KFallback(ctrl, ExactController(), reason=f"checkpoint {path.name} was trained on scenario "
                             f"'{trained.get('name')}', which differs from '{sc.name}' in {', '.join(diff)}")
    if not _fits(ctrl, sc.num_users, sc.steps_min, sc.steps_max):
        return KFallback(ctrl, ExactController())
    return ctrl
