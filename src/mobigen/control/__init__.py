"""mobigen.control: Distributed Denoising Control (Section V-B) and its yardsticks.

* ``base.Controller``: ``decide(slot) -> Decision`` (the lead's protocol).
* ``env.DenoisingEnv`` (Gymnasium id ``env.ENV_ID`` = ``mobigen/DistributedDenoising-v0``, registered
  by ``import mobigen.workload`` with the callable ``workload.make_env``, which supplies the sampler).
* ``action_map.action_to_decision``: the hybrid action of eq. (25), shared by DDC/SAC/PPO.
* ``exact.ExactController``: the per-slot optimum (DP over users and edge steps).
* ``guard.guard`` / ``guard.Guarded``: repair to (11)-(13) with the least quality lost.
* ``ddc_set``: the set-structured DDC (controller ``ddc``): one policy for any K and any scenario
  numbers, trained by Algorithm 3 on a mixture of K and scenarios.
* ``ddc``: the paper-architecture (flat MLP, one K) DDC of Algorithm 3 (controller ``ddc-flat``);
  ``sb3``: SAC and PPO baselines.
* ``registry.resolve_controller(name, scenario, checkpoint=None, seed=0) -> (controller, fallback
  reason | None)`` (``make_controller`` without the reason).
* ``training.train``, ``ddc_set.run.train_set``, ``benchmark.bench_controllers``, ``fig13.plot_fig13``.

This package never imports ``mobigen.conditions`` or ``mobigen.workload``: slot samplers are injected.
"""
