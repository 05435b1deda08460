"""OQC+ gives today the decisions it gave before it was made fast (``tests/data/oqc_decisions.npz``, written by
``tests/data/make_oqc_decisions.py`` from the unmodified SCA on seeded slots of the real workload)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mobigen.experiments.baselines.oqc import OQCController, _solve_penalised, build_lp
from mobigen.system import Slot, SystemParams

FIXTURE = Path(__file__).parent / "data" / "oqc_decisions.npz"
FIELDS = ("condition", "alpha", "beta", "condition_bytes", "omega_I", "qoe_threshold", "f_device", "device_budget",
          "uplink_bps", "downlink_bps", "extraction_s", "q_I", "q_T")


def _cases():
    z = np.load(FIXTURE)
    out = []
    for entry in json.loads(str(z["index"])):
        params = dict(entry["params"], delta=tuple(entry["params"]["delta"]))
        key = entry["key"]
        slot = Slot(params=SystemParams(**params), **{f: z[f"{key}/{f}"] for f in FIELDS})
        out.append((key, slot, z[f"{key}/T"], z[f"{key}/local_only"], z[f"{key}/sca_x"]))
    return out


CASES = _cases()


def test_fixture_covers_edge_local_and_repaired_slots():
    local = np.concatenate([c[3] for c in CASES])
    assert len(CASES) == 36 and 0 < local.sum() < local.size  # both branches of the binary offloading


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_oqc_decisions_equal_the_reference(case):
    _, slot, T_ref, local_ref, x_ref = case
    c = OQCController()
    d = c.decide(slot)
    np.testing.assert_array_equal(d.T, T_ref)
    np.testing.assert_array_equal(c.last_local_only, local_ref)
    np.testing.assert_allclose(c.last_sca.x, x_ref, atol=1e-9)
    assert np.all(d.edge_steps[local_ref] == 0) and np.all(d.edge_steps[~local_ref] == d.T[~local_ref])


def _full_sca(slot, c: OQCController) -> np.ndarray:
    """The SCA without the stall shortcut: every iteration until binary or max_iter (the old loop)."""
    lp = build_lp(slot)
    x, rho = lp.x_start, c.rho0
    for _ in range(c.max_iter):
        sol = _solve_penalised(lp, x, rho)
        x_new = sol[0::6]
        done = np.max(np.abs(x_new - np.round(x_new))) < c.tol and np.max(np.abs(x_new - x)) < c.tol
        x = x_new
        if done:
            break
        rho *= c.rho_growth
    return sol


@pytest.mark.parametrize("key", [c[0] for c in CASES])
def test_early_stop_gives_the_solution_of_the_full_sca(key):
    _, slot, T_ref, _, _ = next(c for c in CASES if c[0] == key)
    c = OQCController()
    sca = c.solve_relaxed(slot)
    full = _full_sca(slot, c)
    np.testing.assert_array_equal(sca.x, full[0::6])
    np.testing.assert_array_equal(sca.T, full[1::6] + full[2::6])
    assert sca.binary != sca.stalled
    if key == "paper/2":  # sticks at x = 1/2 for three users: the old loop ran all 25 iterations there
        assert sca.stalled and sca.iterations < c.max_iter
