"""The set-structured DDC (controller ``ddc``): one diffusion policy for any number of users and any
scenario numbers, trained by Algorithm 3 on a mixture of K and scenarios (issue 10).

* ``tokens``: one token per user (per-user observation + slot-wide numbers), fixed physical scales.
* ``networks``: shared encoder with interaction across users (self-attention or mean pooling), the
  per-user denoiser, permutation-invariant twin critics with per-user action features.
* ``policy``: per-user diffusion over (m, w, u) (eq. 21) and the hybrid heads of eq. (25), reusing
  the flat DDC's schedule, heads and Gumbel-softmax step (``control.ddc.policy``).
* ``agent``: ``SetDDCAgent`` (the flat agent's update of eqs. 27-30) and the replay bucketed by K.
* ``mixture``: the training slots (K 2..16, scenario families, C_E drawn per slot).
* ``trainer``: the training loop; ``run``: one logged run (CSV, TensorBoard, checkpoint).
* ``controller``: ``SetDDCController`` (inference, save/load).

Departures from Algorithm 3 beyond the flat DDC's (``control.ddc``): the critics predict the reward
per user and the entropy term is the mean of the users' entropies (one scale for every K); the
critics also read per-user action features computed from the token (``networks.action_features``);
critic-only updates for ``actor_delay`` steps; ε-uniform exploration per user; linearly decaying
learning rates; the saved actor is the best on validation slots (``run``).
"""
