"""mobigen.control: Distributed Denoising Control (Section V-B) and its yardsticks.

* ``base.Controller``: ``decide(slot) -> Decision`` (the lead's protocol).
* ``env.DenoisingEnv`` (Gymnasium id ``env.ENV_ID`` = ``mobigen/DistributedDenoising-v0``, registered
  by ``import mobigen.workload`` with the callable ``workload.make_env``, which supplies the sampler).
* ``action_map.action_to_decision``: the hybrid action of eq. (25), shared by DDC/SAC/PPO.
* ``exact.ExactController``: the per-slot optimum (DP over users and edge steps).
* ``guard.guard`` / ``guard.Guarded``: repair to (11)-(13) with the least quality lost.
* ``ddc``: the diffusion-policy SAC of Algorithm 3; ``sb3``: SAC and PPO baselines.
* ``registry.make_controller(name, scenario, checkpoint=None, seed=0)``.
* ``training.train``, ``benchmark.bench_controllers``, ``fig13.plot_fig13``.

This package never imports ``mobigen.conditions`` or ``mobigen.workload``: slot samplers are injected.
"""
