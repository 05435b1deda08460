"""The paper-architecture DDC (controller ``ddc-flat``): Soft Actor-Critic whose actor is a small
diffusion model over the flat action of one K (Algorithm 3). The set-structured DDC that serves any
K (controller ``ddc``) is ``control.ddc_set``; it reuses this package's schedule, heads and update.

``networks`` holds the nn.Modules, ``policy`` the diffusion sampling (eq. 21) and the hybrid
action heads (eq. 25), ``algorithm`` the SAC update (eqs. 27-30) and replay buffer, ``controller``
the inference-time ``DDCController`` with save/load, ``trainer`` the training loop.

Where this implementation departs from the paper's Algorithm 3 / eqs. (21), (27)-(30) (each is
also documented where it is implemented):

1. Denoiser: an MLP ε_φ(a_t, t, s) with a sinusoidal time embedding (``networks.Denoiser``), not
   the "parameter-shared U-Net" of Sec. V-B — the action is a flat vector of 3K numbers.
2. Action heads (``policy``): T_k comes from ordinal logits −(c_i − m_k)²/(2w_k²) over the allowed
   steps with straight-through Gumbel-softmax; o_k from tanh; the critics see the shared box
   action of ``control.action_map``, not the one-hot.
3. log π in eqs. (27), (29) (``algorithm``): only the categorical T_k part, as its exact expectation
   −Σ_k H(p_k); the entropy of the continuous o_k part (intractable through the reverse chain) is
   not estimated. ξ is fixed (no automatic tuning).
4. Eq. (27) gets a small L2 penalty on the raw x₀ (``DDCConfig.x_reg``) against tanh saturation.
5. γ = 0 by default (``DDCConfig.gamma``): slots are independent draws, so eq. (29) reduces to
   y' = r and the target critics of eq. (30) are kept up to date but do not enter the loss.
6. Exploration noise a_N ~ N(0, I) is drawn afresh for every action (Algorithm 3 line 3 draws it
   once per episode); the first ``learning_starts`` slots use uniform random actions (``trainer``).
7. Inference is deterministic: a_N = 0, the mean of every reverse step, T_k = argmax.
"""
