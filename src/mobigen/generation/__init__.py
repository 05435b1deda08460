"""mobigen.generation: Stable Diffusion + ControlNet split denoising (Sec. IV-C, eqs. 3-7).

Modules (import them directly; this package imports nothing heavy on its own):
- ``components``: load local SD/ControlNet weights (SD1.5, 2.1, XL, 3.5; one loader per family, local files
  only, Hugging Face cache entries found by huggingface_hub), or build tiny random stand-ins.
- ``denoise``: prompt encoding, z_T, ``denoise`` over a slice [start, end) of a T-step schedule, VAE decode.
- ``wire``: the versioned downlink message (fp32 / fp16 / q8zstd latent, or png / jpeg / webp image).
- ``split``: ``edge_run`` and ``device_run``, the two halves of one distributed generation.
- ``batched``: ``BatchedDenoiser``, one denoiser forward per step for several users' slices (continuous
  batching on the edge, issue 14).
- ``benchmark`` / ``edge_benchmark``: ``mobigen bench split`` and ``mobigen bench edge``.
"""
