"""Pareto frontiers, eq. (18)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _vce_fixtures import synthetic_profile
from mobigen.conditions.config_table import config_table
from mobigen.conditions.pareto import build_frontiers, pareto_front
from mobigen.conditions.quality_surrogate import SurrogateQuality


def _brute(q, lat):
    n = len(q)
    return np.array([not any(q[j] > q[i] and lat[j] < lat[i] for j in range(n)) for i in range(n)])


def test_eq18_small_cases():
    # (q, L): b dominates a; c ties b on latency with lower quality -> stays (eq. 18 is strict in both)
    q = [0.5, 0.7, 0.6, 0.9]
    lat = [2.0, 1.0, 1.0, 3.0]
    assert pareto_front(q, lat).tolist() == [False, True, True, True]
    assert pareto_front([0.5, 0.5], [1.0, 1.0]).tolist() == [True, True]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=25))
def test_eq18_matches_brute_force(points):
    q = np.array([p[0] for p in points], float) / 6
    lat = np.array([p[1] for p in points], float)
    assert np.array_equal(pareto_front(q, lat), _brute(q, lat))


def test_pareto_input_errors():
    with pytest.raises(ValueError, match="same length"):
        pareto_front([1, 2], [1])
    with pytest.raises(ValueError, match="finite"):
        pareto_front([np.nan], [1])


@pytest.fixture(scope="module")
def fronts():
    tab = config_table(synthetic_profile())
    return build_frontiers(tab, SurrogateQuality(table=tab), reference_steps=20)


def test_frontiers_per_condition_and_metric(fronts):
    assert set(fronts.fronts) == {(c, m) for c in ("canny", "hed", "depth", "seg") for m in ("I", "T")}
    assert fronts.quality_backend == "surrogate" and fronts.reference_steps == 20
    for (cond, metric), f in fronts.fronts.items():
        c = fronts.table.conditions.index(cond)
        grid = (fronts.q_I if metric == "I" else fronts.q_T)[c]
        byt = fronts.table.mean_bytes[c]
        # every point off the frontier is dominated by one on it; none on it is dominated
        on = np.zeros(grid.shape, bool); on[f.alpha_idx, f.beta_idx] = True
        assert np.array_equal(on.ravel(), pareto_front(grid.ravel(), byt.ravel()))
        for a, b in zip(*np.nonzero(~on)):
            assert np.any((f.score > grid[a, b]) & (f.mean_bytes < byt[a, b])), (cond, metric, a, b)
        assert 1 <= len(f) < grid.size  # the synthetic grid is not all Pareto-optimal
        # Alg. 2 line 2 order: by α then β ascending
        keys = list(zip(f.alpha.tolist(), f.beta.tolist()))
        assert keys == sorted(keys)
        # on the frontier, a point with strictly fewer bytes never scores strictly higher
        fewer = f.mean_bytes[None, :] < f.mean_bytes[:, None]
        assert not np.any(fewer & (f.score[None, :] > f.score[:, None]))


def test_allowed_mask_restricts(fronts):
    tab = fronts.table
    allowed = np.zeros(tab.mean_bytes.shape, bool); allowed[:, -1, -1] = True
    fr = build_frontiers(tab, SurrogateQuality(table=tab), 20, allowed=allowed)
    for f in fr.fronts.values():
        assert f.alpha.tolist() == [1.0] and f.beta.tolist() == [1.0]
    with pytest.raises(ValueError, match="allowed"):
        build_frontiers(tab, SurrogateQuality(table=tab), 20, allowed=np.ones((2, 2, 2), bool))
