"""``resolve_controller(name, scenario) -> (controller, fallback reason | None)``: every decision maker
of this package by name, and — the one place that decides it — whether it will really run.

* ``ddc``: the set-structured DDC (``control.ddc_set``), one checkpoint for every K and scenario
  (``data/ddc_set.pt``); it reads the scenario's numbers as inputs, so it never falls back.
* ``ddc-flat``: the paper's flat-MLP DDC (``control.ddc``), trained for K = 5 ``paper``
  (``data/ddc_flat_paper.pt``); ``sac``, ``ppo``: SB3 policies for K = 5 ``paper``
  (``data/{sac,ppo}_paper.zip``). Each fits only the scenario it was trained on (K, T range and, as
  recorded in the checkpoint or its ``.json`` sidecar, every other number). For any other scenario
  the returned controller is a ``KFallback`` that answers with Exact, and the reason says why.
* ``exact``, ``random``: always run as themselves.

The CLI (``mobigen bench controllers``), the evaluation and the server call ``resolve_controller``
and report the reason: a controller that fell back is labelled, never scored as itself.
``make_controller`` is the same without the reason.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from mobigen.control.base import Controller
from mobigen.control.exact import ExactController
from mobigen.control.random_controller import RandomController
from mobigen.scenario import Scenario, resolve
from mobigen.system.slot import Decision, Slot

log = logging.getLogger(__name__)

NAMES = ("ddc", "ddc-flat", "sac", "ppo", "exact", "random")
"""Controller names ``resolve_controller`` knows."""
LEARNED = ("ddc", "ddc-flat", "sac", "ppo")
"""The names that load a checkpoint."""
DATA_DIR = Path(__file__).resolve().parents[1] / "data"
SHIPPED = {"ddc": DATA_DIR / "ddc_set.pt", "ddc-flat": DATA_DIR / "ddc_flat_paper.pt",
           "sac": DATA_DIR / "sac_paper.zip", "ppo": DATA_DIR / "ppo_paper.zip"}
"""The checkpoints that ship with the package (all but ``ddc``: trained on ``paper``, K = 5)."""


def shipped_checkpoint(name: str, scenario: Scenario | None = None) -> Path:
    """The shipped checkpoint of ``name`` (one per name; ``scenario`` is accepted for old callers)."""
    del scenario
    if name not in SHIPPED:
        raise ValueError(f"controller: '{name}' has no checkpoint (learned: {', '.join(LEARNED)})")
    return SHIPPED[name]


def _fits(ctrl, K: int, steps_min: int, steps_max: int) -> bool:
    """Whether a fixed-K learned controller was trained for this K (and, when it records one, this T range)."""
    if K != ctrl.K:
        return False
    rng = (getattr(ctrl, "steps_min", steps_min), getattr(ctrl, "steps_max", steps_max))
    return rng == (steps_min, steps_max)


class KFallback:
    """Use ``primary`` for slots it fits (its trained K and T range) and ``fallback`` (Exact) otherwise;
    with ``reason`` set, every slot goes to the fallback. ``n_fallback`` counts the slots the fallback
    answered; ``ran_as`` names it."""

    def __init__(self, primary, fallback: Controller, *, reason: str | None = None) -> None:
        self.primary, self.fallback = primary, fallback
        self.name = primary.name
        self.reason = reason
        """When set, every slot goes to the fallback (the policy was trained on other scenario parameters)."""
        self.n_fallback = 0
        """Slots answered by the fallback."""
        self.ran_as = fallback.name
        """The controller that answers the slots the primary cannot serve."""

    @property
    def K(self) -> int:
        return self.primary.K

    def decide(self, slot: Slot) -> Decision:
        if self.reason is None and _fits(self.primary, slot.K, slot.params.steps_min, slot.params.steps_max):
            return self.primary.decide(slot)
        if self.n_fallback == 0:
            log.warning("%s: %s: answering with %s", self.name, self.reason or self.slot_reason(slot), self.ran_as)
        self.n_fallback += 1
        return self.fallback.decide(slot)

    def slot_reason(self, slot: Slot) -> str:
        """Why the primary cannot serve ``slot``."""
        return (f"trained for K = {self.primary.K} users (T {getattr(self.primary, 'steps_min', '?')}.."
                f"{getattr(self.primary, 'steps_max', '?')}), slot has K = {slot.K} (T {slot.params.steps_min}.."
                f"{slot.params.steps_max})")


def _sidecar_scenario(path: Path) -> dict | None:
    """The training scenario recorded next to an SB3 checkpoint (``<name>.json``, key ``scenario_params``)."""
    side = path.with_suffix(".json")
    if not side.is_file():
        return None
    try:
        return json.loads(side.read_text()).get("scenario_params")
    except (OSError, ValueError):
        return None


def _load_learned(name: str, path: Path):  # noqa: ANN202
    """(controller, the training scenario it records or None)."""
    if name == "ddc":
        from mobigen.control.ddc_set.controller import SetDDCController, is_set_checkpoint

        if not is_set_checkpoint(path):  # a flat checkpoint named for "ddc": serve it as what it is
            return _load_learned("ddc-flat", path)
        return SetDDCController.load(path), None
    if name == "ddc-flat":
        from mobigen.control.ddc.controller import DDCController

        ctrl = DDCController.load(path)
        return ctrl, ctrl.meta.get("scenario")
    from mobigen.control.sb3 import SB3Controller

    return SB3Controller.load(path, name), _sidecar_scenario(path)


def _scenario_mismatch(trained: dict | None, sc: Scenario, path: Path) -> str | None:
    if trained is None:
        return None
    mine = {k: v for k, v in sc.to_dict().items() if k not in ("name", "num_users")}
    theirs = {k: v for k, v in trained.items() if k not in ("name", "num_users")}
    if mine == theirs:
        return None
    diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    return (f"checkpoint {path.name} was trained on scenario '{trained.get('name')}', which differs from "
            f"'{sc.name}' in {', '.join(diff)}")


def resolve_controller(name: str, scenario: Scenario | str = "paper", *, checkpoint: str | Path | None = None,
                       seed: int = 0) -> tuple[Controller, str | None]:
    """(the controller called ``name`` for ``scenario``, why it falls back to Exact — None when it runs as
    itself on every slot of ``scenario``); see the module docstring. Unknown names raise ``ValueError``,
    a missing checkpoint ``FileNotFoundError``."""
    sc = resolve(scenario)
    if name == "exact":
        return ExactController(), None
    if name == "random":
        return RandomController(seed), None
    if name not in NAMES:
        raise ValueError(f"controller: unknown name '{name}' (known: {', '.join(NAMES)})")
    path = Path(checkpoint) if checkpoint is not None else SHIPPED[name]
    if not path.is_file():
        algo = "ddc" if name.startswith("ddc") else name
        raise FileNotFoundError(f"{name} checkpoint '{path}' does not exist (train one: mobigen train {algo} --out DIR)")
    ctrl, trained = _load_learned(name, path)
    if not hasattr(ctrl, "K"):  # the set DDC: any K, scenario numbers are inputs
        return ctrl, None
    why = _scenario_mismatch(trained, sc, path)
    if why is not None:
        return KFallback(ctrl, ExactController(), reason=why), why
    if not _fits(ctrl, sc.num_users, sc.steps_min, sc.steps_max):
        rng = f" (T {ctrl.steps_min}..{ctrl.steps_max})" if hasattr(ctrl, "steps_min") else ""
        why = (f"{ctrl.name} was trained for K = {ctrl.K}{rng}; scenario '{sc.name}' has K = {sc.num_users} "
               f"(T {sc.steps_min}..{sc.steps_max})")
        return KFallback(ctrl, ExactController(), reason=why), why
    return ctrl, None  # fits (a slot of another K raises validate.SlotSizeError; the server labels its fallback)


def make_controller(name: str, scenario: Scenario | str = "paper", *, checkpoint: str | Path | None = None,
                    seed: int = 0) -> Controller:
    """``resolve_controller`` without the reason."""
    return resolve_controller(name, scenario, checkpoint=checkpoint, seed=seed)[0]
