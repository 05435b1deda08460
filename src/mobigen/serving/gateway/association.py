"""The gateway's slot window and association: uploads in, each upload's edge index out.

Links (documented rule): an upload may carry ``links`` in its meta JSON, the device's own estimate of
(B↑, B↓) in Mbps to each edge site, in the order of the gateway's edge URLs. Without it, the link to
edge m is the declared (uplink_mbps, downlink_mbps) times the site's ``EdgeSpec.uplink_scale`` /
``downlink_scale`` (the channel model of ``system.multiedge`` without its random draw). The upload is
forwarded with the link to its associated edge as its declared bandwidth.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mobigen.control.multiedge.fast import FastController
from mobigen.scenario import Scenario, resolve
from mobigen.serving.schemas import LINK_MBPS, GenerateMeta
from mobigen.serving.shaping import bits_per_second
from mobigen.serving.slotting import SlotRequest, build_slot
from mobigen.system.multiedge import MultiEdgeSlot, edge_params, edge_specs, with_edges

log = logging.getLogger(__name__)


class Link(BaseModel):
    """The device's estimate of its link to one edge site."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    uplink_mbps: float = Field(ge=LINK_MBPS[0], le=LINK_MBPS[1], description="B↑ to this edge (Mbps).")
    downlink_mbps: float = Field(ge=LINK_MBPS[0], le=LINK_MBPS[1], description="B↓ from this edge (Mbps).")


@dataclass(frozen=True)
class GatewaySettings:
    """How the gateway runs."""

    edge_urls: tuple[str, ...]
    """Base URL of each edge site's server (``http://host:port``), in edge order."""
    scenario: str | Scenario = "paper"
    """Scenario (preset, file or object); its ``edges`` give each site's f_E^m, C_E^m and link scales
    (None: every site is the scenario's one edge)."""
    window_ms: float = 200.0
    """Slot window: the gateway associates this long after a window's first upload (ms)."""
    max_users: int = 64
    """A window closes as soon as this many uploads are in."""
    timeout_s: float = 600.0
    """Timeout of one forwarded upload, reply included (s)."""

    def __post_init__(self) -> None:
        if not self.edge_urls:
            raise ValueError("gateway field 'edge_urls' must name at least one edge site")
        if any(not str(u).startswith(("http://", "https://")) for u in self.edge_urls):
            raise ValueError(f"gateway field 'edge_urls' must hold http(s) URLs, got {list(self.edge_urls)}")
        for name in ("window_ms", "timeout_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"gateway field '{name}' must be a finite number > 0, got {v!r}")
        if not (isinstance(self.max_users, int) and self.max_users >= 1):
            raise ValueError(f"gateway field 'max_users' must be an integer >= 1, got {self.max_users!r}")
        sc = resolve(self.scenario)
        M = len(self.edge_urls)
        if sc.edges is None:
            sc = with_edges(sc, M, name=sc.name)
        elif len(sc.edges) != M:
            raise ValueError(f"gateway field 'edge_urls' has {M} sites but scenario '{sc.name}' lists "
                             f"{len(sc.edges)} edges")
        object.__setattr__(self, "scenario", sc)
        object.__setattr__(self, "edge_urls", tuple(str(u).rstrip("/") for u in self.edge_urls))


def edge_site_scenario(sc: Scenario, m: int) -> Scenario:
    """The one-edge scenario an edge site's server runs: ``sc`` with site m's f_E^m and C_E^m."""
    spec = edge_specs(sc)[m]
    return sc.replace(edges=None, edge_step_time_s=spec.edge_step_time_s, edge_budget_steps=spec.edge_budget_steps,
                      name=f"{sc.name}-edge{m}")


@dataclass
class Upload:
    """One upload waiting in the window."""

    meta: GenerateMeta
    """Its validated metadata."""
    condition_bytes: int
    """D(I_k(ν_k)) as received (bytes)."""
    links: list[Link] | None
    """The device's per-edge links (None: the scaling rule)."""
    edge: "asyncio.Future[int]"
    """Resolved with the associated edge index when the window closes."""


def link_matrix(uploads: list[Upload], sc: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """(B↑, B↓) of every upload to every edge, (K, M) each (bits/s), by the module docstring's rule."""
    specs = edge_specs(sc)
    up = np.empty((len(uploads), len(specs)))
    down = np.empty_like(up)
    for k, u in enumerate(uploads):
        for m, spec in enumerate(specs):
            if u.links is not None:
                up[k, m], down[k, m] = u.links[m].uplink_mbps, u.links[m].downlink_mbps
            else:
                up[k, m] = u.meta.uplink_mbps * spec.uplink_scale
                down[k, m] = u.meta.downlink_mbps * spec.downlink_scale
    return np.vectorize(bits_per_second)(up), np.vectorize(bits_per_second)(down)


def associate(uploads: list[Upload], sc: Scenario, quality: Any, controller: FastController) -> np.ndarray:
    """The edge of every upload of one window (the fast controller on the window's multi-edge slot)."""
    params = edge_params(sc)
    base = build_slot([SlotRequest(u.meta, u.condition_bytes) for u in uploads], sc, params[0], quality)
    up, down = link_matrix(uploads, sc)
    base = dataclasses.replace(base, uplink_bps=up.max(axis=1), downlink_bps=down.max(axis=1))
    return controller.associate(MultiEdgeSlot(base=base, edges=params, uplink_bps=up, downlink_bps=down))


class Window:
    """Collects uploads for ``window_ms`` (or ``max_users``), then associates them in a worker thread."""

    def __init__(self, settings: GatewaySettings, quality: Any) -> None:
        self.settings, self.quality = settings, quality
        self.controller = FastController()
        self.pending: list[Upload] = []
        self.timer: asyncio.TimerHandle | None = None
        self.slots = 0
        """Windows associated so far."""
        self.assigned = [0] * len(settings.edge_urls)
        """Uploads sent to each edge so far."""

    async def join(self, meta: GenerateMeta, condition_bytes: int, links: list[Link] | None) -> int:
        """Wait for this upload's window to close; its edge index."""
        loop = asyncio.get_running_loop()
        up = Upload(meta, condition_bytes, links, loop.create_future())
        self.pending.append(up)
        if len(self.pending) >= self.settings.max_users:
            self._close()
        elif self.timer is None:
            self.timer = loop.call_later(self.settings.window_ms / 1000.0, self._close)
        return await up.edge

    def _close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, self.pending = self.pending, []
        if batch:
            asyncio.get_running_loop().create_task(self._associate(batch))

    async def _associate(self, batch: list[Upload]) -> None:
        try:
            edges = await asyncio.to_thread(associate, batch, self.settings.scenario, self.quality, self.controller)
        except Exception as exc:  # noqa: BLE001 - every waiting upload gets the error, the gateway goes on
            log.exception("gateway: association of a window of %d uploads failed", len(batch))
            for u in batch:
                if not u.edge.done():
                    u.edge.set_exception(exc)
            return
        self.slots += 1
        for u, m in zip(batch, edges):
            self.assigned[int(m)] += 1
            if not u.edge.done():
                u.edge.set_result(int(m))
