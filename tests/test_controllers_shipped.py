"""The shipped `paper` checkpoints on the real slot sampler (mobigen.workload + the shipped profile).

Shipped data is part of the package: a missing file fails here, it is never skipped.
"""

import numpy as np
import pytest

from _slots import one_torch_thread
from mobigen.control.evaluation import heldout_slots, mean_reward
from mobigen.control.exact import ExactController
from mobigen.control.registry import SHIPPED, SHIPPED_DDC_DIR, make_controller
from mobigen.scenario import preset
from mobigen.system.profile import default_profile_path


def test_shipped_data_is_in_the_package():
    assert default_profile_path().is_file(), default_profile_path()
    for name, path in SHIPPED.items():
        assert path.is_file(), f"{name}: {path}"
    # the per-preset DDC checkpoints of Figs. 14 and 15(b) (data/ddc/README.md), each for an existing preset
    for name in [f"users-{k}" for k in range(6, 12)] + [f"low-end-{k}" for k in range(5, 12)]:
        assert preset(name).num_users == int(name.rsplit("-", 1)[1])
        assert (SHIPPED_DDC_DIR / f"{name}.pt").is_file(), name


@pytest.fixture(scope="module")
def slots():
    from mobigen.workload import SlotSampler

    return heldout_slots(SlotSampler("paper"), 100)


@pytest.mark.parametrize("name,floor", [("ddc", 0.97), ("sac", 0.95), ("ppo", 0.90)])
def test_shipped_checkpoint_is_near_exact(name, floor, slots):
    with one_torch_thread():
        ctrl = make_controller(name, "paper")
        ratio = mean_reward(ctrl, slots) / mean_reward(ExactController(), slots)
    # measured on 1000 held-out slots: ddc 0.991, sac 0.984, ppo 0.947 (surrogate quality)
    assert ratio >= floor


def test_registered_env_makes_through_workload():
    import gymnasium as gym

    import mobigen.workload  # noqa: F401 - registers ENV_ID
    from mobigen.control.env import ENV_ID

    env = gym.make(ENV_ID, scenario="paper", seed=0)
    obs, _ = env.reset(seed=1)
    obs2, r, term, trunc, info = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
    assert np.isfinite(r) and info["quality_backend"] == "surrogate"
    env.close()
