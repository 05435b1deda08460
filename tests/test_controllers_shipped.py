"""The shipped `paper` checkpoints on the real slot sampler (mobigen.workload + data/profile.csv)."""

import numpy as np
import pytest

from _slots import one_torch_thread
from mobigen.control.evaluation import heldout_slots, mean_reward
from mobigen.control.exact import ExactController
from mobigen.control.registry import SHIPPED, make_controller
from mobigen.system.profile import default_profile_path

pytestmark = pytest.mark.skipif(not default_profile_path().is_file(), reason="no shipped profile table (data/profile.csv)")


@pytest.fixture(scope="module")
def slots():
    from mobigen.workload import SlotSampler

    return heldout_slots(SlotSampler("paper"), 100)


@pytest.mark.parametrize("name,floor", [("ddc", 0.97), ("sac", 0.95), ("ppo", 0.90)])
def test_shipped_checkpoint_is_near_exact(name, floor, slots):
    if not SHIPPED[name].is_file():
        pytest.skip(f"{SHIPPED[name]} not shipped")
    with one_torch_thread():
        ctrl = make_controller(name, "paper")
        ratio = mean_reward(ctrl, slots) / mean_reward(ExactController(), slots)
    # measured on 1000 held-out slots: ddc 0.991, sac 0.984, ppo 0.947 (surrogate quality)
    assert ratio >= floor


def test_registered_env_makes_through_workload():
    import gymnasium as gym

    from mobigen.control.env import ENV_ID

    env = gym.make(ENV_ID, scenario="paper", seed=0)
    obs, _ = env.reset(seed=1)
    obs2, r, term, trunc, info = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
    assert np.isfinite(r) and info["quality_backend"] == "surrogate"
    env.close()
