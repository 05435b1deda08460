"""DenoisingEnv: Gymnasium API conformance, determinism, reward = eq. (26), truncation, vectorisation."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from _slots import SyntheticSampler
from mobigen.control.action_map import action_to_decision, decision_to_action
from mobigen.control.env import ENV_ID, DenoisingEnv
from mobigen.control.observation import obs_dim, observe
from mobigen.scenario import preset
from mobigen.system.slot import evaluate_decision


def make(name="paper"):
    sc = preset(name)
    return DenoisingEnv(sc, SyntheticSampler(sc))


def test_check_env_passes():
    check_env(make(), skip_render_check=True)


def test_spaces():
    env = make("users-3")
    assert env.observation_space.shape == (obs_dim(3),)
    assert env.action_space.shape == (6,)


def test_registration_lives_in_workload_with_a_callable_entry_point():
    import mobigen.workload as workload

    assert gym.registry[ENV_ID].entry_point is workload.make_env  # no "module:function" string
    env = gym.make(ENV_ID, scenario="users-3", sampler=SyntheticSampler("users-3"), seed=0)
    obs, _ = env.reset(seed=1)
    assert obs.shape == (obs_dim(3),)
    env.close()


def test_control_env_registers_nothing_and_imports_nothing_above_it():
    import subprocess
    import sys

    code = ("import sys, gymnasium as gym, mobigen.control.env as e; "
            "assert e.ENV_ID not in gym.registry, 'registered'; "
            "assert not [m for m in sys.modules if m.startswith(('mobigen.workload', 'mobigen.conditions'))], 'upward'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_reward_is_eq26_and_truncation():
    env = make()
    obs, info = env.reset(seed=3)
    steps = 0
    while True:
        slot = env.slot
        a = env.action_space.sample()
        expected = evaluate_decision(slot, action_to_decision(a, slot)).reward
        obs, r, term, trunc, info = env.step(a)
        assert r == pytest.approx(expected)
        assert not term and "mean_Q" in info and "hard_feasible" in info
        steps += 1
        if trunc:
            break
    assert steps == env.scenario.slots_per_episode


def test_same_seed_same_stream():
    a, b = make(), make()
    oa, _ = a.reset(seed=11)
    ob, _ = b.reset(seed=11)
    np.testing.assert_array_equal(oa, ob)
    act = np.zeros(10, dtype=np.float32)
    np.testing.assert_array_equal(a.step(act)[0], b.step(act)[0])
    oc, _ = make().reset(seed=12)
    assert not np.array_equal(oa, oc)


def test_sync_vector_env():
    venv = gym.vector.SyncVectorEnv([make for _ in range(3)])
    obs, _ = venv.reset(seed=[1, 2, 3])
    assert obs.shape == (3, obs_dim(5))
    obs, r, term, trunc, _ = venv.step(venv.action_space.sample())
    assert r.shape == (3,) and np.all(np.isfinite(r))
    venv.close()


def test_action_map_roundtrip_and_range():
    sampler = SyntheticSampler("paper")
    slot = sampler.sample(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    for _ in range(50):
        d = action_to_decision(rng.uniform(-1, 1, 10), slot)
        assert np.all((d.o > 0) & (d.o <= 1))
        assert np.all((d.T >= 5) & (d.T <= 30))
        d2 = action_to_decision(decision_to_action(d, slot), slot)
        np.testing.assert_array_equal(d.T, d2.T)
        np.testing.assert_array_equal(d.edge_steps, d2.edge_steps)
    corner = action_to_decision(np.ones(10), slot)
    assert np.all(corner.T == 30) and np.all(corner.full_offload) and np.all(corner.o == 1.0)
    low = action_to_decision(-np.ones(10), slot)
    assert np.all(low.T == 5) and np.all(low.e == 0)  # all local


def test_bad_action_and_bad_sampler():
    env = make()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="2K"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.full(10, np.nan))
    bad = DenoisingEnv(preset("paper"), SyntheticSampler("users-3"))
    with pytest.raises(ValueError, match="num_users"):
        bad.reset(seed=0)


def test_observation_is_bounded_float32():
    slot = SyntheticSampler("users-11").sample(np.random.default_rng(5))
    o = observe(slot)
    assert o.dtype == np.float32 and o.shape == (obs_dim(11),) and np.all(np.abs(o) <= 10)
