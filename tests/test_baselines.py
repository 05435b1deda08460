"""SB3 SAC/PPO on the same env and action map: training runs, deterministic save/load, bad input."""

import numpy as np
import pytest

from _slots import SyntheticSampler, one_torch_thread
from mobigen.control.env import DenoisingEnv
from mobigen.control.evaluation import heldout_slots
from mobigen.control.sb3 import SB3Controller, train_sb3
from mobigen.control.validate import SlotSizeError
from mobigen.scenario import preset



@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield

@pytest.mark.parametrize("algo", ["sac", "ppo"])
def test_sb3_trains_saves_and_loads(algo, tmp_path):
    sc = preset("users-2")
    env = DenoisingEnv(sc, SyntheticSampler(sc))
    seen = []
    small = {"policy_kwargs": {"net_arch": [32, 32]}, "batch_size": 32}
    small.update({"learning_starts": 100} if algo == "sac" else {"n_steps": 64, "n_epochs": 2})
    steps = 200 if algo == "sac" else 128
    ctrl = train_sb3(algo, env, steps, seed=0, eval_every=100, on_eval=lambda t, c: seen.append(t), progress=False,
                     **small)
    assert seen[0] == 0 and seen[-1] >= steps
    slots = heldout_slots(SyntheticSampler(sc), 5)
    path = ctrl.save(tmp_path / f"{algo}.zip")
    loaded = SB3Controller.load(path, algo)
    for s in slots:
        d1, d2 = ctrl.decide(s), loaded.decide(s)
        np.testing.assert_array_equal(d1.T, d2.T)
        np.testing.assert_array_equal(d1.o, d2.o)
        assert np.all((d1.o > 0) & (d1.o <= 1))
    with pytest.raises(SlotSizeError):
        loaded.decide(SyntheticSampler("users-3").sample(np.random.default_rng(0)))


def test_unknown_algo():
    with pytest.raises(ValueError, match="unknown"):
        SB3Controller.load(__file__, "dqn")
