"""The console's simulated device: one browser "Try it" request run by the same code as ``mobigen client``.

The edge runs a ``MobileClient`` on behalf of the browser (it is a *simulation*: the phone's work
happens on the edge machine) against its own HTTP API over loopback, so the request goes through
the real ``/v1/generate`` path: VCE (Alg. 1-2) → extraction → compression → upload at B↑ → the
slot's decision → the edge's ⌊o_k T_k⌋ steps → downlink at B↓ → the local steps with the device's
own copy of the components → completion confirmation.
"""

from __future__ import annotations

import base64
import io
import logging
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobigen.scenario import Scenario

logger = logging.getLogger(__name__)

CODEC_MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
"""Media type of each condition codec (the page shows the compressed bytes as they are)."""

NOISE_NOTE = ("tiny components with random weights: the final image is noise by design "
              "(the pipeline and the timings are real; the picture is not)")
"""What the page says next to an image made by the tiny components."""


@dataclass(frozen=True)
class TryRequest:
    """One browser request for the simulated device."""

    image_rgb: Any
    """The source image, 512x512x3 uint8 (already validated and resized)."""
    prompt: str
    """Text prompt."""
    omega_I: float
    """ω^I in [0, 1]."""
    qoe_threshold: float
    """Q̃ in [0, 1]."""
    device_type: int
    """Index into the scenario's device types."""
    seed: int
    """Seed of z_T and of the bandwidth draw."""
    uplink_mbps: float | None = None
    """B↑ (Mbps); None = drawn from the scenario with ``seed``."""
    downlink_mbps: float | None = None
    """B↓ (Mbps); None = drawn from the scenario with ``seed``."""


def _data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return im.size


class SimulatedDevice:
    """Runs try-it requests one at a time with a cached VCE and the device's own components."""

    def __init__(self, scenario: Scenario, generation_spec: Any | None) -> None:
        self.scenario = scenario
        self.spec = generation_spec
        """``GenerationSpec`` of the components (the same as the edge's), or None for a control-plane edge."""
        self._vce = None
        self._runner = None
        self._lock = threading.Lock()

    def _parts(self) -> tuple[Any, Any]:
        from mobigen.conditions.vce import load_default_vce
        from mobigen.serving.splitrun import SplitRunner

        if self._vce is None:
            self._vce = load_default_vce(self.scenario)
        if self._runner is None and self.spec is not None:
            self._runner = SplitRunner(self.spec)  # the device's OWN copy, built from the same seed/weights
        return self._vce, self._runner

    def run(self, url: str, req: TryRequest) -> dict:
        """Run one request against the edge at ``url``; the JSON-ready result. Raises ``ServerError``
        (the edge refused), ``httpx.TransportError`` (unreachable) or ``ValueError`` (bad field)."""
        from mobigen.serving.client import MobileClient

        with self._lock:  # one simulated device at a time: they share one copy of the components
            vce, runner = self._parts()
            with MobileClient(url, scenario=self.scenario, device_type=req.device_type, uplink_mbps=req.uplink_mbps,
                              downlink_mbps=req.downlink_mbps, seed=req.seed, vce=vce, runner=runner) as client, \
                    tempfile.TemporaryDirectory(prefix="mobigen-try-") as tmp:
                prepared = client.prepare(req.image_rgb, omega_I=req.omega_I, qoe_threshold=req.qoe_threshold)
                out = Path(tmp) / "final.png"
                result = client.run(prepared, prompt=req.prompt, omega_I=req.omega_I, qoe_threshold=req.qoe_threshold,
                                    seed=req.seed, out_path=str(out))
                final = out.read_bytes() if result.image_path else None
                device = client.device
        return self._report(req, prepared, result, final, device)

    @staticmethod
    def _report(req: TryRequest, prepared: Any, result: Any, final: bytes | None, device: Any) -> dict:
        w, h = _image_size(prepared.data)
        server = result.server
        tiny = str(result.components).startswith("tiny")
        return {
            "simulated": True,
            "request_id": result.request_id,
            "device": {"device_type": device.device_type, "f_flops": device.f_flops, "budget_flops": device.budget_flops,
                       "uplink_mbps": result.uplink_mbps, "downlink_mbps": result.downlink_mbps},
            "vce": {"condition": prepared.condition, "alpha": prepared.alpha, "beta": prepared.beta,
                    "codec": prepared.codec, "expected_q": prepared.vce_expected_q, "quality_backend": prepared.vce_backend},
            "condition": {"bytes": len(prepared.data), "width": w, "height": h,
                          "data_url": _data_url(prepared.data, CODEC_MIME.get(prepared.codec, "application/octet-stream"))},
            "decision": result.decision,
            "bytes": {"uplink": result.uplink_bytes, "condition": result.condition_bytes,
                      "downlink": result.downlink_bytes, "payload": result.payload_bytes,
                      "payload_kind": result.payload_kind},
            "measured": {"extraction": prepared.extraction_s, "encode": prepared.encode_s, "vce": prepared.vce_s,
                         "uplink": result.uplink_s, "server_wait": result.server_wait_s,
                         "downlink": result.downlink_s, "local": result.local_s,
                         "L1": result.L1_s, "L2": result.L2_s, "L": result.latency_s},
            "server_timings": server.get("timings", {}),
            "predicted": server.get("model", {}),
            "completion": result.completion,
            "components": result.components,
            "image": {"data_url": _data_url(final, "image/png"), "note": NOISE_NOTE if tiny else ""} if final else None,
            "prompt": req.prompt, "omega_I": req.omega_I, "qoe_threshold": req.qoe_threshold, "seed": req.seed,
        }


__all__ = ["CODEC_MIME", "NOISE_NOTE", "SimulatedDevice", "TryRequest"]
