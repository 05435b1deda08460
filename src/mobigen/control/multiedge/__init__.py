"""Controllers for the M-edge model (issue 11): user-edge association plus (T_k, e_k) per user.

Every controller here has ``decide(mslot: MultiEdgeSlot) -> MultiDecision``:

* ``oracle.OracleController``: the exact joint optimum, a MILP over (user, edge, e) options (scipy HiGHS);
* ``fast.FastController``: Lagrangian relaxation of the per-edge budgets, local search over moves and
  swaps, then the exact per-edge DP of ``control.exact``;
* ``baselines``: best channel, least loaded, random association, each followed by the exact per-edge DP,
  and any one-edge controller (e.g. the set DDC) run per edge after an association;
* ``registry.make_multiedge_controller(name, ...)`` builds them by name.
"""

from mobigen.control.multiedge.base import AssociateThenDecide, MultiEdgeController, decide_per_edge
from mobigen.control.multiedge.registry import MULTIEDGE_NAMES, make_multiedge_controller

__all__ = ["AssociateThenDecide", "MULTIEDGE_NAMES", "MultiEdgeController", "decide_per_edge",
           "make_multiedge_controller"]
