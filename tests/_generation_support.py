"""Shared helpers of the split-denoising tests (test_generation*.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

# Stated fp16-handoff tolerance: the final latents stay within FP16_AMPLIFICATION x the rounding bound
# max|z_k| * 2**-11 of the handed-over latent, and decoded 8-bit images within FP16_PIXEL_ATOL grey levels.
FP16_AMPLIFICATION = 8.0
FP16_PIXEL_ATOL = 3


def condition_pattern(side: int, seed: int = 0) -> np.ndarray:
    """A structured test condition: an edge-like pattern plus seeded noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    img = (((xx // 8 + yy // 8) % 2) * 200).astype(np.uint8)
    img = np.stack([img, img, img], axis=2)
    img[rng.random((side, side)) < 0.05] = 255
    return img


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny networks run fastest single-threaded on a shared 2-core machine (no thread contention)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def no_network(monkeypatch):
    """Record and refuse every attempt to resolve a host name or open a socket connection, with the
    Hugging Face offline switches off (environment unset, huggingface_hub's import-time flag false),
    so that only the loader's own local-only lookups can keep a test off the network."""
    import socket

    from diffusers.utils import hub_utils as diffusers_hub
    from huggingface_hub import constants as hf_constants

    attempts: list[tuple] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted during a test that must stay offline")

    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "DIFFUSERS_OFFLINE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(diffusers_hub, "HF_HUB_OFFLINE", False)  # diffusers keeps an import-time copy
    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts
    assert not attempts, f"network access attempted: {attempts}"
