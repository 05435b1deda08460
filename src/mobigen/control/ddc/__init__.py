"""DDC: Soft Actor-Critic whose actor is a small diffusion model over the action (Algorithm 3).

``networks`` holds the nn.Modules, ``policy`` the diffusion sampling (eq. 21) and the hybrid
action heads (eq. 25), ``algorithm`` the SAC update (eqs. 27-30) and replay buffer, ``controller``
the inference-time ``DDCController`` with save/load, ``trainer`` the training loop.
"""
