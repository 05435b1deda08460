"""``make_multiedge_controller(name, scenario)``: the multi-edge controllers by name.

Names: ``oracle`` (MILP), ``fast``, ``best-channel``, ``least-loaded``, ``random`` (each association
followed by the exact per-edge DP) and ``fast+ddc`` (the fast controller's association, then the
set-structured DDC per edge, ``control.registry.resolve_controller("ddc")``: any K). Where no set-DDC
checkpoint is installed, ``fast+ddc`` runs the exact DP per edge and says so in ``fallback_reason``
(never scored as DDC).
"""

from __future__ import annotations

import logging

from mobigen.control import registry as one_edge
from mobigen.control.base import Controller
from mobigen.control.exact import ExactController
from mobigen.control.multiedge.base import AssociateThenDecide, MultiEdgeController
from mobigen.control.multiedge.baselines import RandomAssociation, best_channel, least_loaded
from mobigen.control.multiedge.fast import FastController
from mobigen.control.multiedge.oracle import OracleController
from mobigen.scenario import Scenario, resolve

log = logging.getLogger(__name__)

MULTIEDGE_NAMES = ("oracle", "fast", "best-channel", "least-loaded", "random", "fast+ddc")
"""Controller names ``make_multiedge_controller`` knows."""
_warned: list[bool] = []
"""Whether the missing set-DDC checkpoint was logged already (once per process)."""


def per_edge_ddc(scenario: Scenario) -> tuple[Controller, str | None]:
    """(the DDC run on each edge's users, why it falls back to the exact DP — None when it runs as itself)."""
    try:
        return one_edge.resolve_controller("ddc", scenario.replace(edges=None))
    except FileNotFoundError as exc:
        if not _warned:
            log.warning("fast+ddc: %s: the exact DP decides per edge instead", exc)
            _warned.append(True)
        return ExactController(), ("no set-DDC checkpoint is installed (package data/ddc_set.pt; train one with "
                                   "`mobigen train ddc`)")


def make_multiedge_controller(name: str, scenario: Scenario | str = "paper", *, seed: int = 0) -> MultiEdgeController:
    """The multi-edge controller called ``name`` (one of ``MULTIEDGE_NAMES``)."""
    sc = resolve(scenario)
    if name == "oracle":
        return OracleController()
    if name == "fast":
        return FastController()
    if name == "best-channel":
        return AssociateThenDecide(name, best_channel)
    if name == "least-loaded":
        return AssociateThenDecide(name, least_loaded)
    if name == "random":
        return AssociateThenDecide(name, RandomAssociation(seed))
    if name == "fast+ddc":
        ctrl, why = per_edge_ddc(sc)
        out = AssociateThenDecide(name, FastController().associate, ctrl)
        out.fallback_reason = why
        return out
    raise ValueError(f"multi-edge controller: unknown name '{name}' (known: {', '.join(MULTIEDGE_NAMES)})")
