"""The shipped checkpoints on the real slot sampler (mobigen.workload + the shipped profile).

Shipped data is part of the package: a missing file fails here, it is never skipped.
"""

import numpy as np
import pytest

from _slots import one_torch_thread
from mobigen.control.evaluation import heldout_slots, mean_reward
from mobigen.control.exact import ExactController
from mobigen.control.registry import SHIPPED, resolve_controller
from mobigen.system.profile import default_profile_path


def test_shipped_data_is_in_the_package():
    assert default_profile_path().is_file(), default_profile_path()
    for name, path in SHIPPED.items():
        assert path.is_file(), f"{name}: {path}"


@pytest.fixture(scope="module")
def slots():
    from mobigen.workload import SlotSampler

    return {sc: heldout_slots(SlotSampler(sc), 60) for sc in ("paper", "users-9", "low-end-7")}


# floors well below the benchmark figures in data/ddc_set.md (300 held-out slots) and data/fig13/README.md
@pytest.mark.parametrize("name,scenario,floor", [("ddc", "paper", 0.97), ("ddc", "users-9", 0.95),
                                                 ("ddc", "low-end-7", 0.95), ("ddc-flat", "paper", 0.97),
                                                 ("sac", "paper", 0.95), ("ppo", "paper", 0.90)])
def test_shipped_checkpoint_is_near_exact(name, scenario, floor, slots):
    with one_torch_thread():
        ctrl, why = resolve_controller(name, scenario)
        assert why is None  # runs as itself
        ratio = mean_reward(ctrl, slots[scenario]) / mean_reward(ExactController(), slots[scenario])
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
