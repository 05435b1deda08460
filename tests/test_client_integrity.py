"""The handoff is bound to its request (issue 12, point 4): a device given a latent computed for a
different prompt, condition, seed or step split refuses it with a clear error instead of continuing."""

from __future__ import annotations

import pytest

from _serving_support import jpeg_condition
from mobigen.generation.wire import WireFormatError, decode_payload
from mobigen.serving.splitrun import GenerationSpec, SplitRunner

T, EDGE, SEED = 2, 1, 5


@pytest.fixture(scope="module")
def sides():
    """An edge and a device holding identical tiny weights, and one edge message for request A."""
    from mobigen.conditions import codec

    edge, device = (SplitRunner(GenerationSpec("tiny", 0, 64, "fp16")) for _ in range(2))
    cond = jpeg_condition(1, side=128)
    _, data = edge.run_edge(prompt="a red car", condition_rgb=codec.decode(cond), condition_type="canny", seed=SEED,
                            total_steps=T, edge_steps=EDGE, condition_bytes=cond)
    return edge, device, cond, data


def _device_finish(device, data, cond, *, prompt="a red car", seed=SEED, total=T, edge=EDGE):  # noqa: ANN001, ANN202
    from mobigen.conditions import codec

    expected = device.request_digest(prompt=prompt, condition_bytes=cond, seed=seed, total_steps=total,
                                     edge_steps=edge)
    return device.finish(decode_payload(data), prompt=prompt, condition_rgb=codec.decode(cond),
                         expected_digest=expected)


def test_the_edge_header_carries_the_request_digest_and_the_same_request_finishes(sides):
    edge, device, cond, data = sides
    p = decode_payload(data)
    assert p.request_digest == edge.request_digest(prompt="a red car", condition_bytes=cond, seed=SEED,
                                                   total_steps=T, edge_steps=EDGE)
    img = _device_finish(device, data, cond)
    assert img.shape == (64, 64, 3)


@pytest.mark.parametrize("change", ["prompt", "condition", "seed", "steps"])
def test_a_device_given_another_request_refuses(sides, change):
    _, device, cond, data = sides
    kw = {}
    if change == "prompt":
        kw["prompt"] = "a blue car"
    elif change == "condition":
        cond = jpeg_condition(2, side=128)  # another image's condition
    elif change == "seed":
        kw["seed"] = SEED + 1
    else:
        kw.update(total=T + 1, edge=EDGE)
    with pytest.raises(WireFormatError, match="request_digest mismatch"):
        _device_finish(device, data, cond, **kw)


def test_a_message_without_a_digest_is_refused_when_one_is_expected(sides):
    from mobigen.conditions import codec

    edge, device, cond, _ = sides
    _, bare = edge.run_edge(prompt="a red car", condition_rgb=codec.decode(cond), condition_type="canny", seed=SEED,
                            total_steps=T, edge_steps=EDGE)
    assert decode_payload(bare).request_digest is None
    with pytest.raises(WireFormatError, match="no request_digest"):
        _device_finish(device, bare, cond)
