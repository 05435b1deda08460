"""``mobigen demo --edges M``: M edge sites on loopback behind the gateway, K mobile clients.

Each site is the embedded edge server (``serving.app``) with the demo's settings and its own
scenario (``edge_site_scenario``: f_E^m, C_E^m of the scenario's ``edges``, else M copies of its one
edge); the clients talk only to the gateway, which associates every window of uploads with the fast
controller and forwards each upload to its site. The clients' links follow the gateway's scaling rule
(``gateway.association``). The summary adds each user's site and the per-site counts.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from mobigen.scenario import dump_file
from mobigen.serving.gateway.app import create_gateway_app
from mobigen.serving.gateway.association import GatewaySettings, edge_site_scenario


def run_multiedge_demo(users: int, out_dir: str | Path, *, edges: int, scenario: str = "paper",
                       controller: str | None = None, image_size: int = 512, seed: int = 0, slot_ms: float = 5000.0,
                       components: str | None = None, dataset: Path | None = None, quality_model: Any = None) -> dict:
    """Start ``edges`` sites, the gateway and ``users`` clients; write images and ``summary.json``."""
    from mobigen.serving.demo import DemoUsers, check_demo_inputs, demo_app, device_runner
    from mobigen.serving.server import ServerThread

    if not 1 <= edges <= 16:
        raise ValueError(f"--edges must lie in 1..16, got {edges}")
    components, sc, settings, requests = check_demo_inputs(users, scenario=scenario, controller=controller,
                                                           image_size=image_size, seed=seed, slot_ms=slot_ms,
                                                           components=components, dataset=dataset)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gw_settings = GatewaySettings(edge_urls=tuple(f"http://site-{m}" for m in range(edges)), scenario=sc,
                                  window_ms=slot_ms, max_users=users)  # URLs are replaced once the sites are up
    site_settings = []
    for m in range(edges):
        path = out / f"edge{m}_scenario.json"
        dump_file(edge_site_scenario(gw_settings.scenario, m), path)  # type: ignore[arg-type]
        site_settings.append(settings.model_copy(update={"scenario": str(path), "max_users": users}))
    rng = np.random.default_rng(seed + 1)
    lo, hi = sc.qoe_threshold_range
    draws = [(float(rng.uniform(0, 1)), float(rng.uniform(lo, hi))) for _ in range(users)]
    with contextlib.ExitStack() as stack:
        sites = [stack.enter_context(ServerThread(demo_app(s, quality_model, None))) for s in site_settings]
        gw_settings = GatewaySettings(edge_urls=tuple(s.url for s in sites), scenario=gw_settings.scenario,
                                      window_ms=slot_ms, max_users=users)
        gateway = create_gateway_app(gw_settings, quality_model=quality_model)
        demo = DemoUsers(sc, seed, out, users, device_runner(components, seed, image_size, settings))
        wall = demo.run(gateway, requests, draws)
        svc = sites[0].app.state.service
        summary = _summary(demo, gateway, svc, sc, image_size, users, wall, edges)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def _summary(demo: Any, gateway: Any, svc: Any, sc: Any, image_size: int, users: int, wall: float,
             edges: int) -> dict:
    owner = gateway.state.owner
    rows = [r for r in demo.rows if r is not None]
    for r in rows:
        r["edge_site"] = owner.get(str(r["server"].get("request_id")))
    return {
        "components": demo.runner.spec.label,
        "components_kind": "tiny random weights (NOT Stable Diffusion: images are noise-like)"
        if demo.runner.spec.label.startswith("tiny") else "local weights",
        "controller": f"gateway: fast association over {edges} sites; each site: {svc.controller_name}",
        "quality_backend": str(getattr(svc.quality, "backend", "unknown")),
        "scenario": sc.name,
        "image_size": image_size,
        "users": users,
        "edges": edges,
        "per_site": [sum(1 for r in rows if r["edge_site"] == m) for m in range(edges)],
        "wall_s": wall,
        "errors": demo.errors,
        "rows": rows,
    }


def format_sites(summary: dict) -> str:
    """The per-site lines printed under the demo's table."""
    lines = [f"edge sites: {summary['edges']}; users per site: {summary['per_site']}"]
    for r in summary["rows"]:
        lines.append(f"  user {r['user']} -> site {r['edge_site']} (slot #{r['slot_id']} of {r['slot_size']} users there)")
    return "\n".join(lines)
